"""The simulated host as the trace finds it: CPUs, host threads, QEMU processes with their
vCPU threads, VMs that libvirtd launches later, and each vCPU's pre-drawn guest exits."""

from __future__ import annotations

from dataclasses import dataclass, replace

from w2a_tui.sim.constants import (
    LIBVIRTD_PID,
    NOISE_EXITS,
    RIP_BASE,
    SYSCALL_INT_VECTOR,
    US,
    PoolExit,
)
from w2a_tui.sim.core import Part
from w2a_tui.sim.entities import (
    M_BLOCKED,
    NEWBORN,
    Cpu,
    Kind,
    Thread,
    Vcpu,
    Vm,
)
from w2a_tui.sim.scenarios import Scenario
from w2a_tui.sim.truth import Lane


@dataclass(frozen=True, slots=True)
class VmmNames:
    """How a VMM names its threads (main, vCPU with `{}` for its index, disk, net)."""

    main: str
    vcpu: str
    disk: str
    net: str


_QEMU = VmmNames("qemu-system-x86", "CPU {}/KVM", "IO iothread0", "vhost-{}")
_VMM_NAMES = {
    "qemu": _QEMU,
    # Firecracker: the VMM thread emulates the devices; its vCPU threads are `fc_vcpu N`.
    "firecracker": VmmNames("firecracker", "fc_vcpu {}", "firecracker", "firecracker"),
    # Cloud Hypervisor: `vcpuN`, one thread per virtio queue named after the device.
    "cloud-hypervisor": VmmNames("cloud-hyperviso", "vcpu{}", "_disk0_q0", "_net1_qp0"),
}


