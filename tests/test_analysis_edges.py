"""Real-kernel edge cases the simulator does not produce, one per test, on hand-written
tuples (round-3 audit of the analysis against vcpu-states.md).

Each test says which kernel behaviour or contract sentence it pins."""

from __future__ import annotations

import pytest

from tests.support.host import PREEMPTED_MARK, RUNNING, SLEEPING, interval_at, lane, lane_states
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
from w2a_tui.model import Source

HRTIMER_SOFTIRQ, NET_RX = 8, 3
VM_B_VHOST = 204


# ------------------------------------------------------------------ wake-ups


@pytest.mark.parametrize("prev_state", [RUNNING, PREEMPTED_MARK])
def test_woken_before_it_switched_out_is_preempted_not_waiting(prev_state: int) -> None:
    """try_to_wake_up on a task still on its CPU (it set TASK_INTERRUPTIBLE after the HLT
    exit but had not scheduled yet) makes it runnable again: its switch-out then reports a
    runnable prev_state, so it is preempted, and the waking proves nothing."""
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    timer_wake(h, 21, 1, V0, 0)  # waking at 23, V0 still on CPU 0
    h.switch(30, 0, V0, prev_state, STRESS).switch(40, 0, STRESS, RUNNING, V0)
    h.entry(41, 0, V0, 0).mark(50)
    assert lane_states(h.analyze(), VM, 0)[2:] == [
        (20, 30, "hypervisor"),
        (30, 40, "preempted"),
        (40, 41, "hypervisor"),
        (41, 50, "guest"),
    ]


def test_woken_during_its_blocking_switch_out_is_ready_from_the_switch_out() -> None:
    """The waker's try_to_wake_up runs after __schedule() read the sleeping state but
    before the switch was traced: sched_waking comes first, then a blocking switch-out.
    The thread is already woken when it leaves the CPU: `ready` until its switch-in."""
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    h.runs(1, IO).waking(21, 1, IO, V0).switch(22, 0, V0, SLEEPING, 0)
    resume(h, 40).mark(50)
    r = h.analyze()
    assert lane_states(r, VM, 0)[2:] == [
        (20, 22, "hypervisor"),
        (22, 40, "ready"),
        (40, 42, "hypervisor"),
        (42, 50, "guest"),
    ]
    ev = interval_at(r, VM, 0, 30)[2]
    assert ev is not None and (ev.waker_tid, ev.waker_context) == (IO, "task")


def test_a_wake_up_before_a_halt_poll_entry_does_not_carry_over_to_a_later_block() -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    h.runs(1, IO).waking(21, 1, IO, V0).entry(22, 0, V0, 0).exit(30, 0, V0, HLT)
    h.switch(31, 0, V0, SLEEPING, 0).mark(50)
    assert lane_states(h.analyze(), VM, 0)[-1] == (31, 50, "wait_unknown")


def test_a_wake_up_never_turns_preempted_into_ready() -> None:
    """Only the switch-in ends `preempted` (a runnable task is not woken: a stray waking
    of it, with no lost events to explain it, changes nothing)."""
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, 1)
    h.switch(21, 0, V0, RUNNING, STRESS).runs(1, MAIN).waking(30, 1, MAIN, V0)
    h.wakeup(31, 1, MAIN, V0).switch(40, 0, STRESS, RUNNING, V0).entry(41, 0, V0, 0).mark(50)
    assert lane_states(h.analyze(), VM, 0)[3:] == [
        (21, 40, "preempted"),
        (40, 41, "hypervisor"),
        (41, 50, "guest"),
    ]


def test_the_first_of_two_wakings_ends_the_wait_and_names_the_waker() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, IO).waking(30, 1, IO, V0).runs(2, VHOST).waking(35, 2, VHOST, V0)
    resume(h, 50).mark(60)
    r = h.analyze()
    assert lane_states(r, VM, 0)[3:5] == [(21, 30, "wait_disk"), (30, 50, "ready")]
    ev = interval_at(r, VM, 0, 25)[2]
    assert ev is not None and (ev.waker_tid, ev.wakeup_ns) == (IO, 30)
    assert ev.waker_comm == "IO iothread0"
    ready = interval_at(r, VM, 0, 40)[2]
    assert ready is not None and (ready.waker_tid, ready.wakeup_ns) == (IO, 30)


