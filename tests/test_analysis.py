"""The contract's state machine, one transition / rule / identity path per test, on
hand-written event tuples (see tests.support.host.Host)."""

from __future__ import annotations

import pytest

from tests.support.host import (
    PREEMPTED_MARK,
    RUNNING,
    SLEEPING,
    interval_at,
    lane,
    lane_states,
)
from tests.support.scenes import (
    B0,
    HLT,
    IO,
    KWORKER,
    MAIN,
    STRESS,
    V0,
    V1,
    VHOST,
    VM,
    VM_B,
    halt,
    host,
    resume,
    timer_wake,
)
from w2a_tui.model import Reason, Source, State

# ------------------------------------------------------------------ states


def test_idle_timer_wait_full_cycle() -> None:
    h = host().mark(0)
    halt(h, 100)
    timer_wake(h, 200, 1, V0, 0)
    resume(h, 250, vec=0xEC).mark(300)
    r = h.analyze()
    assert lane_states(r, VM, 0) == [
        (0, 101, "unknown"),  # the lane starts at the first kvm_entry
        (101, 110, "guest"),
        (110, 111, "hypervisor"),
        (111, 202, "wait_timer"),
        (202, 250, "ready"),
        (250, 252, "hypervisor"),
        (252, 300, "guest"),
    ]
    _, exit_reason, ev = interval_at(r, VM, 0, 150)
    assert exit_reason == HLT
    assert ev is not None and ev.source is Source.INJ_VIRQ and ev.vector == 0xEC
    assert (ev.emitter_context, ev.waker_context, ev.wakeup_ns) == ("hrtimer", "hrtimer", 202)
    assert ev.waker_tid == 0
    assert interval_at(r, VM, 0, 251)[1] == HLT  # hypervisor after switch-in: last exit
    assert interval_at(r, VM, 0, 210)[1] == -1  # ready: no exit reason
    assert interval_at(r, VM, 0, 105)[1] == -1  # guest


@pytest.mark.parametrize("prev_state", [RUNNING, PREEMPTED_MARK])
def test_runnable_switch_out_is_preempted_by_next_thread(prev_state: int) -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, 1)
    h.switch(21, 0, V0, prev_state, STRESS).switch(60, 0, STRESS, RUNNING, V0)
    h.entry(61, 0, V0, 0).mark(70)
    r = h.analyze()
    state, exit_reason, ev = interval_at(r, VM, 0, 30)
    assert (state, exit_reason) == ("preempted", 1)
    assert ev is not None and (ev.next_tid, ev.next_comm) == (STRESS, "stress-ng")
    assert lane_states(r, VM, 0)[-3:] == [
        (21, 60, "preempted"),
        (60, 61, "hypervisor"),
        (61, 70, "guest"),
    ]


def test_blocked_after_non_hlt_exit_ends_at_wakeup() -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, 30)
    h.switch(21, 0, V0, SLEEPING, 0).runs(1, MAIN).waking(40, 1, MAIN, V0)
    resume(h, 50).mark(60)
    r = h.analyze()
    assert lane_states(r, VM, 0)[3:6] == [
        (21, 40, "blocked"),
        (40, 50, "ready"),
        (50, 52, "hypervisor"),
    ]
    _, exit_reason, ev = interval_at(r, VM, 0, 30)
    assert exit_reason == 30
    assert ev is not None and ev.source is Source.EMPTY and ev.waker_tid == MAIN


def test_halt_polling_is_hypervisor() -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    h.accept(25, 1, -1, 0, 0xEC).inj(26, 0, V0, 0xEC).entry(27, 0, V0, 0).mark(40)
    r = h.analyze()
    assert lane_states(r, VM, 0)[-2:] == [(20, 27, "hypervisor"), (27, 40, "guest")]


@pytest.mark.parametrize(
    ("isa", "reason", "is_wait"),
    [
        (1, 12, True),
        (1, 0x8000_000C, True),  # VMX flag bits above the basic reason
        (1, 0x78, False),
        (2, 0x78, True),  # SVM HLT
        (2, 12, False),  # SVM 12 is a CR write, not HLT
        (-1, 12, True),  # no isa field: 12
    ],
)
def test_hlt_detection_per_isa(isa: int, reason: int, is_wait: bool) -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, reason, isa=isa)
    h.switch(21, 0, V0, SLEEPING, 0).mark(40)
    state = interval_at(h.analyze(), VM, 0, 30)[0]
    assert state == ("wait_unknown" if is_wait else "blocked")


