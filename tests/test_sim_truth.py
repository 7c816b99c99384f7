"""The ground truth follows the contract *given the trace*: every truth row is checked
against the events babeltrace2 reads back (never against the simulator's internals).

For each vCPU lane: contiguous, covering the trace; `guest` starts at the thread's
kvm_entry, `hypervisor` at a kvm_exit or switch-in; waits start at a blocking switch-out
after an HLT exit and end at the wake-up; `ready` runs from wake-up to switch-in;
`preempted` starts at a runnable switch-out; each wait's source/vector is what rules
1-4 of vcpu-states.md give on the read-back events.
"""

from __future__ import annotations

import csv
import itertools
import json
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.sim import Readback, SimTraces, assert_reads_back, read_trace
from w2a_tui.sim import SCENARIOS, truth_paths

TIMER = {0xEC, 0xEF}
TASK = {0xFB, 0xFC, 0xFD, 0xF6}
WAITS = {"wait_timer", "wait_task", "wait_disk", "wait_net", "wait_unknown"}


@dataclass
class ThreadEvents:
    entries: list[int] = field(default_factory=list)
    exits: list[tuple[int, int, int]] = field(default_factory=list)  # ts, reason, isa
    injs: list[tuple[int, int]] = field(default_factory=list)
    outs: dict[int, tuple[int, str]] = field(default_factory=dict)  # ts -> state, next comm
    ins: list[int] = field(default_factory=list)
    wakes: dict[int, int] = field(default_factory=dict)  # ts -> waker tid
    # Sorted timestamps and sets for bisect and membership (filled once indexing is done).
    exit_ts: list[int] = field(default_factory=list)
    inj_ts: list[int] = field(default_factory=list)
    in_set: set[int] = field(default_factory=set)


@dataclass
class Indexed:
    back: Readback
    threads: dict[int, ThreadEvents]
    pid_of: dict[int, int]
    comm_of: dict[int, str]
    accepts: list[tuple[int, int, int, int, int]]  # ts, apicid, vec, emitter tid, index
    accept_ts: list[int]
    in_irq: set[int]  # indexes of accepts emitted in hrtimer (interrupt) context
    wakes_after: dict[int, tuple[int, int]]  # event index of an accept -> (ts, woken tid)
    in_hrtimer: set[int]  # ts of sched_waking inside an apic hrtimer handler
    taught: dict[tuple[int, str], set[int]]  # (vm pid, disk|net) -> vectors the trace teaches