def test_sched_wakeup_after_sched_waking_of_the_same_wake_up_is_ignored() -> None:
    """Both events of one try_to_wake_up: the waking (on the waker's CPU) decides; the
    wakeup (which may carry another context, e.g. on the target CPU) changes nothing."""
    h = host().mark(0)
    halt(h, 10)
    h.hrtimer_entry(30, 1).waking(31, 1, -1, V0).hrtimer_exit(32, 1)
    h.softirq_entry(33, 2, NET_RX).wakeup(34, 2, -1, V0).softirq_exit(35, 2, NET_RX)
    resume(h, 50).mark(60)
    r = h.analyze()
    assert lane_states(r, VM, 0)[3:5] == [(21, 31, "wait_timer"), (31, 50, "ready")]


# ------------------------------------------------------------------ migration, polling


@pytest.mark.parametrize("contexts", [True, False])
def test_a_vcpu_that_migrates_is_followed_on_its_new_cpu(contexts: bool) -> None:
    """Switched out (preempted) on CPU 1, switched in on CPU 3, kvm_entry on CPU 3: a
    plain migration, not a lost switch-in (no `unknown`)."""
    h = host(contexts=contexts).mark(0)
    for tid in (MAIN, V0):
        h.statedump(1, tid)
    h.switch(10, 1, 0, RUNNING, V0).entry(11, 1, V0, 0).exit(20, 1, V0, 48)
    h.switch(21, 1, V0, RUNNING, STRESS).switch(40, 3, 0, RUNNING, V0)
    h.entry(41, 3, V0, 0).exit(45, 3, V0, 30).mark(50)
    assert lane_states(h.analyze(), VM, 0) == [
        (0, 11, "unknown"),
        (11, 20, "guest"),
        (20, 21, "hypervisor"),
        (21, 40, "preempted"),
        (40, 41, "hypervisor"),
        (41, 45, "guest"),
        (45, 50, "hypervisor"),
    ]


def test_halt_poll_success_then_hlt_and_block_is_one_wait() -> None:
    """A successful halt-poll (HLT exit, kvm_entry without switch-out) is `hypervisor`;
    the next HLT that blocks is the wait, and the interrupt accepted during the poll does
    not leak into it."""
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    h.runs(1, IO).accept(22, 1, IO, 0, 0x41).inj(25, 0, V0, 0x41).entry(26, 0, V0, 0)
    h.exit(40, 0, V0, HLT).switch(41, 0, V0, SLEEPING, 0)
    h.runs(2, KWORKER).waking(60, 2, KWORKER, V0)
    resume(h, 70).mark(80)
    r = h.analyze()
    assert lane_states(r, VM, 0)[1:6] == [
        (11, 20, "guest"),
        (20, 26, "hypervisor"),
        (26, 40, "guest"),
        (40, 41, "hypervisor"),
        (41, 60, "wait_unknown"),
    ]
    assert interval_at(r, VM, 0, 23)[1] == HLT
    ev = interval_at(r, VM, 0, 50)[2]
    assert ev is not None and ev.source is Source.NONE and ev.vector == -1
    assert lane(r, VM, 0).exit_counts == {HLT: 2}


def test_an_injection_before_the_switch_out_does_not_decide_the_wait() -> None:
    """A stray kvm_inj_virq from the entry before the HLT is outside rule 1's window."""
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).inj(11, 0, V0, 0xEC).entry(12, 0, V0, 0)
    h.exit(20, 0, V0, HLT).inj(20, 0, V0, 0xFD).switch(21, 0, V0, SLEEPING, 0)
    h.runs(1, MAIN).waking(30, 1, MAIN, V0)
    resume(h, 50).mark(60)
    state, _, ev = interval_at(h.analyze(), VM, 0, 25)
    assert (state, ev.source if ev else None) == ("wait_disk", Source.WAKER)