def test_waits_end_at_switch_in_without_wakeup_events() -> None:
    h = host().mark(0)
    halt(h, 10)
    resume(h, 50, vec=0xFD).mark(60)
    r = h.analyze()
    assert lane_states(r, VM, 0)[3:] == [
        (21, 50, "wait_task"),
        (50, 52, "hypervisor"),
        (52, 60, "guest"),
    ]
    assert any("no sched_waking" in w for w in r.warnings)


def test_sched_wakeup_is_used_only_when_the_trace_has_no_sched_waking() -> None:
    only_wakeup = host().mark(0)
    halt(only_wakeup, 10).runs(1, 0).wakeup(30, 1, 0, V0)
    resume(only_wakeup, 50).mark(60)
    assert interval_at(only_wakeup.analyze(), VM, 0, 40)[0] == "ready"

    both = host().mark(0)
    halt(both, 10).waking(30, 1, 0, V0).wakeup(35, 1, 0, V0)
    resume(both, 50).mark(60)
    assert lane_states(both.analyze(), VM, 0)[4] == (30, 50, "ready")


def test_open_wait_at_trace_end_keeps_evidence_so_far() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, VHOST).accept(30, 1, VHOST, 0, 0x51).mark(100)
    r = h.analyze()
    assert lane_states(r, VM, 0)[-1] == (21, 100, "wait_net")
    assert interval_at(r, VM, 0, 50)[2].source is Source.APIC_ACCEPT_IRQ  # type: ignore[union-attr]


def test_open_wait_without_evidence_is_wait_unknown_with_source_none() -> None:
    h = host().mark(0)
    halt(h, 10).mark(100)
    _, _, ev = interval_at(h.analyze(), VM, 0, 50)
    assert ev is not None and ev.source is Source.NONE


# ------------------------------------------------------------------ reason rules


def test_rule1_first_injection_after_switch_in_wins_over_accept() -> None:
    h = host().mark(0)
    halt(h, 10)
    timer_wake(h, 30, 1, V0, 0, vec=0xEC)
    h.switch(50, 0, 0, RUNNING, V0).inj(51, 0, V0, 0xFD).inj(52, 0, V0, 0xEC).entry(53, 0, V0, 0)
    h.mark(60)
    ev = interval_at(h.analyze(), VM, 0, 25)[2]
    assert ev is not None and (ev.source, ev.vector) == (Source.INJ_VIRQ, 0xFD)
    assert interval_at(h.analyze(), VM, 0, 25)[0] == "wait_task"


def test_soft_injection_is_ignored() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.switch(50, 0, 0, RUNNING, V0).inj(51, 0, V0, 0xEC, soft=1).inj(52, 0, V0, 0xFD)
    h.entry(53, 0, V0, 0).mark(60)
    assert interval_at(h.analyze(), VM, 0, 25)[0] == "wait_task"


def test_injection_after_the_next_entry_does_not_count() -> None:
    h = host().mark(0)
    halt(h, 10)
    resume(h, 50).inj(55, 0, V0, 0xEC).mark(60)
    ev = interval_at(h.analyze(), VM, 0, 25)[2]
    assert ev is not None and ev.source is Source.NONE


def test_rule2_apicv_accept_from_hrtimer_context() -> None:
    h = host().mark(0)
    halt(h, 10)
    timer_wake(h, 30, 1, V0, 0)
    resume(h, 50).mark(60)
    r = h.analyze()
    state, _, ev = interval_at(r, VM, 0, 25)
    assert state == "wait_timer"
    assert ev is not None and (ev.source, ev.vector, ev.emitter_context) == (
        Source.APIC_ACCEPT_IRQ,
        0xEC,
        "hrtimer",
    )
    assert any("no kvm_inj_virq" in w for w in r.warnings)


def test_rule2_last_accept_in_window_wins() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, V1).accept(25, 1, V1, 0, 0xFC).runs(2, IO).accept(27, 2, IO, 0, 0x41)
    h.waking(28, 2, IO, V0)
    resume(h, 50).mark(60)
    state, _, ev = interval_at(h.analyze(), VM, 0, 20 + 3)
    assert ev is not None and ev.vector == 0x41 and ev.emitter_tid == IO
    assert state == "wait_disk"