def index(back: Readback, devices: dict[int, tuple[int, str]] | None = None) -> Indexed:
    """`devices`: tid -> (VM pid, "disk" | "net") of the threads that deliver device
    interrupts when their names say nothing (Firecracker, Cloud Hypervisor): the analysis
    learns those from what woke the thread, which this index does not follow."""
    devices = devices or {}
    threads: dict[int, ThreadEvents] = defaultdict(ThreadEvents)
    pid_of: dict[int, int] = {}
    comm_of: dict[int, str] = {}
    accepts = []
    wakes_after: dict[int, tuple[int, int]] = {}
    in_hrtimer: set[int] = set()
    running_comm: dict[int, str] = {}  # per CPU, from sched_switch: comms change over time
    taught: dict[tuple[int, str], set[int]] = defaultdict(set)
    in_irq: set[int] = set()
    hrtimer_cpus: set[int] = set()
    last_accept_on_cpu: dict[int, int] = {}
    for i, e in enumerate(back.events):
        f, n = e.fields, e.name
        if n == "lttng_statedump_process_state":
            pid_of[f["tid"]] = f["pid"]
            comm_of[f["tid"]] = f["name"]
        elif n.endswith("_entry") and n.startswith("kvm"):
            threads[e.tid].entries.append(e.ts)
        elif n.endswith("_exit") and n.startswith("kvm") and n != "kvm_userspace_exit":
            threads[e.tid].exits.append((e.ts, f["exit_reason"], f["isa"]))
        elif n.endswith("inj_virq") and not f.get("soft"):  # soft ones decide nothing
            threads[e.tid].injs.append((e.ts, f["irq"] if "irq" in f else f["vector"]))
        elif n.endswith("apic_accept_irq"):
            accepts.append((e.ts, f["apicid"], f["vec"], e.tid, i))
            if e.cpu in hrtimer_cpus:
                in_irq.add(i)
                last_accept_on_cpu[e.cpu] = i
            elif e.tid in devices:  # the simulator's device threads, whatever their names
                taught[devices[e.tid]].add(f["vec"])
            else:  # a thread's accept teaches its VM a device vector (contract)
                comm = running_comm.get(e.cpu) or comm_of.get(e.tid, "")
                if comm.startswith("vhost-"):
                    taught[(int(comm[6:]), "net")].add(f["vec"])
                elif e.tid == pid_of.get(e.tid) or comm.startswith("IO iothread"):
                    taught[(pid_of[e.tid], "disk")].add(f["vec"])
        elif n == "sched_switch":
            threads[f["prev_tid"]].outs[e.ts] = (f["prev_state"], f["next_comm"])
            threads[f["next_tid"]].ins.append(e.ts)
            comm_of[f["prev_tid"]] = f["prev_comm"]  # the latest comm (threads get renamed)
            comm_of[f["next_tid"]] = f["next_comm"]
            running_comm[e.cpu] = f["next_comm"]
        elif n == "sched_process_fork":
            pid_of[f["child_tid"]] = f["child_pid"]
        elif n == "sched_waking":
            threads[f["tid"]].wakes[e.ts] = e.tid
            if e.cpu in hrtimer_cpus:
                in_hrtimer.add(e.ts)
            j = last_accept_on_cpu.pop(e.cpu, None)
            if j is not None:
                wakes_after[j] = (e.ts, f["tid"])
        elif n == "timer_hrtimer_expire_entry":
            hrtimer_cpus.add(e.cpu)
        elif n == "timer_hrtimer_expire_exit":
            hrtimer_cpus.discard(e.cpu)
            last_accept_on_cpu.pop(e.cpu, None)
    for th in threads.values():
        th.exit_ts = [x[0] for x in th.exits]
        th.inj_ts = [x[0] for x in th.injs]
        th.in_set = set(th.ins)
    accept_ts = [a[0] for a in accepts]
    return Indexed(
        back, threads, pid_of, comm_of, accepts, accept_ts, in_irq, wakes_after, in_hrtimer, taught
    )


def is_hlt(reason: int, isa: int) -> bool:
    return (reason & 0xFFFF) == 12 if isa == 1 else reason == 0x78


def last_exit_before(th: ThreadEvents, ts: int) -> tuple[int, int, int] | None:
    i = bisect_right(th.exit_ts, ts) - 1
    return th.exits[i] if i >= 0 else None


def load_truth(trace: Path) -> tuple[dict[tuple[int, int], list[dict[str, str]]], dict[str, Any]]:
    csv_path, json_path = truth_paths(trace)
    lanes: dict[tuple[int, int], list[dict[str, str]]] = defaultdict(list)
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            lanes[(int(row["vm_pid"]), int(row["vcpu"]))].append(row)
    return lanes, json.loads(json_path.read_text())


def _device_threads(doc: dict[str, Any]) -> dict[int, tuple[int, str]]:
    out: dict[int, tuple[int, str]] = {}
    for vm in doc["vms"]:
        out[vm["main_tid"]] = out[vm["io_tid"]] = (vm["pid"], "disk")
        out[vm["vhost_tid"]] = (vm["pid"], "net")
    return out