def test_preempted_between_switch_in_and_entry_keeps_rule_1_open() -> None:
    """Rule 1 looks for the first injection after the switch-in and before the next
    kvm_entry: a preemption on the way (runnable switch-out) does not close that window."""
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, KWORKER).waking(30, 1, KWORKER, V0)
    h.switch(40, 0, 0, RUNNING, V0).switch(41, 0, V0, RUNNING, STRESS)
    h.switch(50, 0, STRESS, RUNNING, V0).inj(51, 0, V0, 0xFD).entry(52, 0, V0, 0).mark(60)
    r = h.analyze()
    assert lane_states(r, VM, 0)[3:] == [
        (21, 30, "wait_task"),
        (30, 40, "ready"),
        (40, 41, "hypervisor"),
        (41, 50, "preempted"),
        (50, 52, "hypervisor"),
        (52, 60, "guest"),
    ]
    ev = interval_at(r, VM, 0, 25)[2]
    assert ev is not None and (ev.source, ev.vector) == (Source.INJ_VIRQ, 0xFD)


def test_a_spurious_wake_up_then_blocking_again_opens_a_second_wait() -> None:
    """kvm_vcpu_block loops: woken while kvm_vcpu_check_block() still says halt, the thread
    schedules out again with no exit in between (the last exit is still HLT). The first
    wait is decided by rules 2-4, the second by the injection after its own switch-in."""
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, VHOST).waking(30, 1, VHOST, V0)
    h.switch(40, 0, 0, RUNNING, V0).switch(41, 0, V0, SLEEPING, 0)
    timer_wake(h, 60, 1, V0, 0)
    resume(h, 70, vec=0xEC).mark(80)
    r = h.analyze()
    assert lane_states(r, VM, 0)[3:] == [
        (21, 30, "wait_net"),
        (30, 40, "ready"),
        (40, 41, "hypervisor"),
        (41, 62, "wait_timer"),
        (62, 70, "ready"),
        (70, 72, "hypervisor"),
        (72, 80, "guest"),
    ]
    assert interval_at(r, VM, 0, 25)[2].source is Source.WAKER  # type: ignore[union-attr]
    assert interval_at(r, VM, 0, 50)[2].source is Source.INJ_VIRQ  # type: ignore[union-attr]
    assert interval_at(r, VM, 0, 40)[1] == HLT


# ------------------------------------------------------------------ interrupt contexts


def test_hrtimer_nested_in_a_softirq_wakes_as_timer_and_the_softirq_resumes() -> None:
    """hrtimers run in HRTIMER_SOFTIRQ on PREEMPT_RT or soft mode: the innermost context
    (hrtimer) decides; once it exits, a wake-up in the outer NET_RX softirq is net."""
    h = host().mark(0)
    halt(h, 10, cpu=0, tid=V0)
    halt(h, 12, cpu=2, tid=V1, vcpu=1)
    h.softirq_entry(30, 1, NET_RX).hrtimer_entry(31, 1).accept(32, 1, -1, 0, 0xEC)
    h.waking(33, 1, -1, V0).hrtimer_exit(34, 1).waking(35, 1, -1, V1).softirq_exit(36, 1, NET_RX)
    resume(h, 50, cpu=0, tid=V0).mark(60)
    resume(h, 52, cpu=2, tid=V1, vcpu=1)
    r = h.analyze()
    state, _, ev = interval_at(r, VM, 0, 25)
    assert state == "wait_timer"
    assert ev is not None and (ev.source, ev.emitter_context, ev.waker_context) == (
        Source.APIC_ACCEPT_IRQ,
        "hrtimer",
        "hrtimer",
    )
    state, _, ev = interval_at(r, VM, 1, 25)
    assert state == "wait_net" and ev is not None
    assert (ev.source, ev.waker_context) == (Source.WAKER, "softirq:NET_RX")


def test_hrtimer_nested_in_a_hardirq_is_the_waker_context() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.irq_entry(30, 1, 42, "eth0").hrtimer_entry(31, 1).waking(32, 1, -1, V0)
    h.hrtimer_exit(33, 1).irq_exit(34, 1, 42)
    resume(h, 50).mark(60)
    assert interval_at(h.analyze(), VM, 0, 25)[0] == "wait_timer"