class HostSetup(Part):
    """Builds the host before the first event."""

    def build(self) -> None:
        """CPUs, host threads, QEMU processes and their vCPUs, into the core."""
        sc, rng = self.sc, self.rng
        for c in range(sc.pcpus):
            idle = Thread(0, 0, 0, f"swapper/{c}", Kind.IDLE, c)
            self.cpus.append(Cpu(c, idle, idle, fixed_ts=self.core.t0))
        self.add_thread(1, 1, 0, "systemd", Kind.TOOL, 0)
        self.add_thread(2, 2, 0, "kthreadd", Kind.TOOL, 0)
        self.core.sessiond = self.add_thread(812, 812, 1, "lttng-sessiond", Kind.TOOL, 0)
        for c in range(sc.pcpus):
            kw = self.add_thread(40 + 6 * c, 40 + 6 * c, 2, f"kworker/{c}:1", Kind.KWORKER, c)
            kw.allowed = (c,)
            self.core.kworkers.append(kw)
        for b in range(sc.batch_threads):
            tid = 6100 + b
            cpus = sc.batch_cpus or (*range(1, sc.pcpus), 0)
            th = self.add_thread(tid, tid, 6099, sc.batch_comm, Kind.BATCH, cpus[b % len(cpus)])
            th.allowed = sc.batch_cpus or None
            self.core.batch.append(th)
        late = [p for p in sc.vm_profiles[: sc.vms] if p.start_at > 0]
        if late:  # libvirtd, whose RPC worker forks the QEMU of each late VM
            self.add_thread(LIBVIRTD_PID, LIBVIRTD_PID, 1, "libvirtd", Kind.TOOL, 0)
            self.core.libvirt_worker = self.add_thread(
                LIBVIRTD_PID + 1, LIBVIRTD_PID, 1, "rpc-worker", Kind.TOOL, 1 % sc.pcpus
            )
        for i in range(sc.vms):
            pid = 3100 + 200 * i
            prof = sc.vm_profiles[i] if i < len(sc.vm_profiles) else None
            vsc = replace(sc, **dict(prof.guest)) if prof is not None else sc
            names = _VMM_NAMES[sc.vmms[i % len(sc.vmms)]]
            qemu_name = f"qemu:{prof.name}"[:15] if prof is not None else "qemu-system-x86"
            name = qemu_name if names is _QEMU else names.main
            main = self.add_thread(pid, pid, 1, name, Kind.MAIN, i % sc.pcpus)
            # call_rcu starts before QEMU renames its main thread: it keeps the binary's name.
            self.add_thread(pid + 1, pid, 1, "qemu-system-x86", Kind.TOOL, 0)
            use_io = vsc.iothread == "all" or (vsc.iothread == "odd" and i % 2 == 1)
            io = main
            if use_io:
                io = self.add_thread(pid + 2, pid, 1, names.disk, Kind.IOTHREAD, i % sc.pcpus)
            vhost_tid = pid + 150
            if names is _QEMU:  # vhost-net: a kernel thread of its own, named for the VM
                vhost = self.add_thread(vhost_tid, vhost_tid, 2, f"vhost-{pid}", Kind.VHOST, 0)
            else:  # the VMM's own net device thread (no vhost): a thread of the VM
                vhost = self.add_thread(vhost_tid, pid, 1, names.net, Kind.VHOST, 0)
            vm = Vm(
                index=i,
                pid=pid,
                name=name,
                sc=vsc,
                main=main,
                io=io,
                vhost=vhost,
                disk_vec=0x22 + 2 * i + (1 if use_io else 0),
                net_vec=0x41 + 3 * i,
                disk_irq=120 + i,
                nic_irq=140 + i,
                irq_cpu=(2 * i + 1) % sc.pcpus,
            )
            n_vcpus = sc.vcpu_counts[i] if i < len(sc.vcpu_counts) else sc.vcpus
            pinned = prof.cpus if prof is not None else ()
            if prof is not None:
                n_vcpus = prof.vcpus
            for v in range(n_vcpus):
                tid = pid + 10 + v
                cpu = pinned[v % len(pinned)] if pinned else (i * sc.vcpus + v) % sc.pcpus
                th = self.add_thread(tid, pid, 1, names.vcpu.format(v), Kind.VCPU, cpu)
                th.allowed = (cpu,) if pinned else None
                pool = self._exit_pool(vsc, v)
                vc = Vcpu(vm, v, th, Lane(pid, vm.name, v, tid, self.core.t0), pool)
                vc.pool_i = rng.randrange(len(vc.exits))
                th.vm, th.vcpu = vm, vc
                vm.vcpus.append(vc)
            if prof is not None and prof.start_at > 0:
                self._make_late(vm, self.core.t0 + int(prof.start_at * sc.seconds * 1e9))
            self.vms.append(vm)
        for th in self.threads.values():
            if th.kind is not Kind.VCPU:
                th.vm = next((vm for vm in self.vms if vm.pid == th.pid), None)

    def _make_late(self, vm: Vm, launch: int) -> None:
        """A VM that libvirtd launches during the trace: its threads do not exist yet, and
        each is born with its parent's comm, renamed as QEMU and the kernel really do."""
        vm.launch = launch
        vm.started = False
        vm.call_rcu = self.threads[vm.pid + 1]
        binary = "qemu-system-x86"  # the comm exec gives (the file name, 15 bytes)
        staged: list[tuple[Thread, tuple[str, ...]]] = [
            (vm.main, ("rpc-worker", binary, vm.name)),
            (vm.call_rcu, (binary,)),  # forked before QEMU renames its main thread
            (vm.vhost, ("kthreadd", vm.vhost.comm)),  # a kthread (Linux < 6.4)
        ]
        if vm.io is not vm.main:
            staged.append((vm.io, (vm.name, vm.io.comm)))
        for v in vm.vcpus:
            staged.append((v.thread, (vm.name, v.thread.comm)))
            v.starting = NEWBORN
            v.mode = M_BLOCKED
            v.at_start = "not_started"
        for th, names in staged:
            if th.kind in (Kind.IOTHREAD, Kind.VHOST):
                th.work.append(("rename",))  # first thing it does when it runs
            th.names = names
            th.born = False
            th.comm = names[0]
            th.comm_b = th.comm.encode()[:15]
            th.ctx = th.name_key(0)
            th.ppid = LIBVIRTD_PID if th.kind is not Kind.VHOST else 2

    def _exit_pool(self, sc: Scenario, vid: int) -> list[PoolExit]:
        """Pre-drawn noise exits (burst ns, handling ns, kvm_exit payload, kvm_inj_virq
        payload before the re-entry or () for none)."""
        rng, x = self.rng, self.x
        names = [n for n, _, _ in NOISE_EXITS]
        weights = [w for _, w, _ in NOISE_EXITS]
        mean_h = {n: h for n, _, h in NOISE_EXITS}
        extra = self.profile.exit_extra_fields
        soft = sc.soft_int_prob > 0 and self.profile.inj_virq_soft
        pool = []
        for name in rng.choices(names, weights, k=2048):
            burst = max(300, int(rng.expovariate(1.0 / (sc.burst_us * US))))
            handle = int(mean_h[name] * rng.uniform(0.6, 1.6))
            reason = x[name]
            rip = RIP_BASE + rng.randrange(0, 0xFFFFF0, 16)
            info1 = rng.randrange(0, 0x1000) if name != "ept_violation" else 0x181
            info2 = rng.randrange(0x100000, 0x7FFFFFFF) if name.startswith("ept") else 0
            intr = 0x800000EC if name == "ext_intr" else 0
            payload: tuple[int, ...] = (reason, rip, sc.isa, info1, info2)
            if extra:
                payload += (intr, 0, vid)
            inject: tuple[int, ...] = ()
            if name == "preempt_timer" and not sc.apicv:
                inject = self.inj_payload(sc.timer_vector)
            elif name == "ept_violation" and soft and rng.random() < sc.soft_int_prob:
                inject = self.inj_payload(SYSCALL_INT_VECTOR, soft=True)
            pool.append((burst, handle, payload, inject))
        return pool
