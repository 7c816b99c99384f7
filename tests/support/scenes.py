"""The small KVM host the analysis tests share (one VM with two vCPUs, an IO thread and a
vhost worker; a second VM; a kworker and a CPU hog), and the moves they repeat."""

from __future__ import annotations

from tests.support.host import RUNNING, SLEEPING, Host

VM, MAIN, V0, V1, IO, VHOST = 100, 100, 101, 102, 103, 104
VM_B, B0 = 200, 201
KWORKER, STRESS = 50, 60
HLT = 12


def host(*, contexts: bool = True) -> Host:
    h = Host(contexts=contexts)
    h.thread(MAIN, VM, "qemu-system-x86").thread(V0, VM, "CPU 0/KVM").thread(V1, VM, "CPU 1/KVM")
    h.thread(IO, VM, "IO iothread0").thread(VHOST, VM, "vhost-100")
    h.thread(VM_B, VM_B, "qemu-system-x86").thread(B0, VM_B, "CPU 0/KVM")
    h.thread(KWORKER, KWORKER, "kworker/1:1").thread(STRESS, STRESS, "stress-ng")
    for cpu in range(4):
        h.runs(cpu, 0)
    return h


def halt(h: Host, t: int, cpu: int = 0, tid: int = V0, vcpu: int = 0) -> Host:
    """Switch in at t, enter the guest at t+1, HLT at t+10, block at t+11."""
    h.switch(t, cpu, 0, RUNNING, tid).entry(t + 1, cpu, tid, vcpu)
    return h.exit(t + 10, cpu, tid, HLT).switch(t + 11, cpu, tid, SLEEPING, 0)


def resume(h: Host, t: int, cpu: int = 0, tid: int = V0, vcpu: int = 0, vec: int = -1) -> Host:
    """Switch in at t, inject `vec` at t+1 (if any), enter the guest at t+2."""
    h.switch(t, cpu, 0, RUNNING, tid)
    if vec >= 0:
        h.inj(t + 1, cpu, tid, vec)
    return h.entry(t + 2, cpu, tid, vcpu)


def timer_wake(h: Host, t: int, cpu: int, wakee: int, apicid: int, vec: int = 0xEC) -> Host:
    """The LAPIC timer: hrtimer context accepts the vector and wakes the vCPU thread."""
    h.hrtimer_entry(t, cpu).accept(t + 1, cpu, -1, apicid, vec)
    return h.waking(t + 2, cpu, -1, wakee).hrtimer_exit(t + 3, cpu)