def test_rule2_accept_after_wakeup_is_outside_the_window() -> None:
    h = host().mark(0)
    halt(h, 10).runs(1, MAIN).waking(30, 1, MAIN, V0).accept(31, 1, MAIN, 0, 0x41)
    resume(h, 50).mark(60)
    ev = interval_at(h.analyze(), VM, 0, 25)[2]
    assert ev is not None and ev.source is Source.WAKER  # main thread waker -> disk


def test_interrupt_context_accept_belongs_to_the_vm_it_wakes() -> None:
    """Two VMs both have vCPU 0 waiting; the hrtimer (running over VM A's other vCPU
    thread) accepts for apicid 0 and wakes VM B's vCPU: only VM B gets the accept."""
    h = host().mark(0)
    halt(h, 10, cpu=0, tid=V0)
    halt(h, 12, cpu=2, tid=B0)
    h.switch(15, 1, 0, RUNNING, V1).entry(16, 1, V1, 1)
    h.hrtimer_entry(30, 1).accept(31, 1, -1, 0, 0xEC).waking(32, 1, -1, B0).hrtimer_exit(33, 1)
    resume(h, 40, cpu=2, tid=B0)
    resume(h, 45, cpu=0, tid=V0).mark(60)
    r = h.analyze()
    ev_b = interval_at(r, VM_B, 0, 25)[2]
    assert ev_b is not None and ev_b.source is Source.APIC_ACCEPT_IRQ
    assert interval_at(r, VM_B, 0, 25)[0] == "wait_timer"
    ev_a = interval_at(r, VM, 0, 25)[2]
    assert ev_a is not None and ev_a.source is Source.NONE


def test_kworker_accept_that_wakes_no_vcpu_belongs_to_no_vm() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.switch(20, 1, 0, RUNNING, KWORKER).accept(25, 1, KWORKER, 0, 0x41)
    h.switch(26, 1, KWORKER, SLEEPING, 0)
    resume(h, 50).mark(60)
    ev = interval_at(h.analyze(), VM, 0, 30)[2]
    assert ev is not None and ev.source is Source.NONE


def test_kworker_accept_that_wakes_a_vcpu_belongs_to_its_vm() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.switch(20, 1, 0, RUNNING, KWORKER).accept(25, 1, KWORKER, 0, 0xEC)
    h.waking(26, 1, KWORKER, V0)
    resume(h, 50).mark(60)
    state, _, ev = interval_at(h.analyze(), VM, 0, 22)
    assert ev is not None and ev.source is Source.APIC_ACCEPT_IRQ and ev.emitter_tid == KWORKER
    assert state == "wait_timer"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("hrtimer", "wait_timer"),
        ("net_rx", "wait_net"),
        ("net_tx", "wait_net"),
        ("block", "wait_disk"),
        ("vhost", "wait_net"),
        ("main", "wait_disk"),
        ("iothread", "wait_disk"),
        ("other_vcpu", "wait_task"),
        ("kworker", "wait_unknown"),
        ("hardirq", "wait_unknown"),
        ("rcu_softirq", "wait_unknown"),
    ],
)
def test_rule3_waker_context(setup: str, expected: str) -> None:
    h = host().mark(0)
    h.switch(1, 3, 0, RUNNING, V1).entry(2, 3, V1, 1)  # vCPU 1 is known as a vCPU thread
    halt(h, 10)
    if setup == "hrtimer":
        h.hrtimer_entry(30, 1).waking(31, 1, -1, V0).hrtimer_exit(32, 1)
    elif setup in ("net_rx", "net_tx", "block", "rcu_softirq"):
        vec = {"net_rx": 3, "net_tx": 2, "block": 4, "rcu_softirq": 9}[setup]
        h.softirq_entry(30, 1, vec).waking(31, 1, -1, V0).softirq_exit(32, 1, vec)
    elif setup == "hardirq":
        h.irq_entry(30, 1, 42, "virtio1-req.0").waking(31, 1, -1, V0).irq_exit(32, 1, 42)
    else:
        tid = {"vhost": VHOST, "main": MAIN, "iothread": IO, "other_vcpu": V1, "kworker": KWORKER}
        h.runs(1, tid[setup]).waking(31, 1, tid[setup], V0)
    resume(h, 50).mark(60)
    state, _, ev = interval_at(h.analyze(), VM, 0, 25)
    assert state == expected
    assert ev is not None
    assert ev.source is (Source.NONE if expected == "wait_unknown" else Source.WAKER)


