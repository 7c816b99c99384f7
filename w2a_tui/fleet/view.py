"""A fleet table read back and folded per VM, ranked for `w2a-tui fleet --view` (no
Textual here: the screen is w2a_tui.tui.screens.fleet)."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from w2a_tui.errors import W2AError

SORT_KEYS: Final = ("preempted", "ready", "wait")


@dataclass(slots=True)
class VmRank:
    """One VM of one trace (or one failed trace: `error` set, no figures)."""

    host: str
    trace: str
    vm_pid: int = 0
    vm_name: str = ""
    vcpus: int = 0
    span_ns: int = 0
    preempted_ns: int = 0
    ready_ns: int = 0
    wait_ns: int = 0
    top_preemptor: str = ""
    verdict: str = ""
    error: str = ""

    def share(self, key: str) -> float:
        """Fraction of the vCPUs' known time spent `preempted`, `ready` or waiting."""
        value = {"preempted": self.preempted_ns, "ready": self.ready_ns, "wait": self.wait_ns}
        return value[key] / self.span_ns if self.span_ns else 0.0

    def text(self) -> str:
        """What a filter matches: host, trace folder, VM, preemptor, verdict, error."""
        return " ".join(
            (
                self.host,
                Path(self.trace).name,
                self.vm_name,
                str(self.vm_pid),
                self.top_preemptor,
                self.verdict,
                self.error,
            )
        ).lower()


@dataclass(slots=True)
class FleetTable:
    vms: list[VmRank] = field(default_factory=list)

    @property
    def hosts(self) -> int:
        return len({(v.host, v.trace) for v in self.vms})

    def ranked(self, key: str = "preempted", query: str = "", errors: bool = True) -> list[VmRank]:
        """VMs by decreasing share of `key`; `query` keeps rows whose text holds every word;
        failed traces come last (or not at all with errors=False)."""
        words = query.lower().split()
        kept = [v for v in self.vms if all(w in v.text() for w in words)]
        good = sorted(
            (v for v in kept if not v.error),
            key=lambda v: (-v.share(key), v.host, v.trace, v.vm_pid),
        )
        bad = [v for v in kept if v.error] if errors else []
        return good + bad


def load_fleet(path: str | os.PathLike[str]) -> FleetTable:
    """Read a table written by `w2a-tui fleet -o`; W2AError if it is not one."""
    from w2a_tui.export.parquet import require_pyarrow

    pa = require_pyarrow()
    try:
        rows = pa.parquet.read_table(os.fspath(path)).to_pylist()
    except (OSError, pa.ArrowInvalid) as err:
        raise W2AError(f"{path} is not a readable Parquet file ({err}).") from err
    needed = {"host", "trace", "vm_pid", "time_preempted_ns", "time_ready_ns", "wait_ns", "error"}
    if rows and not needed <= set(rows[0]):
        raise W2AError(f"{path} is not a fleet table: write one with `w2a-tui fleet -o FILE`.")
    vms: dict[tuple[str, str, int], VmRank] = {}
    preemptors: dict[tuple[str, str, int], Counter[str]] = {}
    table = FleetTable()
    for row in rows:
        if row["error"]:
            table.vms.append(VmRank(row["host"] or "", row["trace"], error=row["error"]))
            continue
        key = (row["host"], row["trace"], int(row["vm_pid"]))
        vm = vms.get(key)
        if vm is None:
            vm = vms[key] = VmRank(row["host"], row["trace"], key[2], row["vm_name"] or "")
            vm.verdict = row["verdict"] or ""
            preemptors[key] = Counter()
        vm.vcpus += 1
        vm.span_ns += int(row["span_ns"])
        vm.preempted_ns += int(row["time_preempted_ns"])
        vm.ready_ns += int(row["time_ready_ns"])
        vm.wait_ns += int(row["wait_ns"])
        for p in row["top_preemptors"] or []:
            preemptors[key][p["comm"]] += int(p["time_ns"])
    for key, vm in vms.items():
        if preemptors[key]:
            vm.top_preemptor = preemptors[key].most_common(1)[0][0]
    table.vms[:0] = list(vms.values())
    return table
