"""Partial event sets and any VMM (issue 10 items 2 and 3), on hand-written hosts.

- Without kvm_entry/kvm_exit (a PVM host): vCPU threads found by their other KVM events,
  `running` on a CPU, waits told by kvm_vcpu_wakeup, reasons by rules 2-4.
- With only kvm_entry/kvm_exit (`perf kvm stat record`): guest and hypervisor, and what
  follows an HLT exit `unknown`, said once.
- Device vectors learned from what woke the delivering thread, whatever it is called.
"""

from __future__ import annotations

from tests.support.host import RUNNING, SLEEPING, Host, interval_at, lane_states
from w2a_tui.analysis.capabilities import header_note, limits_of_kinds, limits_of_names
from w2a_tui.events import EventKind
from w2a_tui.model import AnalysisResult, Source

K = EventKind
VMM, V0, V1, DISK_T, NET_T, KWORKER = 500, 501, 502, 510, 511, 50
BLOCK_SOFTIRQ, NET_RX_SOFTIRQ = 4, 3


def _vmm(contexts: bool = True) -> Host:
    """A VMM that is not QEMU: Firecracker-style vCPU names, anonymous device threads."""
    h = Host(contexts=contexts)
    h.thread(VMM, VMM, "firecracker").thread(V0, VMM, "fc_vcpu 0").thread(V1, VMM, "fc_vcpu 1")
    h.thread(DISK_T, VMM, "firecracker").thread(NET_T, VMM, "firecracker")
    h.thread(KWORKER, KWORKER, "kworker/1:1")
    for cpu in range(3):
        h.runs(cpu, 0)
    return h


def _disk_delivery(h: Host, t: int, apicid: int, wakee: int) -> Host:
    """BLOCK softirq on CPU 1 completes a request and wakes the disk thread, which signals
    the irqfd (accept) and so wakes the halted vCPU thread."""
    h.softirq_entry(t, 1, BLOCK_SOFTIRQ).block_complete(t + 1, 1).waking(t + 2, 1, -1, DISK_T)
    h.softirq_exit(t + 3, 1, BLOCK_SOFTIRQ).switch(t + 4, 1, 0, RUNNING, DISK_T)
    h.accept(t + 5, 1, DISK_T, apicid, 0x42).waking(t + 6, 1, DISK_T, wakee)
    return h.switch(t + 7, 1, DISK_T, SLEEPING, 0)


def _net_delivery(h: Host, t: int, apicid: int, wakee: int) -> Host:
    """NET_RX softirq on CPU 2 receives a packet and wakes the net thread, which accepts."""
    h.softirq_entry(t, 2, NET_RX_SOFTIRQ).receive_skb(t + 1, 2).waking(t + 2, 2, -1, NET_T)
    h.softirq_exit(t + 3, 2, NET_RX_SOFTIRQ).switch(t + 4, 2, 0, RUNNING, NET_T)
    h.accept(t + 5, 2, NET_T, apicid, 0x43).waking(t + 6, 2, NET_T, wakee)
    return h.switch(t + 7, 2, NET_T, SLEEPING, 0)


def _pvm_host(contexts: bool = True) -> AnalysisResult:
    """No kvm_entry/kvm_exit: vCPU 0 halts twice (disk, then net), blocks once elsewhere."""
    h = _vmm(contexts)
    h.switch(100, 0, 0, RUNNING, V0).halt_poll(105, 0, V0, 0)  # names vCPU 0
    h.switch(110, 0, V0, SLEEPING, 0)  # halts
    _disk_delivery(h, 200, 0, V0)
    h.switch(300, 0, 0, RUNNING, V0).vcpu_wakeup(301, 0, V0)  # the halt ended
    h.switch(400, 0, V0, SLEEPING, 0)  # halts again
    _net_delivery(h, 500, 0, V0)
    h.switch(600, 0, 0, RUNNING, V0).vcpu_wakeup(601, 0, V0)
    h.switch(700, 0, V0, SLEEPING, 0)  # blocks in userspace: no kvm_vcpu_wakeup follows
    h.waking(750, 1, KWORKER, V0).switch(760, 0, 0, RUNNING, V0).userspace_exit(770, 0, V0)
    return h.mark(900).analyze()


def test_without_entry_exit_vcpus_run_wait_and_block() -> None:
    result = _pvm_host()
    assert lane_states(result, VMM, 0) == [
        (100, 105, "unknown"),
        (105, 110, "running"),
        (110, 206, "wait_disk"),
        (206, 300, "ready"),
        (300, 400, "running"),
        (400, 506, "wait_net"),
        (506, 600, "ready"),
        (600, 700, "running"),
        (700, 750, "blocked"),
        (750, 760, "ready"),
        (760, 900, "running"),
    ]
    _, exit_reason, evidence = interval_at(result, VMM, 0, 150)
    assert evidence is not None and evidence.source is Source.APIC_ACCEPT_IRQ
    assert evidence.vector == 0x42 and evidence.emitter_tid == DISK_T and exit_reason == -1


def test_without_pids_the_same_lane_is_in_a_pseudo_vm() -> None:
    """As on the real PVM host trace: no tgids, no forks, no contexts."""
    with_pids, without = _pvm_host(), _pvm_host(contexts=False)
    assert [vm.pid for vm in without.vms] == [-1]
    assert lane_states(without, -1, 0) == lane_states(with_pids, VMM, 0)
    assert without.vms[0].vector_chains == with_pids.vms[0].vector_chains


