"""traces/README.md describes the bundled sample with numbers: they must be the sample's
(it once promised 15-45 ms disk waits the sample does not have)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "traces" / "README.md").read_text(encoding="utf-8")
SAMPLE = ROOT / "traces" / "sample"


def _w2a(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "w2a_tui", *args], capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_the_disk_waits_of_db01_are_as_the_readme_says() -> None:
    rows = _w2a("export", str(SAMPLE), "--vm", "qemu:db01", "--state", "wait_disk").splitlines()
    header = rows[0].split(",")
    start, end = header.index("start_ns"), header.index("end_ns")
    ms = np.array([(int(r.split(",")[end]) - int(r.split(",")[start])) / 1e6 for r in rows[1:]])
    p50, p90 = np.percentile(ms, [50, 90])
    said = (
        f"Its {len(ms):,} disk waits take 37 % of its vCPUs' time: median\n"
        f"  {p50:.1f} ms, 90 % under {p90:.1f} ms, the longest {ms.max():.1f} ms"
    )
    assert said in README
    assert ms.max() < 15 and "(none reaches 15 ms)" in README
    assert "15-45 ms" not in README


def test_the_shares_of_time_are_as_the_readme_says() -> None:
    doc = json.loads(_w2a("analyze", str(SAMPLE), "--json"))
    vms = {vm["name"]: vm for vm in doc["vms"]}

    def share(vm: str, state: str) -> list[float]:
        return [100 * v["time_by_state_ns"][state] / v["span_ns"] for v in vms[vm]["vcpus"]]

    def total(vm: str, state: str) -> float:
        spans = sum(v["span_ns"] for v in vms[vm]["vcpus"])
        return float(100 * vms[vm]["time_by_state_ns"][state] / spans)

    assert round(total("qemu:db01", "wait_disk")) == 37
    blocked = share("qemu:db01", "blocked")
    assert min(blocked) >= 5 and max(blocked) <= 8
    assert f"{total('qemu:db01', 'blocked'):.1f}" == "6.7"
    assert "`blocked` 5-8 % of the time (6.7 % in all)" in README
    preempted = share("qemu:batch01", "preempted")
    assert all(abs(p - 35) < 1 for p in preempted) and "`preempted` about 35 %" in README
