"""Named simulator scenarios: each isolates one situation the analysis must get right.

A scenario is a set of host, tracer and guest-behaviour parameters; the CLI can
override its size (`--seconds --vms --vcpus --pcpus --seed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from w2a_tui.errors import W2AError

TIMER_VECTOR_NEW: Final = 0xEC  # LOCAL_TIMER_VECTOR, Linux guests >= 5.3
TIMER_VECTOR_OLD: Final = 0xEF  # LOCAL_TIMER_VECTOR, older Linux guests


@dataclass(frozen=True, slots=True)
class VmProfile:
    """One VM with its own identity and workload (the scenario's defaults otherwise).

    `name` is the libvirt domain: with `set_process_name = 1` in qemu.conf, libvirt runs
    `qemu-system-x86_64 -name guest=NAME,process=qemu:NAME,debug-threads=on` and QEMU
    renames its main thread (prctl PR_SET_NAME), so the VM's comm is `qemu:NAME`.
    """

    name: str
    vcpus: int
    cpus: tuple[int, ...] = ()  # host CPU of each vCPU thread (virsh vcpupin); empty: any
    guest: tuple[tuple[str, Any], ...] = ()  # Scenario guest fields overridden for this VM
    # When libvirtd launches this VM's QEMU, as a fraction of the trace's duration; 0: it
    # ran before the trace. A VM launched during the trace is born through fork/exec.
    start_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything that shapes one simulated host trace."""

    name: str
    description: str
    seconds: float = 0.3
    vms: int = 1
    vcpus: int = 2
    pcpus: int = 4
    seed: int = 1
    vcpu_counts: tuple[int, ...] = ()  # per-VM vCPU counts; empty: `vcpus` for every VM
    # Host kernel / tracer.
    kernel: str = "new"  # tracepoints.PROFILES key
    isa: int = 1  # 1 = VMX (Intel), 2 = SVM (AMD)
    apicv: bool = False  # posted interrupts: no kvm_inj_virq at all
    wakeup_events: bool = True  # sched_waking / sched_wakeup enabled
    context: bool = True  # pid/tid/procname event contexts
    lost_prob: float = 0.0  # chance that a new packet starts after discarded events
    # How long the statedump takes to reach the listed threads (a busy host: lttng-sessiond
    # enumerates thousands of processes and their files first); 0: right at the start.
    statedump_delay_us: float = 0.0
    # Each thread listed as it is when listed, a running one as WAIT_CPU (lttng-modules:
    # "the viewer will sort out if the task was really running"); else as it was at the
    # start, a running one as RUN.
    statedump_live: bool = False
    packet_kib: int = 128
    halt_poll_ns: int = 0  # 0 disables halt-polling
    timer_accept: str = "hrtimer"  # who emits the LAPIC timer accept: hrtimer | vcpu
    soft_int_prob: float = 0.0  # EPT violations hit while the guest delivers INT 0x80:
    # KVM re-injects it (kvm_inj_virq soft=1 reinjected=1; only kernels that say so)
    # Guest behaviour (per vCPU).
    timer_vector: int = TIMER_VECTOR_NEW
    busy_us: float = 250.0  # mean guest busy period before HLT
    burst_us: float = 20.0  # mean guest run between two exits
    idle_timer_us: tuple[float, float] = (300.0, 3000.0)  # next LAPIC deadline when idle
    ipi_per_busy: float = 0.0  # IPIs sent per busy period
    disk_per_busy: float = 0.0  # disk requests per busy period
    net_per_busy: float = 0.0  # request/response network exchanges per busy period
    blocked_per_busy: float = 0.0  # exits that block the thread in QEMU userspace
    net_rx_per_s: float = 0.0  # unsolicited packets per VM per second
    iothread: str = "none"  # none | all | odd (odd-numbered VMs use an iothread)
    disk_latency_us: tuple[float, float] = (80.0, 1500.0)  # request to completion IRQ
    slow_disk_prob: float = 0.0  # chance that a request takes `slow_disk_us` instead
    slow_disk_us: tuple[float, float] = (10000.0, 40000.0)
    vm_profiles: tuple[VmProfile, ...] = ()  # per-VM identity and workload, in VM order
    # Where each vCPU of the VMs running at trace start is, cycled over the vCPUs in VM
    # order: halted | guest | hypervisor | preempted. Empty: every vCPU is halted.
    initial: tuple[str, ...] = ()
    # Host load.
    batch_threads: int = 0  # CPU-bound host threads (stress-ng workers)
    batch_comm: str = "stress-ng-cpu"
    batch_cpus: tuple[int, ...] = ()  # affinity of the batch threads; empty: any CPU
    kworker_period_us: float = 20000.0
    # The VMM of each VM, cycled over the VMs: qemu | firecracker | cloud-hypervisor. It
    # only names the threads (the same devices and delivery paths, see host_setup.py).
    vmms: tuple[str, ...] = ("qemu",)
    main_loop_period_us: float = 0.0  # QEMU main-loop timer work (holds the BQL); 0: none
    main_loop_work_us: tuple[float, float] = (30.0, 120.0)  # how long each run holds it


def _light(name: str, description: str, **kw: Any) -> Scenario:
    """A scenario with a light mix of every wake-up source (timer, IPI, disk, net)."""
    return Scenario(
        name, description, ipi_per_busy=0.15, disk_per_busy=0.08, net_per_busy=0.08, **kw
    )


SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario("timer", "idle vCPUs woken only by their LAPIC timer (vector 0xEC)"),
        Scenario(
            "timer-old",
            "idle vCPUs woken by the LAPIC timer of an old guest (vector 0xEF)",
            timer_vector=TIMER_VECTOR_OLD,
        ),
        Scenario(
            "timer-kick",
            "LAPIC timer wakes the vCPU from hrtimer context and the vCPU thread accepts "
            "the vector itself after switch-in (the Linux 5.x kick path)",
            timer_accept="vcpu",
        ),
        Scenario(
            "apicv-kick",
            "APICv host with the 5.x timer kick path: the timer leaves only its waker "
            "(hrtimer context) as evidence, rule 3 of the contract",
            apicv=True,
            timer_accept="vcpu",
        ),
        Scenario(
            "ipi",
            "vCPUs of one VM wake each other with IPIs (0xFD, 0xFB, 0xFC)",
            vcpus=4,
            ipi_per_busy=1.5,
            idle_timer_us=(2000.0, 8000.0),
        ),
        Scenario(
            "disk",
            "disk completions delivered by the QEMU main thread after a host BLOCK softirq",
            disk_per_busy=1.0,
            idle_timer_us=(3000.0, 9000.0),
        ),
        Scenario(
            "disk-iothread",
            "disk completions delivered by a QEMU `IO iothread0` thread",
            disk_per_busy=1.0,
            idle_timer_us=(3000.0, 9000.0),
            iothread="all",
        ),
        Scenario(
            "net",
            "network packets delivered by the `vhost-<pid>` thread after NET_RX",
            net_per_busy=1.0,
            net_rx_per_s=300.0,
            idle_timer_us=(3000.0, 9000.0),
        ),
        _light(
            "preempt",
            "overcommitted host: vCPUs preempted by stress-ng and by other VMs' vCPUs",
            vms=2,
            vcpus=3,
            pcpus=2,
            batch_threads=2,
            busy_us=2000.0,
        ),
        Scenario(
            "halt-poll",
            "halt-polling: short idles end without a switch-out",
            halt_poll_ns=200_000,
            idle_timer_us=(30.0, 400.0),
            ipi_per_busy=0.3,
            vcpus=3,
        ),
        _light(
            "apicv",
            "APICv / posted interrupts: no kvm_inj_virq, accept_irq is the only vector",
            apicv=True,
            vcpus=3,
        ),
        _light(
            "two-vms",
            "two VMs with the same vCPU ids and every wake-up source",
            vms=2,
            iothread="odd",
        ),
        _light(
            "no-wakeup",
            "sched_waking / sched_wakeup not enabled: waits end at switch-in",
            wakeup_events=False,
            vcpus=3,
        ),
        _light(
            "no-context",
            "no pid/tid/procname contexts: identity from sched_switch and statedump",
            context=False,
            vms=2,
        ),
        _light(
            "late-statedump",
            "busy host traced without pid/tid contexts: the statedump names the vCPU threads "
            "only after their first KVM events and context switches",
            context=False,
            vms=2,
            vcpus=3,
            batch_threads=2,
            statedump_delay_us=12000.0,
            statedump_live=True,
            initial=("guest", "hypervisor", "halted", "preempted", "guest", "halted"),
        ),
        _light(
            "lost",
            "lost events: packets with events_discarded > 0 and the events really missing",
            lost_prob=0.25,
            packet_kib=16,
            vcpus=3,
        ),
        _light(
            "svm",
            "AMD SVM host: isa = 2, HLT is exit code 0x78",
            isa=2,
            vcpus=3,
        ),
        _light(
            "new-inj-layout",
            "Linux 6.8 host: kvm_inj_virq(vector, soft, reinjected), with soft re-injections "
            "of the guest's INT 0x80 that say nothing about why a vCPU woke",
            kernel="6.8",
            vcpus=3,
            soft_int_prob=0.5,
        ),
        _light(
            "old-names",
            "lttng-modules 2.7 on Linux 4.4: kvm_* event names, prev_state 0x800 when preempted",
            kernel="old",
            vms=2,
            batch_threads=1,
            pcpus=2,
        ),
        _light(
            "late-start",
            "libvirtd launches a VM during the trace, traced without pid/tid contexts: "
            "fork + exec of QEMU, vCPU threads forked by its main thread, no statedump of them",
            context=False,
            vms=2,
            vm_profiles=(
                VmProfile("web01", vcpus=2),
                VmProfile("web02", vcpus=3, guest=(("iothread", "all"),), start_at=0.2),
            ),
        ),
        # mid-guest, the contract's "first evidence" (vcpu-states.md: Identity, States,
        # `unknown` row): a vCPU is (VM pid, vcpu_id), known through the KVM events that
        # carry its vcpu_id; its thread's sched events name a thread only (the comm is a
        # hint). So a lane is `unknown` until the vCPU's first kvm_exit or kvm_entry:
        # - in the guest at trace start: its first kvm_exit (hypervisor from there; with
        #   vcpu_id on Linux >= 5.10, else bound by its thread's next kvm_entry);
        # - in the hypervisor: its first kvm_entry (the kvm_inj_virq just before it starts
        #   no state; a switch-out before that entry proves nothing about the vCPU);
        # - preempted: the switch-in proves nothing yet, the kvm_entry after it does;
        # - halted in a wait: neither the wake-up nor the switch-in, the kvm_entry after
        #   them (as for every vCPU of the other scenarios, which all start halted).
        _light(
            "mid-guest",
            "the trace starts while vCPUs run in the guest, in the hypervisor, wait for a "
            "pCPU or sleep in HLT: their first events are a kvm_exit, an inj_virq + "
            "kvm_entry, a switch-in or a wake-up",
            vms=2,
            vcpus=3,
            batch_threads=1,
            batch_cpus=(3,),
            initial=("halted", "guest", "hypervisor", "preempted", "preempted", "halted"),
        ),
        _light(
            "vmm-names",
            "a Firecracker and a Cloud Hypervisor VM: `fc_vcpu N` / `vcpuN` vCPU threads, "
            "device threads named `firecracker`, `_disk0_q0`, `_net1_qp0`, no vhost: device "
            "vectors learned only from what woke their deliverer",
            vms=2,
            iothread="odd",
            net_rx_per_s=150.0,
            vmms=("firecracker", "cloud-hypervisor"),
        ),
        _light(
            "vmm-names-qemu",
            "the QEMU twin of vmm-names (same host, guests and devices, QEMU's thread names)",
            vms=2,
            iothread="odd",
            net_rx_per_s=150.0,
        ),
        Scenario(
            "mixed",
            "benchmark mix: 3 VMs, every wake-up source, iothreads, halt-polling, host load",
            seconds=1.0,
            vms=3,
            vcpus=4,
            pcpus=8,
            halt_poll_ns=100_000,
            iothread="odd",
            batch_threads=2,
            blocked_per_busy=0.5,
            main_loop_period_us=1500.0,
            net_rx_per_s=200.0,
            ipi_per_busy=0.4,
            disk_per_busy=0.15,
            net_per_busy=0.15,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The named scenario, or a W2AError listing the valid names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        valid = ", ".join(SCENARIOS)
        raise W2AError(f"unknown scenario '{name}'; choose one of: {valid}.") from None


def with_overrides(
    scenario: Scenario,
    seconds: float | None = None,
    vms: int | None = None,
    vcpus: int | None = None,
    pcpus: int | None = None,
    seed: int | None = None,
) -> Scenario:
    """The scenario resized from the command line, checked for sane values."""
    out = replace(
        scenario,
        seconds=scenario.seconds if seconds is None else seconds,
        vms=scenario.vms if vms is None else vms,
        vcpus=scenario.vcpus if vcpus is None else vcpus,
        pcpus=scenario.pcpus if pcpus is None else pcpus,
        seed=scenario.seed if seed is None else seed,
    )
    if not 0 < out.seconds <= 3600:
        raise W2AError("--seconds must be between 0 and 3600; pick a positive duration.")
    if not 1 <= out.vms <= 64:
        raise W2AError("--vms must be between 1 and 64.")
    if not 1 <= out.vcpus <= 64:
        raise W2AError("--vcpus must be between 1 and 64.")
    if not 1 <= out.pcpus <= 256:
        raise W2AError("--pcpus must be between 1 and 256.")
    if out.seed < 0:
        raise W2AError("--seed must be a non-negative integer.")
    return out
