"""The LTTng event classes the simulator writes, with lttng-modules field names and types.

Three tracer generations are modelled, because real hosts run both:
- `new`: lttng-modules 2.13 on Linux 5.15 (KVM events named `kvm_x86_*`, `kvm_exit`
  with the 5.10+ extra fields, preempted tasks reported as TASK_REPORT_MAX = 0x100);
- `old`: lttng-modules 2.7 on Linux 4.4 (unprefixed `kvm_*` names, five `kvm_exit`
  fields, preempted tasks reported as TASK_RUNNING | TASK_STATE_MAX = 0x800);
- `6.8`: lttng-modules 2.13 on Linux 6.8, where `kvm_inj_virq` carries
  `vector, soft, reinjected` (soft = a re-injected software interrupt such as INT n).
Field order and types follow lttng-modules' instrumentation headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Field type codes understood by the CTF writer.
#   u8/u16/u32/u64, s32/s64: integers; x64: u64 shown in hex; comm: char[16] (UTF8);
#   str: NUL-terminated string; seq_s32: s32 sequence after a u8 `_<name>_length` field.
FieldSpec = tuple[str, str]


@dataclass(frozen=True, slots=True)
class EventClass:
    """One event class: its id in the stream, its name, and its payload fields."""

    id: int
    name: str
    fields: tuple[FieldSpec, ...]


@dataclass(frozen=True, slots=True)
class KernelProfile:
    """What one host's kernel + tracer generation looks like in the trace."""

    name: str
    kernel_release: str
    kernel_version: str
    tracer_major: int
    tracer_minor: int
    tracer_patchlevel: int
    kvm_prefix: str  # "kvm_x86_" or "kvm_"
    exit_extra_fields: bool  # Linux >= 5.10: intr_info, error_code, vcpu_id
    preempt_state: int  # prev_state of a preempted task
    inj_virq_soft: bool = False  # Linux >= 6.1: kvm_inj_virq(vector, soft, reinjected)


NEW_KERNEL: Final = KernelProfile(
    name="new",
    kernel_release="5.15.0-91-generic",
    kernel_version="#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023",
    tracer_major=2,
    tracer_minor=13,
    tracer_patchlevel=9,
    kvm_prefix="kvm_x86_",
    exit_extra_fields=True,
    preempt_state=0x100,
)
OLD_KERNEL: Final = KernelProfile(
    name="old",
    kernel_release="4.4.0-210-generic",
    kernel_version="#242-Ubuntu SMP Fri Apr 16 09:57:56 UTC 2021",
    tracer_major=2,
    tracer_minor=7,
    tracer_patchlevel=7,
    kvm_prefix="kvm_",
    exit_extra_fields=False,
    preempt_state=0x800,
)
LINUX_6_KERNEL: Final = KernelProfile(
    name="6.8",
    kernel_release="6.8.0-45-generic",
    kernel_version="#45-Ubuntu SMP PREEMPT_DYNAMIC Fri Aug 30 12:02:04 UTC 2024",
    tracer_major=2,
    tracer_minor=13,
    tracer_patchlevel=13,
    kvm_prefix="kvm_x86_",
    exit_extra_fields=True,
    preempt_state=0x100,
    inj_virq_soft=True,
)
PROFILES: Final = {p.name: p for p in (NEW_KERNEL, OLD_KERNEL, LINUX_6_KERNEL)}

TASK_INTERRUPTIBLE: Final = 1


# Stable keys the simulator uses to emit; ids are assigned per trace (only enabled events).
STATEDUMP_START = "statedump_start"
STATEDUMP_END = "statedump_end"
STATEDUMP_PROCESS = "statedump_process"
SCHED_SWITCH = "sched_switch"
SCHED_WAKING = "sched_waking"
SCHED_WAKEUP = "sched_wakeup"
IRQ_ENTRY = "irq_entry"
IRQ_EXIT = "irq_exit"
SOFTIRQ_RAISE = "softirq_raise"
SOFTIRQ_ENTRY = "softirq_entry"
SOFTIRQ_EXIT = "softirq_exit"
HRTIMER_ENTRY = "hrtimer_entry"
HRTIMER_EXIT = "hrtimer_exit"
KVM_ENTRY = "kvm_entry"
KVM_EXIT = "kvm_exit"
KVM_INJ_VIRQ = "kvm_inj_virq"
KVM_ACCEPT_IRQ = "kvm_apic_accept_irq"
KVM_USERSPACE_EXIT = "kvm_userspace_exit"
SCHED_WAKEUP_NEW = "sched_wakeup_new"
SCHED_PROCESS_FORK = "sched_process_fork"
SCHED_PROCESS_EXEC = "sched_process_exec"

PID_NS_INIT_INUM: Final = 0xEFFFFFFC  # PROC_PID_INIT_INO: the host's (initial) pid namespace

_COMM = "comm"