def test_waker_from_another_vms_vcpu_is_not_task() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, B0).waking(31, 1, B0, V0)
    resume(h, 50).mark(60)
    assert interval_at(h.analyze(), VM, 0, 25)[0] == "wait_unknown"


# ------------------------------------------------------------------ vectors


@pytest.mark.parametrize(
    ("emitter", "vec", "expected"),
    [
        (MAIN, 0x41, "wait_disk"),
        (IO, 0x42, "wait_disk"),
        (VHOST, 0x51, "wait_net"),
        (V1, 0x30, "wait_task"),  # another vCPU thread: an IPI
        (KWORKER, 0x44, "wait_unknown"),  # a shared host thread teaches nothing
    ],
)
def test_device_vectors_are_learned_per_vm(emitter: int, vec: int, expected: str) -> None:
    h = host().mark(0)
    # Learning happens outside any wait (vCPU 1 runs the guest meanwhile).
    h.switch(1, 3, 0, RUNNING, V1).entry(2, 3, V1, 1)
    h.runs(1, emitter).accept(5, 1, emitter, 0, vec)
    halt(h, 10)
    resume(h, 50, vec=vec).mark(60)
    r = h.analyze()
    assert interval_at(r, VM, 0, 25)[0] == expected
    info = next(vm for vm in r.vms if vm.pid == VM)
    assert (vec in info.disk_vectors) == (expected == "wait_disk")
    assert (vec in info.net_vectors) == (expected == "wait_net")


def test_learned_vectors_do_not_leak_to_another_vm() -> None:
    h = host().mark(0)
    h.switch(1, 3, 0, RUNNING, V1).entry(2, 3, V1, 1)
    h.runs(1, MAIN).accept(5, 1, MAIN, 1, 0x41)
    halt(h, 10, cpu=2, tid=B0)
    resume(h, 50, cpu=2, tid=B0, vec=0x41).mark(60)
    assert interval_at(h.analyze(), VM_B, 0, 25)[0] == "wait_unknown"


def test_vector_taught_by_the_rule2_emitter_of_that_wait() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, VHOST).accept(30, 1, VHOST, 0, 0x61).waking(31, 1, VHOST, V0)
    resume(h, 50, vec=0x61).mark(60)
    state, _, ev = interval_at(h.analyze(), VM, 0, 25)
    assert state == "wait_net" and ev is not None and ev.source is Source.INJ_VIRQ


@pytest.mark.parametrize(
    ("vec", "expected"),
    [
        (0xEC, "wait_timer"),
        (0xEF, "wait_timer"),
        (0xFB, "wait_task"),
        (0xFC, "wait_task"),
        (0xFD, "wait_task"),
        (0xF6, "wait_task"),
        (0xEE, "wait_unknown"),
        (0x99, "wait_unknown"),
    ],
)
def test_default_vector_table(vec: int, expected: str) -> None:
    h = host().mark(0)
    halt(h, 10)
    resume(h, 50, vec=vec).mark(60)
    assert interval_at(h.analyze(), VM, 0, 25)[0] == expected


def test_vector_table_is_configurable() -> None:
    h = host().mark(0)
    halt(h, 10)
    resume(h, 50, vec=0xD1).mark(60)
    table = {0xD1: Reason.TIMER, 0xE1: Reason.TASK}
    assert interval_at(h.analyze(table), VM, 0, 25)[0] == "wait_timer"
    h2 = host().mark(0)
    halt(h2, 10)
    resume(h2, 50, vec=0xEC).mark(60)
    assert interval_at(h2.analyze(table), VM, 0, 25)[0] == "wait_unknown"


# ------------------------------------------------------------------ identity


