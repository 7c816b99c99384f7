"""Reference tables: VMX/SVM exit reasons, guest interrupt vectors, softirq names.

Sources: Linux `arch/x86/include/uapi/asm/vmx.h` and `svm.h`,
`arch/x86/include/asm/irq_vectors.h`, lttng-modules `irq_softirq_names`. The analysis and
the TUI both name exits and vectors through the helpers at the bottom.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from w2a_tui.model import Reason

ISA_VMX: Final = 1
ISA_SVM: Final = 2

VMX_HLT: Final = 12
SVM_HLT: Final = 0x78

# Intel VMX basic exit reasons (mask the raw value with 0xffff first).
VMX_EXIT_REASONS: Final[Mapping[int, str]] = {
    0: "EXCEPTION_NMI",
    1: "EXTERNAL_INTERRUPT",
    2: "TRIPLE_FAULT",
    3: "INIT_SIGNAL",
    4: "SIPI_SIGNAL",
    7: "INTERRUPT_WINDOW",
    8: "NMI_WINDOW",
    9: "TASK_SWITCH",
    10: "CPUID",
    12: "HLT",
    13: "INVD",
    14: "INVLPG",
    15: "RDPMC",
    16: "RDTSC",
    18: "VMCALL",
    19: "VMCLEAR",
    20: "VMLAUNCH",
    21: "VMPTRLD",
    22: "VMPTRST",
    23: "VMREAD",
    24: "VMRESUME",
    25: "VMWRITE",
    26: "VMOFF",
    27: "VMON",
    28: "CR_ACCESS",
    29: "DR_ACCESS",
    30: "IO_INSTRUCTION",
    31: "MSR_READ",
    32: "MSR_WRITE",
    33: "INVALID_STATE",
    34: "MSR_LOAD_FAIL",
    36: "MWAIT_INSTRUCTION",
    37: "MONITOR_TRAP_FLAG",
    39: "MONITOR_INSTRUCTION",
    40: "PAUSE_INSTRUCTION",
    41: "MCE_DURING_VMENTRY",
    43: "TPR_BELOW_THRESHOLD",
    44: "APIC_ACCESS",
    45: "EOI_INDUCED",
    46: "GDTR_IDTR",
    47: "LDTR_TR",
    48: "EPT_VIOLATION",
    49: "EPT_MISCONFIG",
    50: "INVEPT",
    51: "RDTSCP",
    52: "PREEMPTION_TIMER",
    53: "INVVPID",
    54: "WBINVD",
    55: "XSETBV",
    56: "APIC_WRITE",
    57: "RDRAND",
    58: "INVPCID",
    59: "VMFUNC",
    60: "ENCLS",
    61: "RDSEED",
    62: "PML_FULL",
    63: "XSAVES",
    64: "XRSTORS",
    67: "UMWAIT",
    68: "TPAUSE",
    74: "BUS_LOCK",
    75: "NOTIFY",
}

# AMD SVM exit codes (selected; ranges are expanded by `_svm_name`).
SVM_EXIT_CODES: Final[Mapping[int, str]] = {
    0x060: "INTR",
    0x061: "NMI",
    0x062: "SMI",
    0x063: "INIT",
    0x064: "VINTR",
    0x065: "CR0_SEL_WRITE",
    0x072: "CPUID",
    0x073: "RSM",
    0x074: "IRET",
    0x075: "SWINT",
    0x076: "INVD",
    0x077: "PAUSE",
    0x078: "HLT",
    0x079: "INVLPG",
    0x07A: "INVLPGA",
    0x07B: "IOIO",
    0x07C: "MSR",
    0x07D: "TASK_SWITCH",
    0x07E: "FERR_FREEZE",
    0x07F: "SHUTDOWN",
    0x080: "VMRUN",
    0x081: "VMMCALL",
    0x082: "VMLOAD",
    0x083: "VMSAVE",
    0x084: "STGI",
    0x085: "CLGI",
    0x086: "SKINIT",
    0x087: "RDTSCP",
    0x088: "ICEBP",
    0x089: "WBINVD",
    0x08A: "MONITOR",
    0x08B: "MWAIT",
    0x08C: "MWAIT_COND",
    0x08D: "XSETBV",
    0x08E: "RDPRU",
    0x400: "NPF",
    0x401: "AVIC_INCOMPLETE_IPI",
    0x402: "AVIC_UNACCELERATED_ACCESS",
    0x403: "VMGEXIT",
}

# Linux x86 guest vectors with a fixed meaning.
VECTOR_NAMES: Final[Mapping[int, str]] = {
    0xFF: "SPURIOUS_APIC_VECTOR",
    0xFE: "ERROR_APIC_VECTOR",
    0xFD: "RESCHEDULE_VECTOR",
    0xFC: "CALL_FUNCTION_VECTOR",
    0xFB: "CALL_FUNCTION_SINGLE_VECTOR",
    0xFA: "THERMAL_APIC_VECTOR",
    0xF9: "THRESHOLD_APIC_VECTOR",
    0xF8: "REBOOT_VECTOR",
    0xF7: "X86_PLATFORM_IPI_VECTOR",
    0xF6: "IRQ_WORK_VECTOR",
    0xF4: "DEFERRED_ERROR_VECTOR",
    0xF3: "HYPERVISOR_CALLBACK_VECTOR",
    0xEF: "LOCAL_TIMER_VECTOR (guests < 5.3)",
    0xEE: "HYPERV_REENLIGHTENMENT_VECTOR",
    0xED: "HYPERV_STIMER0_VECTOR",
    0xEC: "LOCAL_TIMER_VECTOR",
}

# The contract's default vector -> reason table (configurable per guest OS).
DEFAULT_VECTOR_TABLE: Final[Mapping[int, Reason]] = {
    0xEC: Reason.TIMER,
    0xEF: Reason.TIMER,
    0xFB: Reason.TASK,
    0xFC: Reason.TASK,
    0xFD: Reason.TASK,
    0xF6: Reason.TASK,
}

SOFTIRQ_NAMES: Final[tuple[str, ...]] = (
    "HI",
    "TIMER",
    "NET_TX",
    "NET_RX",
    "BLOCK",
    "IRQ_POLL",
    "TASKLET",
    "SCHED",
    "HRTIMER",
    "RCU",
)


def is_hlt(isa: int, reason: int) -> bool:
    """The contract's HLT test: VMX masks the basic reason, SVM has its own code, no isa -> 12."""
    if isa == ISA_VMX:
        return (reason & 0xFFFF) == VMX_HLT
    if isa == ISA_SVM:
        return reason == SVM_HLT
    return reason == VMX_HLT


