"""Numbers of the simulated host: guest exit codes (VMX and SVM), the noise-exit mix,
interrupt vectors, kernel function addresses, and scheduler timings."""

from __future__ import annotations

from typing import Final

US: Final = 1000

# VMX basic exit reasons and SVM exit codes used by the guests.
VMX: Final = {
    "ext_intr": 1, "hlt": 12, "cpuid": 10, "io": 30, "msr_read": 31, "msr_write": 32,
    "pause": 40, "ept_violation": 48, "ept_misconfig": 49, "preempt_timer": 52, "apic_write": 56,
}  # fmt: skip
SVM: Final = {
    "ext_intr": 0x60, "hlt": 0x78, "cpuid": 0x72, "io": 0x7B, "msr_read": 0x7C,
    "msr_write": 0x7C, "pause": 0x77, "ept_violation": 0x400, "ept_misconfig": 0x400,
    "preempt_timer": 0x60, "apic_write": 0x7C,
}  # fmt: skip
# (exit, weight, mean handling ns); "preempt_timer" exits inject the guest's timer tick.
NOISE_EXITS: Final = (
    ("ept_violation", 20, 4000), ("ext_intr", 14, 1500), ("msr_write", 20, 1000),
    ("msr_read", 5, 900), ("io", 6, 9000), ("preempt_timer", 14, 1200),
    ("apic_write", 5, 1000), ("cpuid", 5, 800), ("ept_misconfig", 6, 6000), ("pause", 5, 1500),
)  # fmt: skip
IPI_VECTORS: Final = ((0xFD, 70), (0xFB, 20), (0xFC, 10))
# A pre-drawn guest exit: burst ns, handling ns, kvm_exit payload, kvm_inj_virq payload.
PoolExit = tuple[int, int, tuple[int, ...], tuple[int, ...]]
SYSCALL_INT_VECTOR: Final = 0x80  # a 32-bit guest process's `int $0x80` system call
TASK_VECTORS: Final = frozenset({0xFB, 0xFC, 0xFD, 0xF6})
TIMER_VECTORS: Final = frozenset({0xEC, 0xEF})
SOFTIRQ_TIMER, SOFTIRQ_NET_RX, SOFTIRQ_BLOCK = 1, 3, 4
APIC_TIMER_FN: Final = 0xFFFFFFFFC0A3E2B0  # apic_timer_fn in kvm.ko
TICK_SCHED_TIMER_FN: Final = 0xFFFFFFFF8115F3A0  # tick_sched_timer
HRTIMER_WAKEUP_FN: Final = 0xFFFFFFFF8116A9D0  # hrtimer_wakeup (a ppoll timeout)
TICK_NS: Final = 4000 * US  # HZ=250
SCHED_LATENCY_NS: Final = 6000 * US
MIN_GRANULARITY_NS: Final = 750 * US
KVM_EXIT_IO: Final = 2
RIP_BASE: Final = 0xFFFFFFFF81000000
MIN_GAP_NS: Final = 250  # two events of one CPU are never closer (no empty intervals)
QEMU_BINARY: Final = b"/usr/bin/qemu-system-x86_64"
LIBVIRTD_PID: Final = 1400