def check_trace(trace: Path) -> Counter[str]:
    """Assert every truth row against the trace; return how many rows each state has."""
    lanes, doc = load_truth(trace)
    qemu = all(vmm == "qemu" for vmm in doc["scenario"].get("vmms", ["qemu"]))
    devices = {} if qemu else _device_threads(doc)
    ix = index(read_trace(trace), devices)
    wake_events = doc["scenario"]["wakeup_events"]
    first, last = doc["first_ns"], doc["last_ns"]
    vms = {vm["pid"]: vm for vm in doc["vms"]}
    states: Counter[str] = Counter()
    assert sorted(lanes) == sorted((vm["pid"], v["vcpu"]) for vm in doc["vms"] for v in vm["vcpus"])
    for (vm_pid, vcpu), rows in lanes.items():
        vm = vms[vm_pid]
        tid = int(rows[0]["tid"])
        th = ix.threads[tid]
        exit_ts = th.exit_ts
        starts = [int(r["start_ns"]) for r in rows]
        ends = [int(r["end_ns"]) for r in rows]
        assert starts[0] == first and ends[-1] == last
        assert starts[1:] == ends[:-1], "lane not contiguous"
        assert all(s < e for s, e in zip(starts, ends, strict=True) if e != last)
        # The first evidence: the vCPU's first kvm_entry, or kvm_exit if it was in the guest.
        evidence = min([th.entries[0], *exit_ts[:1]])
        assert rows[0]["state"] == "unknown" and ends[0] == evidence
        assert all(r["state"] != "unknown" for r in rows[1:])
        guest_starts = [s for s, r in zip(starts, rows, strict=True) if r["state"] == "guest"]
        assert guest_starts == th.entries, "guest rows must start exactly at kvm_entry"
        hyper_starts = {s for s, r in zip(starts, rows, strict=True) if r["state"] == "hypervisor"}
        exit_set = set(exit_ts)
        assert exit_set <= hyper_starts
        for k, row in enumerate(rows):
            state, start, end = row["state"], starts[k], ends[k]
            states[state] += 1
            prev_exit = last_exit_before(th, start)
            if state == "hypervisor":
                assert start in exit_set or start in th.in_set
                shown = int(row["exit_reason"]) if row["exit_reason"] else None
                assert shown == (prev_exit[1] if prev_exit is not None else None)
            elif state == "preempted":
                prev_state, next_comm = th.outs[start]
                assert prev_state & 0xFF == 0 and row["next_comm"] == next_comm
                assert end in th.in_set or end == last
            elif state == "blocked":
                prev_state, _ = th.outs[start]
                assert prev_state & 0xFF and prev_exit is not None
                assert not is_hlt(prev_exit[1], prev_exit[2])
            elif state == "ready":
                assert start in th.wakes and (end in th.in_set or end == last)
                assert int(row["waker_tid"]) == max(th.wakes[start], 0)
            elif state in WAITS:
                prev_state, _ = th.outs[start]
                assert prev_state & 0xFF, "a wait starts at a blocking switch-out"
                assert prev_exit is not None and is_hlt(prev_exit[1], prev_exit[2])
                assert int(row["exit_reason"]) == prev_exit[1]
                if end != last:
                    assert end in (th.wakes if wake_events else th.in_set)
                check_wait_reason(ix, vm, vcpu, tid, row, start, end, last, wake_events)
    return states


def check_wait_reason(
    ix: Indexed,
    vm: dict[str, Any],
    vcpu: int,
    tid: int,
    row: dict[str, str],
    start: int,
    end: int,
    last: int,
    wake_events: bool,
) -> None:
    th = ix.threads[tid]
    source, state = row["source"], row["state"]
    vector = int(row["vector"]) if row["vector"] else -1
    # Rule 1: the first inj_virq after the switch-in, before the next kvm_entry.
    k = bisect_left(th.ins, end)
    inj = None
    if k < len(th.ins):
        back_in = th.ins[k]
        j = bisect_left(th.entries, back_in)
        entry = th.entries[j] if j < len(th.entries) else last + 1
        i = bisect_left(th.inj_ts, back_in)
        inj = th.injs[i][1] if i < len(th.injs) and th.inj_ts[i] < entry else None
    if inj is not None:
        assert (source, vector) == ("inj_virq", inj)
    else:
        assert source != "inj_virq"
        # Rule 2: the last accept for this vCPU of this VM between switch-out and wake-up.
        window = ix.accepts[bisect_left(ix.accept_ts, start) : bisect_right(ix.accept_ts, end)]
        mine = [
            (ts, vec)
            for ts, apicid, vec, emitter, i in window
            if apicid == vcpu and belongs(ix, vm, emitter, i, tid)
        ]
        if mine:
            assert (source, vector) == ("apic_accept_irq", mine[-1][1])
        elif wake_events and end in th.wakes and end != last:
            assert source == "waker" and vector == -1
            if end in ix.in_hrtimer:
                assert state == "wait_timer"
        elif end == last and not (wake_events and end in th.wakes):
            # Still asleep when the trace ended: it did not wake (rule 4's `open` case).
            assert (source, state) == ("open", "wait_unknown")
        else:
            assert (source, state) in {("none", "wait_unknown"), ("waker", state)}
    if vector >= 0:
        expected = (
            "wait_timer"
            if vector in TIMER
            else "wait_task"
            if vector in TASK
            else "wait_disk"
            if vector == vm["vectors"]["disk"] and vector in ix.taught[(vm["pid"], "disk")]
            else "wait_net"
            if vector == vm["vectors"]["net"] and vector in ix.taught[(vm["pid"], "net")]
            else "wait_unknown"
        )
        assert state == expected, (row, expected)