def test_device_vectors_are_learned_from_the_cause_not_the_name() -> None:
    """Both device threads are called `firecracker` (the VMM's own name): the chains alone
    tell disk from net, and they are what the VM shows."""
    vm = _pvm_host().vms[0]
    assert vm.disk_vectors == [0x42] and vm.net_vectors == [0x43]
    assert vm.vector_chains == [
        "0x42 disk <- firecracker tid 510 <- BLOCK softirq on CPU 1",
        "0x43 net <- firecracker tid 511 <- NET_RX softirq on CPU 2",
    ]


def test_an_irqfd_signalled_through_a_kworker_counts_as_its_signaller() -> None:
    h = _vmm()
    h.switch(100, 0, 0, RUNNING, V0).entry(101, 0, V0, 0).exit(110, 0, V0, 12)
    h.switch(111, 0, V0, SLEEPING, 0)
    # The net thread is woken by NET_RX, wakes a kworker (eventfd -> irqfd inject work),
    # and the kworker accepts the vector and wakes the vCPU.
    h.softirq_entry(200, 2, NET_RX_SOFTIRQ).receive_skb(201, 2).waking(202, 2, -1, NET_T)
    h.softirq_exit(203, 2, NET_RX_SOFTIRQ).switch(204, 2, 0, RUNNING, NET_T)
    h.waking(205, 2, NET_T, KWORKER).switch(206, 2, NET_T, SLEEPING, KWORKER)
    h.accept(207, 2, KWORKER, 0, 0x51).waking(208, 2, KWORKER, V0)
    h.switch(300, 0, 0, RUNNING, V0).entry(301, 0, V0, 0)
    result = h.mark(400).analyze()
    assert interval_at(result, VMM, 0, 150)[0] == "wait_net"
    assert result.vms[0].vector_chains == [
        "0x51 net <- kworker/1:1 tid 50 <- firecracker tid 511 <- NET_RX softirq on CPU 2"
    ]


def test_a_thread_woken_right_after_an_accept_is_that_vcpu() -> None:
    """vCPU 1 never names itself (no kvm_halt_poll_ns): the accept for APIC id 1 that
    wakes it does; vCPU 0 sends it the IPI."""
    h = _vmm()
    h.switch(100, 0, 0, RUNNING, V0).halt_poll(101, 0, V0, 0)
    h.switch(102, 1, 0, RUNNING, V1).vcpu_wakeup(103, 1, V1)
    h.switch(110, 1, V1, SLEEPING, 0)
    h.accept(200, 0, V0, 1, 0xFD).waking(201, 0, V0, V1)
    h.switch(300, 1, 0, RUNNING, V1).vcpu_wakeup(301, 1, V1)
    result = h.mark(400).analyze()
    assert [lane.vcpu for lane in result.lanes] == [0, 1]
    assert interval_at(result, VMM, 1, 150)[0] == "wait_task"


def test_only_entry_exit_gives_guest_hypervisor_and_unknown_after_hlt() -> None:
    """`perf kvm stat record`: no scheduler events at all."""
    h = _vmm()
    h.entry(100, 0, V0, 0).exit(200, 0, V0, 12).entry(500, 0, V0, 0)
    h.exit(600, 0, V0, 30).entry(610, 0, V0, 0)
    result = h.mark(700).analyze()
    assert lane_states(result, VMM, 0) == [
        (100, 200, "guest"),
        (200, 500, "unknown"),
        (500, 600, "guest"),
        (600, 610, "hypervisor"),
        (610, 700, "guest"),
    ]
    assert result.lanes[0].exit_counts == {12: 1, 30: 1}
    said = [w for w in result.warnings if "no sched_switch" in w]
    assert len(said) == 1 and "sched:sched_switch" in said[0]


def test_full_event_sets_have_no_limits_and_partial_ones_name_the_fix() -> None:
    full = {K.KVM_ENTRY, K.KVM_EXIT, K.SCHED_SWITCH, K.SCHED_WAKING, K.KVM_APIC_ACCEPT_IRQ}
    assert limits_of_kinds(full) == []
    pvm = limits_of_names(["kvm_vcpu_wakeup", "kvm:kvm_apic_accept_irq", "sched_switch"])
    assert [x.key for x in pvm] == ["no-entry-exit"]
    assert "kvm:kvm_entry" in pvm[0].text
    no_wakeup = limits_of_kinds({K.KVM_PIO, K.SCHED_SWITCH})
    assert "kvm:kvm_vcpu_wakeup" in no_wakeup[0].text
    perf = limits_of_names(["kvm:kvm_entry", "kvm:kvm_exit"])
    assert [x.key for x in perf] == ["no-sched-switch"]
    assert header_note([pvm[0].text, "something else"]) == "partial events: running = guest+hyp"
    assert header_note(["something else"]) == ""


def test_traces_with_entry_exit_never_show_running() -> None:
    """A vCPU halted when the trace starts shows up by kvm_vcpu_wakeup before its first
    kvm_entry: that stretch is `unknown` (guest or hypervisor), as before any entry."""
    h = _vmm()
    h.switch(100, 0, 0, RUNNING, V0).vcpu_wakeup(101, 0, V0).entry(110, 0, V0, 0)
    result = h.mark(200).analyze()
    assert lane_states(result, VMM, 0) == [(100, 110, "unknown"), (110, 200, "guest")]
    assert not [w for w in result.warnings if "kvm_entry" in w]