def _svm_name(code: int) -> str | None:
    name = SVM_EXIT_CODES.get(code)
    if name is not None:
        return name
    if 0x00 <= code <= 0x0F:
        return f"READ_CR{code}"
    if 0x10 <= code <= 0x1F:
        return f"WRITE_CR{code - 0x10}"
    if 0x20 <= code <= 0x2F:
        return f"READ_DR{code - 0x20}"
    if 0x30 <= code <= 0x3F:
        return f"WRITE_DR{code - 0x30}"
    if 0x40 <= code <= 0x5F:
        return f"EXCP_{code - 0x40}"
    return None


def exit_reason_name(isa: int, reason: int) -> str:
    """Symbolic name of a raw `kvm_exit.exit_reason` ("HLT", "EPT_VIOLATION"), or "" if unknown.

    `isa` is 1 (VMX), 2 (SVM) or -1 (trace without the field: VMX numbering is assumed,
    since old lttng-modules that lack `isa` predate common SVM tracing).
    """
    if reason < 0:
        return ""
    if isa == ISA_SVM:
        return _svm_name(reason) or ""
    return VMX_EXIT_REASONS.get(reason & 0xFFFF, "")


def exit_reason_label(isa: int, reason: int) -> str:
    """`12 HLT`, or the bare number when the name is unknown; "" for no exit."""
    if reason < 0:
        return ""
    name = exit_reason_name(isa, reason)
    shown = f"0x{reason:x}" if isa == ISA_SVM else str(reason)
    return f"{shown} {name}" if name else shown


def vector_name(vector: int) -> str:
    """Symbolic name of a Linux guest vector, or "" (device vectors are dynamic)."""
    return VECTOR_NAMES.get(vector, "")


def vector_label(vector: int) -> str:
    """`0xec LOCAL_TIMER_VECTOR`, `0x41` for a device vector, "" for none."""
    if vector < 0:
        return ""
    name = vector_name(vector)
    return f"0x{vector:02x} {name}" if name else f"0x{vector:02x}"


def softirq_name(vec: int) -> str:
    """`NET_RX` for 3; the number itself when out of range."""
    return SOFTIRQ_NAMES[vec] if 0 <= vec < len(SOFTIRQ_NAMES) else str(vec)