def test_accept_in_an_irq_over_another_vms_vhost_belongs_to_the_vm_it_wakes() -> None:
    """A passthrough/NIC interrupt lands while VM B's vhost thread runs: its accept for
    apicid 0 belongs to VM A (whose vCPU 0 the interrupt wakes), teaches VM B nothing and
    is not given to VM B's waiting vCPU 0."""
    h = host().mark(0).thread(VM_B_VHOST, VM_B_VHOST, "vhost-200")
    halt(h, 10, cpu=0, tid=V0)
    halt(h, 12, cpu=2, tid=B0)
    h.switch(20, 1, 0, RUNNING, VM_B_VHOST)
    h.irq_entry(30, 1, 77, "vfio-msix[0]").accept(31, 1, -1, 0, 0x61)
    h.waking(32, 1, -1, V0).irq_exit(33, 1, 77)
    resume(h, 50, cpu=0, tid=V0, vec=0x61).mark(70)
    resume(h, 60, cpu=2, tid=B0, vec=0x61)
    r = h.analyze()
    state, _, ev = interval_at(r, VM, 0, 25)
    assert ev is not None and ev.emitter_context == "irq:77:vfio-msix[0]"
    assert state == "wait_unknown"  # 0x61 was never taught by a VM thread
    ev_b = interval_at(r, VM_B, 0, 25)[2]
    assert ev_b is not None and ev_b.source is Source.INJ_VIRQ and ev_b.emitter_tid == -1
    assert all(vm.net_vectors == [] for vm in r.vms)


def test_rule_2_takes_the_latest_accept_by_time_even_if_an_earlier_one_is_held() -> None:
    """Contract rule 2 says *the last* accept before the wake-up. An hrtimer accept (held
    until its context wakes a vCPU, to learn its VM) comes first; another vCPU's IPI accept
    comes later, then the hrtimer wakes the vCPU: the IPI (0xfd, task) is the last one."""
    h = host().mark(0)
    halt(h, 0, cpu=1, tid=V1, vcpu=1)  # V1 (apicid 1) blocks at 11
    h.switch(5, 2, 0, RUNNING, V0).entry(6, 2, V0, 0)
    h.hrtimer_entry(30, 1).accept(31, 1, -1, 1, 0xEC)
    h.exit(32, 2, V0, 30).accept(33, 2, V0, 1, 0xFD)  # V0 sends an IPI to vCPU 1
    h.waking(34, 1, -1, V1).hrtimer_exit(35, 1)
    h.switch(40, 1, 0, RUNNING, V1).entry(42, 1, V1, 1).mark(50)  # APICv: no inj_virq
    state, _, ev = interval_at(h.analyze(), VM, 1, 20)
    assert ev is not None and ev.source is Source.APIC_ACCEPT_IRQ
    assert (state, ev.vector, ev.emitter_tid) == ("wait_task", 0xFD, V0)


def test_accept_from_a_vm_thread_never_goes_to_another_vm() -> None:
    """VM A's iothread accepts for its vCPU 0 (not seen yet) and then wakes VM B's vCPU 0
    in the same task context: the accept is VM A's by its emitter, not VM B's."""
    h = host().mark(0)
    halt(h, 10, cpu=2, tid=B0)
    h.runs(1, IO).accept(30, 1, IO, 0, 0x41).waking(31, 1, IO, B0)
    resume(h, 50, cpu=2, tid=B0).mark(60)
    ev = interval_at(h.analyze(), VM_B, 0, 25)[2]
    assert ev is not None and ev.source is not Source.APIC_ACCEPT_IRQ


# ------------------------------------------------------------------ prev_state, exits


