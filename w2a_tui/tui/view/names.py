"""Names for raw numbers (exit reasons, vectors), from the analysis tables when present.

Looked up through importlib so the TUI still shows raw numbers if the tables module is
absent or lacks a name (a number is always shown; the name is a bonus)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from w2a_tui.printable import printable

if TYPE_CHECKING:
    from w2a_tui.store import StateStore


def _tables() -> Any:
    try:
        return importlib.import_module("w2a_tui.analysis.tables")
    except ImportError:
        return None


def exit_reason_text(isa: int, reason: int) -> str:
    """`HLT (12)`, or `12` when the name is unknown; `-` when there was no exit."""
    if reason < 0:
        return "-"
    tables = _tables()
    name = None
    if tables is not None and hasattr(tables, "exit_reason_name"):
        try:
            name = tables.exit_reason_name(isa, reason)
        except (KeyError, ValueError):
            name = None
    return f"{name} ({reason})" if name and name != str(reason) else str(reason)


def vector_name(vector: int) -> str | None:
    """The Linux name of a guest vector (`LOCAL_TIMER_VECTOR`), None when unnamed."""
    tables = _tables()
    if vector < 0 or tables is None or not hasattr(tables, "vector_name"):
        return None
    try:
        name = tables.vector_name(vector)
    except (KeyError, ValueError):
        return None
    return str(name) if name else None


def vector_text(vector: int) -> str:
    """`0xec (236) LOCAL_TIMER`, or `0xec (236)` when unnamed; `-` when there is none."""
    if vector < 0:
        return "-"
    name = vector_name(vector)
    base = f"0x{vector:02x} ({vector})"
    return f"{base} {name}" if name else base


def vector_short(vector: int) -> str:
    """For narrow table cells: `0xec LOCAL_TIMER`, `0x22`."""
    name = vector_name(vector)
    base = f"0x{vector:02x}"
    if not name:
        return base
    return f"{base} {name.split(' (')[0].removesuffix('_VECTOR')}"


def vm_labels(store: StateStore) -> dict[int, str]:
    """How tables name each VM: its name, with the QEMU pid when two VMs share a name
    (QEMU without `-name`: every VM is `qemu-system-x86`)."""
    names = [vm.name for vm in store.vms]
    shown = {vm.pid: printable(vm.name) for vm in store.vms}
    return {
        vm.pid: shown[vm.pid] if names.count(vm.name) == 1 else f"{shown[vm.pid]} [{vm.pid}]"
        for vm in store.vms
    }