def test_two_vms_with_the_same_vcpu_ids_never_mix() -> None:
    h = host().mark(0)
    halt(h, 10, cpu=0, tid=V0)
    h.switch(10, 2, 0, RUNNING, B0).entry(11, 2, B0, 0).exit(20, 2, B0, 1)
    h.switch(21, 2, B0, RUNNING, STRESS)
    resume(h, 50, cpu=0, tid=V0, vec=0xEC)
    h.switch(55, 2, STRESS, RUNNING, B0).entry(56, 2, B0, 0).mark(60)
    r = h.analyze()
    assert [(x.vm_pid, x.vcpu, x.tid) for x in r.lanes] == [(VM, 0, V0), (VM_B, 0, B0)]
    assert interval_at(r, VM, 0, 30)[0] == "wait_timer"
    assert interval_at(r, VM_B, 0, 30)[0] == "preempted"
    assert lane(r, VM, 0).exit_counts == {HLT: 1}
    assert lane(r, VM_B, 0).exit_counts == {1: 1}


def test_without_contexts_threads_come_from_sched_switch_and_statedump() -> None:
    h = host(contexts=False)
    for tid in (MAIN, V0, VM_B, B0):
        h.statedump(1, tid)
    h.statedump(2, STRESS, status=6, cpu=2)  # LTTNG_RUN on CPU 2: seeds its current thread
    halt(h, 10, cpu=0, tid=V0)
    h.exit(12, 2, -1, 30)  # STRESS is not a vCPU: no lane, but V... none either
    h.switch(15, 2, STRESS, RUNNING, B0).entry(16, 2, B0, 0).exit(20, 2, B0, 1)
    h.switch(22, 2, B0, RUNNING, STRESS)
    resume(h, 50, cpu=0, tid=V0, vec=0xEC).mark(60)
    r = h.analyze()
    assert [(x.vm_pid, x.vcpu, x.tid, x.comm) for x in r.lanes] == [
        (VM, 0, V0, "CPU 0/KVM"),
        (VM_B, 0, B0, "CPU 0/KVM"),
    ]
    assert interval_at(r, VM, 0, 30)[0] == "wait_timer"
    state, _, ev = interval_at(r, VM_B, 0, 30)
    assert state == "preempted" and ev is not None and ev.next_comm == "stress-ng"
    assert [vm.name for vm in r.vms] == ["qemu-system-x86", "qemu-system-x86"]


def test_without_contexts_fork_gives_the_vm_pid() -> None:
    h = host(contexts=False)
    h.thread(301, 300, "CPU 0/KVM").thread(300, 300, "qemu-kvm")
    h.switch(5, 0, 0, RUNNING, 300).fork(6, 0, 300, 301).switch(7, 0, 300, SLEEPING, 301)
    h.entry(8, 0, 301, 0).mark(20)
    r = h.analyze()
    assert [(x.vm_pid, x.vcpu) for x in r.lanes] == [(300, 0)]
    assert r.vms[0].name == "qemu-kvm"


def test_without_any_pid_source_vcpus_go_to_pseudo_vms_with_a_warning() -> None:
    h = host(contexts=False)
    h.thread(401, 999, "CPU 0/KVM").thread(402, 999, "CPU 0/KVM")
    h.switch(5, 0, 0, RUNNING, 401).entry(6, 0, 401, 0)
    h.switch(5, 1, 0, RUNNING, 402).entry(7, 1, 402, 0).mark(20)
    r = h.analyze()
    assert sorted((x.vm_pid, x.vcpu) for x in r.lanes) == [(-2, 0), (-1, 0)]
    assert any("unidentified VMs" in w for w in r.warnings)


def test_vm_name_from_guest_option_of_the_command_line() -> None:
    h = host().mark(0)
    h.exec(1, 0, MAIN, "/usr/bin/qemu-system-x86_64 -name guest=web01,debug-threads=on")
    halt(h, 10).mark(30)
    assert h.analyze().vms[0].name == "web01"


def test_vm_name_is_main_thread_comm() -> None:
    h = host().mark(0)
    h.statedump(1, MAIN)
    halt(h, 10).mark(30)
    assert h.analyze().vms[0].name == "qemu-system-x86"


def test_exit_with_vcpu_id_starts_the_lane_at_that_exit() -> None:
    h = host().mark(0)
    h.exit(20, 0, V0, 48, vcpu=0).entry(25, 0, V0, 0).mark(30)
    assert lane_states(h.analyze(), VM, 0) == [
        (0, 20, "unknown"),
        (20, 25, "hypervisor"),
        (25, 30, "guest"),
    ]