def belongs(ix: Indexed, vm: dict[str, Any], emitter: int, i: int, tid: int) -> bool:
    """Whether an accept is attributable to this VM (contract, rule 2): in interrupt
    context, by the vCPU the same interrupt wakes; else by the emitting thread's VM."""
    if i in ix.in_irq:
        woken = ix.wakes_after.get(i)
        return woken is not None and woken[1] == tid
    return ix.pid_of.get(emitter) == vm["pid"] or ix.comm_of.get(emitter) == f"vhost-{vm['pid']}"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_trace_reads_back_and_its_truth_follows_the_contract(
    name: str, sim_traces: SimTraces
) -> None:
    # One test per scenario, so that each trace is read back once per worker.
    trace = sim_traces.get(name)
    assert_reads_back(trace)
    if name == "lost":
        return  # its truth also describes the discarded events: see test_sim_readback.py
    states = check_trace(trace)
    assert states["guest"] > 50 and states["hypervisor"] >= states["guest"]
    assert sum(states[w] for w in WAITS) > 5


def _rows(trace: Path) -> list[dict[str, str]]:
    with truth_paths(trace)[0].open() as f:
        return list(csv.DictReader(f))


def _waits(rows: list[dict[str, str]]) -> Counter[tuple[str, str, str]]:
    return Counter((r["state"], r["source"], r["vector"]) for r in rows if r["state"] in WAITS)


def test_timer_scenarios_use_the_new_and_old_timer_vectors(sim_traces: SimTraces) -> None:
    new = _waits(_rows(sim_traces.get("timer")))
    old = _waits(_rows(sim_traces.get("timer-old")))
    assert new[("wait_timer", "inj_virq", "236")] > 20
    assert old[("wait_timer", "inj_virq", "239")] > 20
    assert {k[0] for k in new} <= {"wait_timer", "wait_unknown"}


def test_each_source_scenario_produces_its_reason(sim_traces: SimTraces) -> None:
    assert _waits(_rows(sim_traces.get("ipi")))[("wait_task", "inj_virq", "253")] > 5
    for name in ("disk", "disk-iothread"):
        assert (
            sum(n for k, n in _waits(_rows(sim_traces.get(name))).items() if k[0] == "wait_disk")
            > 5
        )
    assert sum(n for k, n in _waits(_rows(sim_traces.get("net"))).items() if k[0] == "wait_net") > 5
    apicv = _waits(_rows(sim_traces.get("apicv")))
    assert {k[1] for k in apicv} <= {"apic_accept_irq", "none", "open", "waker"}
    assert {k[0] for k in apicv} >= {"wait_timer", "wait_task"}


def test_disk_and_net_accepts_come_from_the_right_threads(sim_traces: SimTraces) -> None:
    for name, comm in (("disk", "qemu-system-x86"), ("disk-iothread", "IO iothread0")):
        ix = index(read_trace(sim_traces.get(name)))
        disk = json.loads(truth_paths(sim_traces.get(name))[1].read_text())["vms"][0]
        emitters = {
            ix.comm_of[t] for _, _, vec, t, _ in ix.accepts if vec == disk["vectors"]["disk"]
        }
        assert emitters == {comm}
    ix = index(read_trace(sim_traces.get("net")))
    net_vec = json.loads(truth_paths(sim_traces.get("net"))[1].read_text())["vms"][0]
    emitters = {ix.comm_of[t] for _, _, vec, t, _ in ix.accepts if vec == net_vec["vectors"]["net"]}
    assert emitters == {f"vhost-{net_vec['pid']}"}


def test_preemption_by_host_threads_and_other_vms(sim_traces: SimTraces) -> None:
    rows = _rows(sim_traces.get("preempt"))
    takers = Counter(r["next_comm"] for r in rows if r["state"] == "preempted")
    assert takers["stress-ng-cpu"] > 0
    vcpu_takers = [c for c in takers if c.startswith("CPU ")]
    assert vcpu_takers, takers


def test_halt_polling_resumes_without_switching_out(sim_traces: SimTraces) -> None:
    rows = _rows(sim_traces.get("halt-poll"))
    polled = sum(
        1
        for a, b in itertools.pairwise(rows)
        if a["state"] == "hypervisor" and a["exit_reason"] == "12" and b["state"] == "guest"
    )
    assert polled > 20


