"""Regenerate the bundled sample trace `traces/sample` (deterministic: same bytes every time).

    python -m w2a_tui.sim.sample [OUT]

Three libvirt guests on an oversubscribed 6-CPU host for 2 s, each with its own story:
`web01` (4 vCPUs) serves network traffic through `vhost-<pid>` and IPIs its vCPUs;
`db01` (4 vCPUs) waits on disk through `IO iothread0`, a few requests take tens of ms,
and its vCPUs block on QEMU's main loop (the BQL); `batch01` (2 vCPUs, CPU-bound) is
pinned to CPUs 4-5 beside a host `cc1` build and spends much of its time preempted.
Halt-polling, every wait reason and every state are there.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

from w2a_tui.sim.generate import Summary, generate, truth_paths
from w2a_tui.sim.scenarios import SCENARIOS, Scenario, VmProfile

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "traces" / "sample"

SAMPLE: Scenario = replace(
    SCENARIOS["mixed"],
    name="sample",
    description=(
        "the bundled sample: web01 (net), db01 (disk, blocked on the BQL) and batch01 "
        "(CPU-bound, preempted by a host build) on an oversubscribed 6-CPU host"
    ),
    seconds=2.0,
    vms=3,
    vcpus=4,
    pcpus=6,
    seed=20240611,
    halt_poll_ns=200_000,  # KVM's default halt_poll_ns on x86
    batch_threads=2,
    batch_comm="cc1",  # a `make -j2` build on the host, on the CPUs batch01 is pinned to
    batch_cpus=(4, 5),
    packet_kib=256,
    kworker_period_us=40000.0,
    vm_profiles=(
        VmProfile(
            "web01",
            vcpus=3,
            guest=(
                ("busy_us", 1500.0),
                ("burst_us", 900.0),
                ("idle_timer_us", (4000.0, 30000.0)),
                ("ipi_per_busy", 0.3),
                ("net_per_busy", 0.6),
                ("disk_per_busy", 0.03),
                ("blocked_per_busy", 0.02),
                ("net_rx_per_s", 330.0),
                ("iothread", "none"),
                ("main_loop_period_us", 8000.0),
            ),
        ),
        VmProfile(
            "db01",
            vcpus=4,
            guest=(
                ("busy_us", 5000.0),
                ("burst_us", 1600.0),
                ("idle_timer_us", (2000.0, 12000.0)),
                ("ipi_per_busy", 0.25),
                ("disk_per_busy", 4.0),
                ("net_per_busy", 0.1),
                ("blocked_per_busy", 1.5),
                ("net_rx_per_s", 30.0),
                ("iothread", "all"),
                ("disk_latency_us", (1500.0, 8000.0)),  # network storage (Ceph RBD)
                ("slow_disk_prob", 0.03),
                ("slow_disk_us", (15000.0, 45000.0)),
                ("main_loop_period_us", 6000.0),
                ("main_loop_work_us", (1000.0, 4000.0)),
            ),
        ),
        VmProfile(
            "batch01",
            vcpus=2,
            cpus=(4, 5),  # virsh vcpupin 0 -> CPU 4, 1 -> CPU 5, shared with the host build
            guest=(
                ("busy_us", 8000.0),
                ("burst_us", 1500.0),
                ("idle_timer_us", (1000.0, 4000.0)),
                ("ipi_per_busy", 0.5),
                ("disk_per_busy", 0.05),
                ("net_per_busy", 0.0),
                ("blocked_per_busy", 0.05),
                ("net_rx_per_s", 5.0),
                ("iothread", "none"),
                ("main_loop_period_us", 20000.0),
            ),
        ),
    ),
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