def test_exit_without_vcpu_id_is_kept_until_the_entry_names_the_vcpu() -> None:
    h = host().mark(0)
    h.exit(20, 0, V0, 48).entry(25, 0, V0, 3).mark(30)
    r = h.analyze()
    assert lane_states(r, VM, 3) == [(0, 20, "unknown"), (20, 25, "hypervisor"), (25, 30, "guest")]
    assert lane(r, VM, 3).exit_counts == {48: 1}


def test_events_before_the_first_entry_are_not_attributed() -> None:
    """The vCPU was asleep at trace start: its wake-up, switch-in and injection come before
    its first kvm_entry, the first evidence that the thread runs vCPU 0."""
    h = host().mark(0)
    h.runs(1, MAIN).waking(20, 1, MAIN, V0)
    h.switch(30, 0, 0, RUNNING, V0).inj(31, 0, V0, 0x41).entry(32, 0, V0, 0).mark(40)
    h.switch(10, 2, V1, RUNNING, STRESS).switch(35, 2, STRESS, RUNNING, V1).entry(36, 2, V1, 1)
    r = h.analyze()
    assert lane_states(r, VM, 0) == [(0, 32, "unknown"), (32, 40, "guest")]
    assert lane_states(r, VM, 1) == [(0, 36, "unknown"), (36, 40, "guest")]


# ------------------------------------------------------------------ robustness


def test_lost_events_warn_and_do_not_crash() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.lost(30, 0, 17, 45)
    h.entry(50, 0, V0, 0).mark(60)  # the switch-in was lost
    r = h.analyze()
    assert any("17 events were lost on CPU 0" in w for w in r.warnings)
    assert lane_states(r, VM, 0)[-1] == (50, 60, "guest")


def test_lanes_are_contiguous_and_cover_the_trace() -> None:
    h = host().mark(0)
    halt(h, 10)
    timer_wake(h, 30, 1, V0, 0)
    resume(h, 50, vec=0xEC)
    h.exit(60, 0, V0, 1).switch(60, 0, V0, RUNNING, STRESS).mark(90)
    data = lane(h.analyze(), VM, 0)
    assert data.starts[0] == 0 and data.end_ns == 90
    assert all(data.starts[i] < data.starts[i + 1] for i in range(len(data) - 1))
    assert State(data.states[-1]) is State.PREEMPTED


def test_no_vcpu_means_no_lanes() -> None:
    h = host().mark(0)
    h.switch(5, 0, 0, RUNNING, STRESS).waking(6, 0, STRESS, KWORKER).mark(10)
    r = h.analyze()
    assert r.lanes == [] and r.vms == []


# ------------------------------------------------------------------ lost events: resync


def test_lost_events_make_the_running_vcpu_unknown_until_its_next_event() -> None:
    """Its CPU lost events while it ran: it may have exited, blocked or moved unseen."""
    h = host().mark(0)
    h.switch(5, 0, 0, RUNNING, V0).entry(10, 0, V0, 0)
    h.lost(30, 0, 17, 45)
    h.exit(50, 0, V0, 1).entry(55, 0, V0, 0).mark(60)
    assert lane_states(h.analyze(), VM, 0) == [
        (0, 10, "unknown"),
        (10, 30, "guest"),
        (30, 50, "unknown"),  # the window and the recorded events that follow it
        (50, 55, "hypervisor"),
        (55, 60, "guest"),
    ]


def test_after_lost_events_a_wake_up_still_proves_ready() -> None:
    h = host().mark(0)
    h.switch(5, 0, 0, RUNNING, V0).entry(10, 0, V0, 0)
    h.lost(30, 0, 17, 45)
    h.switch(50, 0, STRESS, RUNNING, 0)  # someone else ran there: V0 had left unseen
    timer_wake(h, 60, 1, V0, 0)
    h.switch(70, 0, 0, RUNNING, V0).entry(72, 0, V0, 0).mark(80)
    assert lane_states(h.analyze(), VM, 0)[1:] == [
        (10, 30, "guest"),
        (30, 62, "unknown"),  # blocked, wait or preempted: the switch-out was lost
        (62, 70, "ready"),
        (70, 72, "hypervisor"),
        (72, 80, "guest"),
    ]