def test_no_wakeup_has_no_ready_and_apicv_no_injection(sim_traces: SimTraces) -> None:
    assert not any(r["state"] == "ready" for r in _rows(sim_traces.get("no-wakeup")))
    back = read_trace(sim_traces.get("apicv"))
    assert back.counts["kvm_x86_inj_virq"] == 0 and back.counts["kvm_x86_apic_accept_irq"] > 0


def test_apicv_kick_timer_waits_are_decided_by_the_waker(sim_traces: SimTraces) -> None:
    waits = _waits(_rows(sim_traces.get("apicv-kick")))
    assert waits[("wait_timer", "waker", "")] > 20


def test_two_vms_share_vcpu_ids(sim_traces: SimTraces) -> None:
    rows = _rows(sim_traces.get("two-vms"))
    assert len({r["vm_pid"] for r in rows if r["vcpu"] == "0"}) == 2


def test_mixed_has_every_state(sim_traces: SimTraces) -> None:
    rows = _rows(sim_traces.get("mixed", seconds=0.3))
    got = {r["state"] for r in rows}
    assert got >= {"unknown", "guest", "hypervisor", "preempted", "ready", "blocked"} | (
        WAITS - {"wait_unknown"}
    )


def test_bundled_sample_is_current_and_its_truth_follows_the_trace(tmp_path: Path) -> None:
    # ~2 s: reads the 60 k-event sample back with bt2; worth it, the sample is what users
    # open first and what other tests may rely on.
    from tests.support.paths import SAMPLE_TRACE
    from w2a_tui.sim.sample import regenerate

    fresh = tmp_path / "sample"
    regenerate(fresh)
    for name in sorted(p.name for p in SAMPLE_TRACE.iterdir()):
        assert (fresh / name).read_bytes() == (SAMPLE_TRACE / name).read_bytes(), name
    for ours, theirs in zip(truth_paths(fresh), truth_paths(SAMPLE_TRACE), strict=True):
        assert ours.read_bytes() == theirs.read_bytes()
    states = check_trace(SAMPLE_TRACE)
    assert set(states) >= {"blocked", "preempted", "ready"} | (WAITS - {"wait_unknown"})


def test_new_inj_layout_soft_reinjections_never_decide_a_wait(sim_traces: SimTraces) -> None:
    trace = sim_traces.get("new-inj-layout")
    injs = [e.fields for e in read_trace(trace).events if e.name == "kvm_x86_inj_virq"]
    assert injs and all(set(f) == {"vector", "soft", "reinjected"} for f in injs)
    soft = [f for f in injs if f["soft"]]
    assert soft and all(f["vector"] == 0x80 and f["reinjected"] for f in soft)
    assert any(not f["soft"] for f in injs)
    rows = _rows(trace)
    assert {r["source"] for r in rows if r["state"].startswith("wait_")} >= {"inj_virq"}
    assert all(r["vector"] != "128" for r in rows)


def test_bundled_sample_tells_each_vms_story() -> None:
    from tests.support.paths import SAMPLE_TRACE

    time: Counter[tuple[str, str]] = Counter()
    takers: Counter[tuple[str, str]] = Counter()
    with truth_paths(SAMPLE_TRACE)[0].open() as f:
        for r in csv.DictReader(f):
            span = int(r["end_ns"]) - int(r["start_ns"])
            time[(r["vm_name"], r["state"])] += span
            if r["state"] == "preempted":
                takers[(r["vm_name"], r["next_comm"])] += span

    def share(vm: str, states: set[str]) -> float:
        total = sum(t for (name, _), t in time.items() if name == vm)
        return sum(t for (name, st), t in time.items() if name == vm and st in states) / total

    def top_wait(vm: str) -> str:
        return max(WAITS, key=lambda st: time[(vm, st)])

    assert top_wait("qemu:web01") == "wait_net"
    assert top_wait("qemu:db01") == "wait_disk" and share("qemu:db01", {"blocked"}) > 0.02
    assert 0.10 <= share("qemu:batch01", {"preempted"}) <= 0.40
    assert max((t, c) for (vm, c), t in takers.items() if vm == "qemu:batch01")[1] == "cc1"


def _thread_story(back: Readback, tid: int) -> list[str]:
    """The names of the events that concern one thread, in trace order."""
    story = []
    for e in back.events:
        f = e.fields
        if e.name == "sched_switch" and tid in (f["prev_tid"], f["next_tid"]):
            story.append("switch_in" if f["next_tid"] == tid else "switch_out")
        elif e.name.startswith("sched_wak") and f["tid"] == tid:
            story.append(e.name)
        elif e.name.startswith("kvm") and e.tid == tid:
            story.append(e.name.replace("kvm_x86_", "kvm_"))
    return story