@pytest.mark.parametrize(
    ("prev_state", "expected"),
    [
        (0, "preempted"),  # R
        (0x100, "preempted"),  # R+ (TASK_REPORT_MAX, 4.14+)
        (0x800, "preempted"),  # R+ (TASK_STATE_MAX on 4.x)
        (0x1000, "preempted"),  # R+ (TASK_STATE_MAX with TASK_NEW)
        (1, "wait_unknown"),  # S
        (2, "wait_unknown"),  # D
        (0x80, "wait_unknown"),  # I (TASK_REPORT_IDLE) / TASK_DEAD on old kernels
        (0x402, "wait_unknown"),  # TASK_NOLOAD | TASK_UNINTERRUPTIBLE
        (0x101, "wait_unknown"),  # S with the high bit: low byte decides
        (0x10, "wait_unknown"),  # X
    ],
)
def test_prev_state_is_runnable_iff_its_low_byte_is_zero(prev_state: int, expected: str) -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, HLT)
    h.switch(21, 0, V0, prev_state, STRESS).mark(40)
    assert interval_at(h.analyze(), VM, 0, 30)[0] == expected


@pytest.mark.parametrize(
    ("isa", "reason", "expected"),
    [
        (1, 0x8000_0021, "blocked"),  # failed VM entry (invalid guest state)
        (1, 0x0800_000C, "wait_unknown"),  # other VMX flag bits above the basic reason
        (2, 0x400, "blocked"),  # SVM NPF
        (2, 0x7B, "blocked"),  # SVM IOIO
        (-1, 0x78, "blocked"),  # no isa: only 12 is HLT
    ],
)
def test_exit_reasons_keep_their_raw_number(isa: int, reason: int, expected: str) -> None:
    h = host().mark(0)
    h.switch(10, 0, 0, RUNNING, V0).entry(11, 0, V0, 0).exit(20, 0, V0, reason, isa=isa)
    h.switch(21, 0, V0, SLEEPING, 0).mark(40)
    r = h.analyze()
    assert interval_at(r, VM, 0, 30)[:2] == (expected, reason)
    assert interval_at(r, VM, 0, 20)[1] == reason
    assert lane(r, VM, 0).exit_counts == {reason: 1}
    assert r.vms[0].isa == isa


# ------------------------------------------------------------------ vectors


def test_the_same_device_vector_means_disk_in_one_vm_and_net_in_the_other() -> None:
    h = host().mark(0).thread(VM_B_VHOST, VM_B, "vhost-200")
    h.switch(1, 3, 0, RUNNING, V1).entry(2, 3, V1, 1)
    h.runs(1, MAIN).accept(3, 1, MAIN, 1, 0x41)
    h.runs(1, VM_B_VHOST).accept(4, 1, VM_B_VHOST, 5, 0x41)
    halt(h, 10, cpu=0, tid=V0)
    halt(h, 10, cpu=2, tid=B0)
    resume(h, 50, cpu=0, tid=V0, vec=0x41)
    resume(h, 50, cpu=2, tid=B0, vec=0x41).mark(60)
    r = h.analyze()
    assert interval_at(r, VM, 0, 30)[0] == "wait_disk"
    assert interval_at(r, VM_B, 0, 30)[0] == "wait_net"
    infos = {vm.pid: vm for vm in r.vms}
    assert (infos[VM].disk_vectors, infos[VM].net_vectors) == ([0x41], [])
    assert (infos[VM_B].disk_vectors, infos[VM_B].net_vectors) == ([], [0x41])


def test_a_device_vector_is_not_relearned_as_an_ipi() -> None:
    """A vCPU thread re-delivers level-triggered device interrupts (IOAPIC EOI): that
    accept must not turn the VM's learned disk vector into `task`."""
    h = host().mark(0)
    h.switch(1, 3, 0, RUNNING, V1).entry(2, 3, V1, 1)
    h.runs(1, IO).accept(3, 1, IO, 0, 0x41).accept(5, 3, V1, 0, 0x41)
    halt(h, 10)
    resume(h, 50, vec=0x41).mark(60)
    r = h.analyze()
    assert interval_at(r, VM, 0, 30)[0] == "wait_disk"
    assert r.vms[0].disk_vectors == [0x41]


