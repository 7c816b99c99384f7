"""Regenerate the bundled sample trace `traces/sample` (deterministic: same bytes every time).

    python -m w2a_tui.sim.sample [OUT]

3 VMs of 2, 3 and 4 vCPUs on 6 host CPUs for 2 s: every wait reason, preemption by
host threads and other VMs' vCPUs, halt-polling, an iothread VM, blocked vCPUs.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

from w2a_tui.sim.generate import Summary, generate, truth_paths
from w2a_tui.sim.scenarios import SCENARIOS, Scenario

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "traces" / "sample"

SAMPLE: Scenario = replace(
    SCENARIOS["mixed"],
    name="sample",
    description="the bundled sample: 3 VMs of 2, 3 and 4 vCPUs on 6 CPUs, every state",
    seconds=2.0,
    vms=3,
    vcpus=3,
    vcpu_counts=(2, 3, 4),
    pcpus=6,
    seed=20240611,
    busy_us=500.0,
    burst_us=250.0,
    idle_timer_us=(3000.0, 25000.0),
    net_rx_per_s=40.0,
    blocked_per_busy=2.0,
    main_loop_period_us=4000.0,
    batch_threads=2,
    packet_kib=256,
)


def regenerate(out: Path = SAMPLE_DIR) -> Summary:
    """Replace `out` (and its truth files) with a fresh copy of the sample."""
    if out.exists():
        shutil.rmtree(out)
    for path in truth_paths(out):
        path.unlink(missing_ok=True)
    return generate(out, SAMPLE)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else SAMPLE_DIR
    summary = regenerate(out)
    print(f"{out}: {summary.events} events, {summary.bytes / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