def test_mid_guest_vcpus_are_unknown_until_their_first_kvm_event(sim_traces: SimTraces) -> None:
    trace = sim_traces.get("mid-guest")
    back = read_trace(trace)
    lanes, doc = load_truth(trace)
    # The statedump shows where each vCPU thread was: running (6), runnable (2), asleep (5).
    status = {
        e.fields["tid"]: e.fields["status"]
        for e in back.events
        if e.name == "lttng_statedump_process_state"
    }
    first_event = {
        "guest": "kvm_exit",
        "hypervisor": "kvm_inj_virq",
        "preempted": "switch_in",
        "halted": "sched_waking",
    }
    seen = set()
    for vm in doc["vms"]:
        for v in vm["vcpus"]:
            where, tid = v["at_start"], v["tid"]
            seen.add(where)
            story = _thread_story(back, tid)
            assert story[0] == first_event[where], (where, story[:4])
            assert status[tid] == {"guest": 6, "hypervisor": 6, "preempted": 2}.get(where, 5)
            evidence = story.index("kvm_exit" if where == "guest" else "kvm_entry")
            assert all(not s.startswith("kvm_e") for s in story[:evidence])
            rows = lanes[(vm["pid"], v["vcpu"])]
            assert rows[0]["state"] == "unknown"
            assert rows[1]["state"] == ("hypervisor" if where == "guest" else "guest")
    assert seen == set(first_event)


def test_late_start_forks_and_execs_qemu_like_a_real_host(sim_traces: SimTraces) -> None:
    from tests.support.paths import real_manifest

    trace = sim_traces.get("late-start")
    back = read_trace(trace)
    doc = json.loads(truth_paths(trace)[1].read_text())
    assert not back.has_context
    # Field lists exactly as lttng-modules 2.13 writes them in a real trace.
    real = real_manifest()["tracevizlab-simple-kernel"]["fields"]
    by_name = {e.name: e.fields for e in back.events}
    for name in ("sched_process_fork", "sched_process_exec", "sched_wakeup_new"):
        assert list(by_name[name]) == real[name], name
    late = next(vm for vm in doc["vms"] if vm["launched_ns"])
    pid = late["pid"]
    forks = [e.fields for e in back.events if e.name == "sched_process_fork"]
    assert all(f["vtids"] == [f["child_tid"]] and f["_vtids_length"] == 1 for f in forks)
    parent_of = {f["child_tid"]: (f["parent_comm"], f["parent_pid"]) for f in forks}
    assert parent_of[pid] == ("rpc-worker", 1400)  # libvirtd's worker forks QEMU
    assert parent_of[late["vhost_tid"]] == ("kthreadd", 2)
    execs = [(e.ts, e.fields) for e in back.events if e.name == "sched_process_exec"]
    assert [f for _, f in execs] == [
        {"filename": "/usr/bin/qemu-system-x86_64", "tid": pid, "old_tid": pid}
    ]
    assert execs[0][0] > late["launched_ns"]
    statedump = {e.fields["tid"] for e in back.events if e.name.endswith("process_state")}
    lanes, _ = load_truth(trace)
    waited = 0
    for v in late["vcpus"]:
        tid = v["tid"]
        assert tid not in statedump and v["at_start"] == "not_started"
        assert parent_of[tid] == (late["name"], pid)  # the renamed main thread forks them
        comms = [
            e.fields["next_comm"]
            for e in back.events
            if e.name == "sched_switch" and e.fields["next_tid"] == tid
        ]
        assert comms[0] == late["name"] and set(comms[1:]) == {v["comm"]}
        story = _thread_story(back, tid)
        assert story[:2] == ["sched_wakeup_new", "switch_in"]
        waited += story[2:4] == ["switch_out", "sched_waking"]  # blocked until QEMU's `cont`
        rows = lanes[(pid, v["vcpu"])]
        entry = next(e.ts for e in back.events if e.name == "kvm_x86_entry" and e.tid == tid)
        assert rows[0]["state"] == "unknown" and int(rows[0]["end_ns"]) == entry
    io = [e.fields["next_comm"] for e in back.events if e.name == "sched_switch"
          and e.fields["next_tid"] == late["io_tid"]]  # fmt: skip
    assert io[0] == late["name"] and io[-1] == "IO iothread0"
    assert waited > 0
