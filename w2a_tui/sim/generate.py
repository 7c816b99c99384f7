"""Generate one simulated trace folder plus its ground truth (`OUT.truth.csv/.json`)."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from w2a_tui.errors import W2AError
from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.core import SimCore
from w2a_tui.sim.ctf import CtfWriter, metadata_text
from w2a_tui.sim.engine import Simulator
from w2a_tui.sim.scenarios import Scenario
from w2a_tui.sim.truth import write_csv

BOOT_CYCLES = 86_400_000_000_000  # the trace starts one day after boot (monotonic clock)
EPOCH_OF_BOOT_NS = 1_700_000_000_000_000_000


@dataclass(slots=True)
class Summary:
    """What `generate` wrote: counts per event name as they are in the stream files."""

    trace_dir: Path
    truth_csv: Path
    truth_json: Path
    events: int
    counts: dict[str, int] = field(default_factory=dict)
    discarded: int = 0
    truth_rows: int = 0
    first_ns: int = 0
    last_ns: int = 0
    bytes: int = 0


def truth_paths(trace_dir: Path) -> tuple[Path, Path]:
    """`OUT.truth.csv` and `OUT.truth.json`, beside the trace folder `OUT`."""
    base = trace_dir.parent / trace_dir.name
    return base.with_name(base.name + ".truth.csv"), base.with_name(base.name + ".truth.json")


def generate(
    trace_dir: Path, sc: Scenario, progress: Callable[[float], None] | None = None
) -> Summary:
    """Simulate `sc` and write the CTF trace into `trace_dir` with its truth files;
    `progress` hears the fraction of simulated time done (`Simulator.run`)."""
    if trace_dir.exists() and any(trace_dir.iterdir()):
        raise W2AError(f"'{trace_dir}' exists and is not empty; choose a new output folder.")
    try:
        trace_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise W2AError(f"cannot create '{trace_dir}': {err.strerror}.") from None
    profile = tp.PROFILES[sc.kernel]
    lifecycle = any(p.start_at > 0 for p in sc.vm_profiles[: sc.vms])
    classes = tp.event_classes(profile, sc.wakeup_events, lifecycle)
    ids = random.Random(sc.seed ^ 0x5EED)
    trace_uuid = uuid.UUID(int=ids.getrandbits(128))
    clock_uuid = uuid.UUID(int=ids.getrandbits(128))
    t0 = BOOT_CYCLES + ids.randrange(10**9)
    offset = EPOCH_OF_BOOT_NS + ids.randrange(10**9)

    writer_box: list[CtfWriter] = []
    core = SimCore(sc, classes, profile, t0, lambda cpu, evs: writer_box[0].write(cpu, evs), offset)
    sim = Simulator(core)
    writer = CtfWriter(
        trace_dir,
        list(classes.values()),
        sc.pcpus,
        t0,
        trace_uuid.bytes,
        sim.contexts() if sc.context else None,
        packet_bytes=sc.packet_kib * 1024,
        lost_prob=sc.lost_prob,
        seed=sc.seed,
        drop_until=sim.t_end - 10_000_000,
    )
    writer_box.append(writer)
    sim.run(progress)
    sim.finish_open_waits()
    last = sim.last_ts()
    sim.flush(last, final=True)
    stats = writer.close(last)
    env: dict[str, str | int] = {
        "hostname": "kvm-host-sim",
        "domain": "kernel",
        "sysname": "Linux",
        "kernel_release": profile.kernel_release,
        "kernel_version": profile.kernel_version,
        "tracer_name": "lttng-modules",
        "tracer_major": profile.tracer_major,
        "tracer_minor": profile.tracer_minor,
        "tracer_patchlevel": profile.tracer_patchlevel,
    }
    (trace_dir / "metadata").write_text(
        metadata_text(classes.values(), env, str(trace_uuid), str(clock_uuid), offset, sc.context),
        encoding="utf-8",
    )
    names = {c.id: c.name for c in classes.values()}
    counts = {names[cid]: n for cid, n in sorted(stats.written.items()) if n > 0}
    csv_path, json_path = truth_paths(trace_dir)
    lanes = [v.lane for vm in sim.vms for v in vm.vcpus]
    rows = write_csv(csv_path, lanes, last, offset, sim.who)
    summary = Summary(
        trace_dir=trace_dir,
        truth_csv=csv_path,
        truth_json=json_path,
        events=sum(counts.values()),
        counts=counts,
        discarded=stats.discarded,
        truth_rows=rows,
        first_ns=offset + t0,
        last_ns=offset + last,
        bytes=stats.bytes,
    )
    json_path.write_text(
        json.dumps(_truth_doc(sc, sim, summary), indent=1) + "\n", encoding="utf-8"
    )
    return summary


def _truth_doc(sc: Scenario, sim: Simulator, summary: Summary) -> dict[str, Any]:
    vms = []
    for vm in sim.vms:
        vms.append(
            {
                "pid": vm.pid,
                "name": vm.name,
                "launched_ns": sim.clock_offset + vm.launch if vm.launch else None,
                "main_tid": vm.main.tid,
                "io_tid": vm.io.tid,
                "io_thread": sim.who(vm.io.tid)[1],
                "vhost_tid": vm.vhost.tid,
                "vhost_comm": sim.who(vm.vhost.tid)[1],
                "vcpus": [
                    {
                        "vcpu": v.vid,
                        "tid": v.thread.tid,
                        "comm": sim.who(v.thread.tid)[1],
                        "at_start": v.at_start,
                    }
                    for v in vm.vcpus
                ],
                "vectors": {
                    "timer": sc.timer_vector,
                    "ipi": [0xFD, 0xFB, 0xFC],
                    "disk": vm.disk_vec,
                    "net": vm.net_vec,
                },
            }
        )
    params = asdict(sc)
    params["idle_timer_us"] = list(sc.idle_timer_us)
    params["vcpu_counts"] = list(sc.vcpu_counts)
    return {
        "scenario": params,
        "first_ns": summary.first_ns,
        "last_ns": summary.last_ns,
        "events": summary.events,
        "counts": summary.counts,
        "discarded_events": summary.discarded,
        "truth_rows": summary.truth_rows,
        "vms": vms,
        "notes": [
            "Times are ns from the clock origin (babeltrace2 ns_from_origin).",
            "A vCPU lane is `unknown` from the trace's first event to its first kvm_entry "
            "or kvm_exit (a vCPU in the guest when the trace began is first seen exiting).",
            "vcpus[].at_start: where the vCPU was when the trace began (halted, guest, "
            "hypervisor, preempted), or not_started for a VM launched during the trace "
            "(launched_ns: when libvirtd woke up to fork its QEMU).",
            "waker_tid/waker_comm are filled for waits, blocked and ready; swapper is tid 0.",
            "With lost events the truth still describes every simulated event, "
            "including the discarded ones.",
        ],
    }


def state_counts(csv_path: Path) -> Counter[str]:
    """How many truth rows each state has (used by tests and the sample README)."""
    counts: Counter[str] = Counter()
    with open(csv_path, encoding="utf-8") as f:
        next(f)
        for line in f:
            counts[line.split(",")[6]] += 1
    return counts
