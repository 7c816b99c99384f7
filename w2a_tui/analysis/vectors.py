"""The guest vector -> wait reason table, chosen on the command line (`--vectors`).

Guest vectors depend on the guest OS and kernel (docs/vcpu-states.md, Vectors): Linux moved its
LAPIC timer from 0xEF to 0xEC in 5.3, and Windows uses other vectors altogether. A preset
name or a TOML/JSON file picks the table; device vectors (disk/net) are still learned per
VM from `kvm_apic_accept_irq` whatever the table says.

File format (TOML or JSON, by extension; `.toml` else JSON): vectors as keys ("0xec" or
"236"), reasons as values (timer, task, disk, net), either at the top level or under a
`vectors` table; an optional `base` names a preset the file extends:

    base = "linux-old"
    [vectors]
    0xd1 = "timer"
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from w2a_tui.analysis.tables import DEFAULT_VECTOR_TABLE
from w2a_tui.errors import EXIT_BAD_INPUT, W2AError
from w2a_tui.model import Reason

_LINUX_TASK: Final[Mapping[int, Reason]] = {
    0xFB: Reason.TASK,  # CALL_FUNCTION_SINGLE_VECTOR
    0xFC: Reason.TASK,  # CALL_FUNCTION_VECTOR
    0xFD: Reason.TASK,  # RESCHEDULE_VECTOR
    0xF6: Reason.TASK,  # IRQ_WORK_VECTOR
}

DEFAULT_PRESET: Final = "linux"

VECTOR_PRESETS: Final[Mapping[str, Mapping[int, Reason]]] = {
    # The contract's default: both Linux timer vectors (any guest kernel).
    "linux": DEFAULT_VECTOR_TABLE,
    # Linux >= 5.3 guests: 0xEF is MANAGED_IRQ_SHUTDOWN_VECTOR there, not the timer.
    "linux-new": {0xEC: Reason.TIMER, **_LINUX_TASK},
    # Linux < 5.3 guests: LOCAL_TIMER_VECTOR 0xEF.
    "linux-old": {0xEF: Reason.TIMER, **_LINUX_TASK},
    # Windows x64 (vector = IRQL << 4 | n): clock 0xD1 (CLOCK_LEVEL), IPI 0xE1 (IPI_LEVEL).
    # From Windows internals literature, not checked against a real Windows guest trace:
    # give a FILE if your guests differ.
    "windows": {0xD1: Reason.TIMER, 0xE1: Reason.TASK},
}

_REASONS: Final[Mapping[str, Reason]] = {
    "timer": Reason.TIMER,
    "task": Reason.TASK,
    "disk": Reason.DISK,
    "net": Reason.NET,
}


def add_vectors_argument(parser: argparse.ArgumentParser) -> None:
    """The `--vectors` option, identical on every command that analyses a trace."""
    parser.add_argument(
        "--vectors",
        metavar="PRESET|FILE",
        default=None,
        help=(
            "guest vector -> wait reason table: "
            + ", ".join(VECTOR_PRESETS)
            + f" (default {DEFAULT_PRESET}), or a TOML/JSON file; "
            "a non-default table re-analyses the trace (the cache holds default results)"
        ),
    )


def resolve_vector_table(spec: str | None) -> dict[int, Reason] | None:
    """`--vectors` value -> the table, or None for the default one (cache may be used).

    Raises W2AError (exit 2) with one sentence for an unknown preset or a bad file.
    """
    if spec is None or spec == DEFAULT_PRESET:
        return None
    preset = VECTOR_PRESETS.get(spec)
    if preset is not None:
        return dict(preset)
    path = Path(spec)
    if not path.is_file():
        raise W2AError(
            f"--vectors {spec}: not a preset ({', '.join(VECTOR_PRESETS)}) nor a readable "
            "file; give one of those or a TOML/JSON file mapping vectors to reasons.",
            EXIT_BAD_INPUT,
        )
    return _table_from_file(path)


def _table_from_file(path: Path) -> dict[int, Reason]:
    import tomllib  # here: every command imports this module, few read a file

    try:
        text = path.read_text(encoding="utf-8")
        data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (
        OSError,
        UnicodeDecodeError,
        tomllib.TOMLDecodeError,
        json.JSONDecodeError,
        RecursionError,  # nested deeper than the parsers recurse
    ) as err:
        raise W2AError(
            f"--vectors {path}: cannot read it as {'TOML' if path.suffix == '.toml' else 'JSON'}"
            f" ({err}); fix the file or use a preset.",
            EXIT_BAD_INPUT,
        ) from err
    if not isinstance(data, dict):
        raise _bad_file(path, "the top level must be a table/object")
    table: dict[int, Reason] = {}
    base = data.get("base")
    if base is not None:
        if base not in VECTOR_PRESETS:
            raise _bad_file(path, f"base {base!r} is not one of {', '.join(VECTOR_PRESETS)}")
        table.update(VECTOR_PRESETS[base])
    entries = data.get("vectors", {k: v for k, v in data.items() if k != "base"})
    if not isinstance(entries, dict):
        raise _bad_file(path, "`vectors` must be a table/object")
    for key, value in entries.items():
        table[_vector(path, key)] = _reason(path, key, value)
    if not table:
        raise _bad_file(path, "it maps no vector")
    return table


def _vector(path: Path, key: object) -> int:
    try:
        vector = int(str(key), 0)
    except ValueError:
        raise _bad_file(path, f"{key!r} is not a vector number (236 or 0xec)") from None
    if not 0 <= vector <= 255:
        raise _bad_file(path, f"vector {key} is outside 0-255")
    return vector


def _reason(path: Path, key: object, value: object) -> Reason:
    reason = _REASONS.get(str(value).lower())
    if reason is None:
        raise _bad_file(path, f"vector {key}: {value!r} is not one of {', '.join(_REASONS)}")
    return reason


def _bad_file(path: Path, what: str) -> W2AError:
    return W2AError(f"--vectors {path}: {what}; fix the file or use a preset.", EXIT_BAD_INPUT)