def test_a_blocking_switch_out_after_lost_events_is_unknown_then_ready() -> None:
    """The exits before it were lost: wait and blocked cannot be told apart."""
    h = host().mark(0)
    h.switch(5, 0, 0, RUNNING, V0).entry(10, 0, V0, 0)
    h.lost(30, 0, 17, 45)
    h.switch(50, 0, V0, SLEEPING, 0)
    timer_wake(h, 60, 1, V0, 0)
    resume(h, 70, vec=0xEC).mark(80)
    states = [s for _, _, s in lane_states(h.analyze(), VM, 0)]
    assert states == ["unknown", "guest", "unknown", "ready", "hypervisor", "guest"]


def test_a_switch_in_lost_on_another_cpu_makes_the_wait_unknown_from_that_window() -> None:
    h = host().mark(0)
    halt(h, 10)  # blocked at 21 after HLT
    h.lost(40, 1, 5, 55)
    h.exit(60, 1, V0, 1).mark(70)  # it runs on CPU 1: the switch-in there was lost
    assert lane_states(h.analyze(), VM, 0)[-3:] == [
        (21, 40, "wait_unknown"),
        (40, 60, "unknown"),
        (60, 70, "hypervisor"),
    ]


def test_a_contradiction_without_lost_events_just_resynchronises() -> None:
    """The thread shows up on another CPU with no loss to explain it: no `unknown` made up."""
    h = host().mark(0)
    h.switch(5, 0, 0, RUNNING, V0).entry(10, 0, V0, 0)
    h.exit(20, 2, V0, 1).entry(25, 2, V0, 0).mark(30)
    assert lane_states(h.analyze(), VM, 0)[1:] == [
        (10, 20, "guest"),
        (20, 25, "hypervisor"),
        (25, 30, "guest"),
    ]


def test_a_second_wake_up_proves_an_unseen_run() -> None:
    """Only a sleeping task is woken: a preempted thread woken again ran and slept unseen."""
    h = host().mark(0)
    h.switch(5, 0, 0, RUNNING, V0).entry(10, 0, V0, 0).exit(20, 0, V0, 1)
    h.switch(21, 0, V0, RUNNING, STRESS)  # preempted
    h.lost(40, 1, 30, 48)
    h.mark(50, 1)  # the window on CPU 1 ends
    timer_wake(h, 60, 2, V0, 0)
    h.switch(70, 0, STRESS, RUNNING, V0).mark(80)
    assert lane_states(h.analyze(), VM, 0)[-4:] == [
        (21, 40, "preempted"),
        (40, 62, "unknown"),
        (62, 70, "ready"),
        (70, 80, "hypervisor"),
    ]


def test_ready_while_a_cpu_loses_events_is_unknown() -> None:
    """A woken thread may be switched in on the CPU that loses events, unseen."""
    h = host().mark(0)
    halt(h, 10)
    timer_wake(h, 30, 1, V0, 0)  # ready from 32
    h.lost(40, 2, 9, 45)
    resume(h, 50, vec=0xEC).mark(60)
    assert lane_states(h.analyze(), VM, 0)[-5:] == [
        (21, 32, "wait_timer"),
        (32, 40, "ready"),
        (40, 50, "unknown"),
        (50, 52, "hypervisor"),
        (52, 60, "guest"),
    ]


def test_without_contexts_lost_events_forget_who_runs_on_the_cpu() -> None:
    """No tid context: after a loss the CPU's current thread is unknown until its next
    sched_switch, so the KVM events in between are not given to a possibly wrong thread;
    that switch's prev_tid names them, and the thread's lane continues with them."""
    h = host(contexts=False).mark(0).statedump(1, V0, cpu=3)
    h.switch(5, 0, 0, RUNNING, V0).entry(10, 0, V0, 0)
    h.lost(30, 0, 17, 45)
    h.exit(50, 0, V0, 1)  # whose? the switch to another thread may have been lost
    h.switch(60, 0, V0, RUNNING, STRESS).mark(70)
    r = h.analyze()
    assert lane_states(r, VM, 0)[1:] == [
        (10, 30, "guest"),
        (30, 50, "unknown"),
        (50, 60, "hypervisor"),
        (60, 70, "preempted"),
    ]
    assert [(x.vm_pid, x.vcpu, x.tid) for x in r.lanes] == [(VM, 0, V0)]
    assert not any("were ignored" in w for w in r.warnings)