def _kvm_exit_fields(profile: KernelProfile) -> tuple[FieldSpec, ...]:
    base: tuple[FieldSpec, ...] = (
        ("exit_reason", "u32"),
        ("guest_rip", "u64"),
        ("isa", "u32"),
        ("info1", "u64"),
        ("info2", "u64"),
    )
    if profile.exit_extra_fields:
        base += (("intr_info", "u32"), ("error_code", "u32"), ("vcpu_id", "u32"))
    return base


def _inj_virq_fields(profile: KernelProfile) -> tuple[FieldSpec, ...]:
    if profile.inj_virq_soft:
        return (("vector", "u32"), ("soft", "u8"), ("reinjected", "u8"))
    return (("irq", "u32"),)


def event_classes(
    profile: KernelProfile, wakeup_events: bool, lifecycle: bool = False
) -> dict[str, EventClass]:
    """The enabled event classes of a trace, keyed by the simulator's stable keys.

    Ids stay below 31 so every event can use the compact 32-bit header, as lttng-modules
    does for the first events it enables. `lifecycle` (processes starting during the
    trace) appends fork/exec/wakeup_new with the lttng-modules 2.13 layout seen in real
    traces: fork's `vtids` sequence, exec's `filename` string before two integers.
    """
    kvm = profile.kvm_prefix
    wake: tuple[FieldSpec, ...] = (
        ("comm", _COMM),
        ("tid", "s32"),
        ("prio", "s32"),
        ("target_cpu", "s32"),
    )
    specs: list[tuple[str, str, tuple[FieldSpec, ...]]] = [
        (STATEDUMP_START, "lttng_statedump_start", ()),
        (STATEDUMP_END, "lttng_statedump_end", ()),
        (
            STATEDUMP_PROCESS,
            "lttng_statedump_process_state",
            (
                ("tid", "s32"),
                ("vtid", "s32"),
                ("pid", "s32"),
                ("vpid", "s32"),
                ("ppid", "s32"),
                ("vppid", "s32"),
                ("name", _COMM),
                ("type", "s32"),
                ("mode", "s32"),
                ("submode", "s32"),
                ("status", "s32"),
                ("cpu", "u32"),
            ),
        ),
        (
            SCHED_SWITCH,
            "sched_switch",
            (
                ("prev_comm", _COMM),
                ("prev_tid", "s32"),
                ("prev_prio", "s32"),
                ("prev_state", "s64"),
                ("next_comm", _COMM),
                ("next_tid", "s32"),
                ("next_prio", "s32"),
            ),
        ),
    ]
    if wakeup_events:
        specs += [(SCHED_WAKING, "sched_waking", wake), (SCHED_WAKEUP, "sched_wakeup", wake)]
    specs += [
        (IRQ_ENTRY, "irq_handler_entry", (("irq", "s32"), ("name", "str"))),
        (IRQ_EXIT, "irq_handler_exit", (("irq", "s32"), ("ret", "s32"))),
        (SOFTIRQ_RAISE, "irq_softirq_raise", (("vec", "u32"),)),
        (SOFTIRQ_ENTRY, "irq_softirq_entry", (("vec", "u32"),)),
        (SOFTIRQ_EXIT, "irq_softirq_exit", (("vec", "u32"),)),
        (
            HRTIMER_ENTRY,
            "timer_hrtimer_expire_entry",
            (("hrtimer", "x64"), ("now", "s64"), ("function", "x64")),
        ),
        (HRTIMER_EXIT, "timer_hrtimer_expire_exit", (("hrtimer", "x64"),)),
        (KVM_ENTRY, kvm + "entry", (("vcpu_id", "u32"),)),
        (KVM_EXIT, kvm + "exit", _kvm_exit_fields(profile)),
        (KVM_INJ_VIRQ, kvm + "inj_virq", _inj_virq_fields(profile)),
        (
            KVM_ACCEPT_IRQ,
            kvm + "apic_accept_irq",
            (("apicid", "u32"), ("dm", "u16"), ("tm", "u8"), ("vec", "u8"), ("coalesced", "u8")),
        ),
        (KVM_USERSPACE_EXIT, "kvm_userspace_exit", (("reason", "u32"), ("errno", "s32"))),
    ]
    if lifecycle:  # appended, so the ids of every other class stay what they were
        specs += [
            (SCHED_WAKEUP_NEW, "sched_wakeup_new", wake),
            (
                SCHED_PROCESS_FORK,
                "sched_process_fork",
                (
                    ("parent_comm", _COMM),
                    ("parent_tid", "s32"),
                    ("parent_pid", "s32"),
                    ("parent_ns_inum", "u32"),
                    ("child_comm", _COMM),
                    ("child_tid", "s32"),
                    ("vtids", "seq_s32"),
                    ("child_pid", "s32"),
                    ("child_ns_inum", "u32"),
                ),
            ),
            (
                SCHED_PROCESS_EXEC,
                "sched_process_exec",
                (("filename", "str"), ("tid", "s32"), ("old_tid", "s32")),
            ),
        ]
    return {key: EventClass(i, name, fields) for i, (key, name, fields) in enumerate(specs)}