def test_a_vcpu_emitter_of_the_wait_does_not_make_a_learned_disk_vector_an_ipi() -> None:
    """Rule 2's own emitter teaches `task` when it is another vCPU thread, but the VM
    already learned 0x41 as disk from its iothread: the device wins."""
    h = host().mark(0)
    h.switch(1, 3, 0, RUNNING, V1).entry(2, 3, V1, 1)
    h.runs(1, IO).accept(3, 1, IO, 1, 0x41)
    halt(h, 10)
    h.accept(30, 3, V1, 0, 0x41).waking(31, 3, V1, V0)
    resume(h, 50).mark(60)
    state, _, ev = interval_at(h.analyze(), VM, 0, 25)
    assert ev is not None and (ev.source, ev.emitter_tid) == (Source.APIC_ACCEPT_IRQ, V1)
    assert state == "wait_disk"


# ------------------------------------------------------------------ trace end, identity


def test_a_wait_woken_before_the_trace_end_keeps_its_waker_and_ready_runs_to_the_end() -> None:
    h = host().mark(0)
    halt(h, 10)
    h.hrtimer_entry(30, 1).waking(31, 1, -1, V0).hrtimer_exit(32, 1).mark(90)
    r = h.analyze()
    assert lane_states(r, VM, 0)[-2:] == [(21, 31, "wait_timer"), (31, 90, "ready")]
    assert interval_at(r, VM, 0, 25)[2].source is Source.WAKER  # type: ignore[union-attr]


def test_a_wait_switched_in_at_the_trace_end_without_injection_uses_rules_2_to_4() -> None:
    """No wake-up events in the trace: the wait ends at the switch-in; the trace ends before
    any injection or entry, so rules 2-4 decide with what was seen (here: the accept)."""
    h = host().mark(0)
    halt(h, 10)
    h.runs(1, IO).accept(30, 1, IO, 0, 0x41)
    h.switch(50, 0, 0, RUNNING, V0).mark(60)
    r = h.analyze()
    assert lane_states(r, VM, 0)[-2:] == [(21, 50, "wait_disk"), (50, 60, "hypervisor")]
    assert interval_at(r, VM, 0, 25)[2].source is Source.APIC_ACCEPT_IRQ  # type: ignore[union-attr]


def test_kvm_events_on_a_cpu_whose_thread_is_not_known_yet_are_adopted_at_its_switch_out() -> None:
    """No tid context, and the statedump does not say what runs on CPU 2 (it gives pids
    only): CPU 2's current thread is unknown until its first sched_switch, whose prev_tid
    names the thread that emitted the earlier KVM events (nothing else can have run there
    unseen). Its lane starts at its first entry."""
    h = host(contexts=False).mark(0).statedump(1, MAIN).statedump(1, V0)
    h.entry(10, 2, -1, 0).exit(20, 2, -1, 48).entry(25, 2, -1, 0).exit(30, 2, -1, 1)
    h.switch(31, 2, V0, RUNNING, STRESS).switch(40, 2, STRESS, RUNNING, V0)
    h.entry(41, 2, -1, 0).mark(50)
    r = h.analyze()
    assert [(x.vm_pid, x.vcpu, x.tid) for x in r.lanes] == [(VM, 0, V0)]
    assert lane_states(r, VM, 0) == [
        (0, 10, "unknown"),
        (10, 20, "guest"),
        (20, 25, "hypervisor"),
        (25, 30, "guest"),
        (30, 31, "hypervisor"),
        (31, 40, "preempted"),
        (40, 41, "hypervisor"),
        (41, 50, "guest"),
    ]
    assert not any("were ignored" in w for w in r.warnings)


def test_kvm_events_of_a_thread_never_named_give_an_unidentified_lane_with_a_warning() -> None:
    """A pinned vCPU that never switches during the trace, without contexts or statedump:
    the events are kept in an unidentified VM (tid -1) rather than dropped, and said so."""
    h = host(contexts=False).mark(0)
    h.entry(10, 2, -1, 3).exit(20, 2, -1, 48).entry(25, 2, -1, 3).mark(50)
    r = h.analyze()
    assert [(x.vm_pid < 0, x.vcpu, x.tid) for x in r.lanes] == [(True, 3, -1)]
    assert [s for _, _, s in lane_states(r, r.lanes[0].vm_pid, 3)] == [
        "unknown",
        "guest",
        "hypervisor",
        "guest",
    ]
    assert any("unidentified" in w for w in r.warnings)
