"""A discrete-event simulator of a KVM host: pCPUs, a CFS-like scheduler, QEMU processes,
host noise, and guests that run, exit, halt and get woken by timers, IPIs, disk and net.

It emits the kernel events a real host would emit, in the order KVM emits them, onto
per-CPU buffers (`(ts, class_id, ctx_tid, *payload)`), and records for every vCPU the
state the contract (vcpu-states.md) assigns, from those very events.

Speed: guest exits that interact with nothing are *planned* ahead in one tight loop
(written straight to the CPU buffer and the truth lane) up to the vCPU's next
interacting action; anything that later touches that CPU earlier cuts the plan at its
time (`_begin`). Guest behaviour is memoryless, so a cut plan is simply redrawn.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum
from operator import itemgetter
from typing import Any, Final

from w2a_tui.model import Source, State
from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.scenarios import Scenario
from w2a_tui.sim.truth import Lane

US: Final = 1000
_TS = itemgetter(0)

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


class Kind(IntEnum):
    IDLE = 0
    VCPU = 1
    MAIN = 2
    IOTHREAD = 3
    VHOST = 4
    KWORKER = 5
    BATCH = 6
    TOOL = 7


SLEEPING, RUNNABLE, RUNNING = 0, 1, 2
NO_TID: Final = -1  # "no thread" in truth rows
IDLE_KEY: Final = -2  # context key of swapper/N is IDLE_KEY - N
# Context key of a thread's earlier comm (before exec / prctl renamed it): RENAMED_KEY -
# 4 * tid - stage. A thread's current comm always has the key `tid`.
RENAMED_KEY: Final = -(1 << 30)
# vCPU modes.
M_RUN, M_POLL, M_WAIT, M_BLOCKED, M_PREEMPTED = range(5)
# A vCPU thread born in the trace: not yet named `CPU n/KVM`, then waiting for `cont`.
NEWBORN, AWAIT_START = 1, 2
INITIAL_STATES: Final = ("halted", "guest", "hypervisor", "preempted")
QEMU_BINARY: Final = b"/usr/bin/qemu-system-x86_64"
LIBVIRTD_PID: Final = 1400
# Who emitted an accept / woke a thread, for the contract's rules 2 and 3.
E_VCPU, E_MAIN, E_VHOST, E_HRTIMER, E_SOFTIRQ_BLOCK, E_SOFTIRQ_NET, E_OTHER = range(7)

GUEST, HYPER = int(State.GUEST), int(State.HYPERVISOR)


@dataclass(slots=True, eq=False)
class Thread:
    tid: int
    pid: int
    ppid: int
    comm: str
    kind: Kind
    cpu: int
    prio: int = 20
    run: int = SLEEPING
    allowed: tuple[int, ...] | None = None  # None: any CPU
    vm: Vm | None = None
    vcpu: Vcpu | None = None
    work: list[tuple[Any, ...]] = field(default_factory=list)
    step_tok: int = 0
    switch_in: int = 0
    switch_out: int = 0  # time of the last switch-out: no switch-in anywhere before it
    ctx: int = 0  # key of the pid/tid/procname context: the tid, or IDLE_KEY - cpu
    comm_b: bytes = b""
    names: tuple[str, ...] = ()  # successive comms of a thread born in the trace
    stage: int = 0  # index of the current comm in `names`
    born: bool = True  # False until forked (threads of a VM launched during the trace)

    def __post_init__(self) -> None:
        self.comm_b = self.comm.encode()[:15]
        self.ctx = self.tid if self.kind is not Kind.IDLE else IDLE_KEY - self.cpu

    def name_key(self, stage: int) -> int:
        """The context key of this thread while it carries `names[stage]`."""
        return self.tid if stage >= len(self.names) - 1 else RENAMED_KEY - 4 * self.tid - stage

    def rename(self) -> None:
        """exec or prctl(PR_SET_NAME): the next comm in `names`."""
        self.stage += 1
        self.comm = self.names[self.stage]
        self.comm_b = self.comm.encode()[:15]
        self.ctx = self.name_key(self.stage)


@dataclass(slots=True, eq=False)
class Wait:
    """The open off-CPU interval of a vCPU that blocked (after HLT or in userspace)."""

    row: int  # absolute row index in the lane
    halted: bool
    accept: tuple[int, int] | None = None  # rule 2: (vector, emitter kind), last in window
    woken: bool = False
    wake_ts: int = 0
    waker_tid: int = -1
    waker_kind: int = E_OTHER


@dataclass(slots=True, eq=False)
class Vcpu:
    vm: Vm
    vid: int
    thread: Thread
    lane: Lane
    exits: list[PoolExit]
    pool_i: int = 0
    mode: int = M_WAIT
    phase: int = HYPER
    last_exit: int = -1
    known: bool = False  # False until the first kvm_entry (the lane is `unknown` before)
    pending: list[int] = field(default_factory=list)
    wait: Wait | None = None
    timer_pending: bool = False  # timer fired, the vCPU thread accepts it after switch-in
    hlt_soon: bool = False
    plan_tok: int = 0
    plan_buf0: int = -1  # index in the CPU buffer where the live plan starts (-1: none)
    plan_row0: int = 0
    poll_tok: int = 0
    timer_tok: int = 0
    kick_due: bool = False
    starting: int = 0  # NEWBORN / AWAIT_START for a vCPU thread born in the trace
    at_start: str = "halted"  # where it was when the trace began (INITIAL_STATES)


@dataclass(slots=True, eq=False)
class Vm:
    index: int
    pid: int
    name: str
    sc: Scenario  # the scenario with this VM's own guest behaviour
    main: Thread
    io: Thread  # the disk-completion thread: main thread or `IO iothread0`
    vhost: Thread
    disk_vec: int
    net_vec: int
    disk_irq: int
    nic_irq: int
    irq_cpu: int
    vcpus: list[Vcpu] = field(default_factory=list)
    learned_disk: set[int] = field(default_factory=set)
    learned_net: set[int] = field(default_factory=set)
    launch: int = 0  # when libvirtd launches it (0: it ran before the trace)
    started: bool = True  # False until its main thread lets the vCPUs run (QMP `cont`)
    call_rcu: Thread | None = None


@dataclass(slots=True, eq=False)
class Cpu:
    id: int
    idle: Thread
    cur: Thread
    buf: list[tuple[Any, ...]] = field(default_factory=list)
    rq: list[Thread] = field(default_factory=list)
    fixed_ts: int = 0
    plan: Vcpu | None = None
    slice_tok: int = 0
    slice_armed: bool = False
    resched_armed: bool = False


class Simulator:
    """Runs one scenario; `run()` returns when simulated time is over."""

    def __init__(
        self,
        sc: Scenario,
        classes: dict[str, tp.EventClass],
        profile: tp.KernelProfile,
        t0: int,
        sink: Callable[[int, list[tuple[Any, ...]]], None],
        clock_offset: int = 0,
    ) -> None:
        self.sc = sc
        self.rng = random.Random(sc.seed)
        self.profile = profile
        self.ids = {k: c.id for k, c in classes.items()}
        self.t0 = t0
        self.t_end = t0 + int(sc.seconds * 1e9)
        self.sink = sink
        self.clock_offset = clock_offset  # truth rows are written in ns from the origin
        self.heap: list[tuple[Any, ...]] = []
        self.seq = 0
        self.now = t0
        self.x = VMX if sc.isa == 1 else SVM
        self.threads: dict[int, Thread] = {}
        self.cpus: list[Cpu] = []
        self.vms: list[Vm] = []
        self.batch: list[Thread] = []
        self.kworkers: list[Thread] = []
        self.wake_events = sc.wakeup_events
        self._flushed_max = t0
        self.libvirt_worker: Thread | None = None
        self._build_host()

    # ------------------------------------------------------------------ setup
    def _thread(self, tid: int, pid: int, ppid: int, comm: str, kind: Kind, cpu: int) -> Thread:
        th = Thread(tid, pid, ppid, comm, kind, cpu)
        self.threads[tid] = th
        return th

    def _build_host(self) -> None:
        sc, rng = self.sc, self.rng
        for c in range(sc.pcpus):
            idle = Thread(0, 0, 0, f"swapper/{c}", Kind.IDLE, c)
            self.cpus.append(Cpu(c, idle, idle, fixed_ts=self.t0))
        self._thread(1, 1, 0, "systemd", Kind.TOOL, 0)
        self._thread(2, 2, 0, "kthreadd", Kind.TOOL, 0)
        self.sessiond = self._thread(812, 812, 1, "lttng-sessiond", Kind.TOOL, 0)
        for c in range(sc.pcpus):
            kw = self._thread(40 + 6 * c, 40 + 6 * c, 2, f"kworker/{c}:1", Kind.KWORKER, c)
            kw.allowed = (c,)
            self.kworkers.append(kw)
        for b in range(sc.batch_threads):
            tid = 6100 + b
            cpus = sc.batch_cpus or (*range(1, sc.pcpus), 0)
            th = self._thread(tid, tid, 6099, sc.batch_comm, Kind.BATCH, cpus[b % len(cpus)])
            th.allowed = sc.batch_cpus or None
            self.batch.append(th)
        late = [p for p in sc.vm_profiles[: sc.vms] if p.start_at > 0]
        if late:  # libvirtd, whose RPC worker forks the QEMU of each late VM
            self._thread(LIBVIRTD_PID, LIBVIRTD_PID, 1, "libvirtd", Kind.TOOL, 0)
            self.libvirt_worker = self._thread(
                LIBVIRTD_PID + 1, LIBVIRTD_PID, 1, "rpc-worker", Kind.TOOL, 1 % sc.pcpus
            )
        for i in range(sc.vms):
            pid = 3100 + 200 * i
            prof = sc.vm_profiles[i] if i < len(sc.vm_profiles) else None
            vsc = replace(sc, **dict(prof.guest)) if prof is not None else sc
            name = f"qemu:{prof.name}"[:15] if prof is not None else "qemu-system-x86"
            main = self._thread(pid, pid, 1, name, Kind.MAIN, i % sc.pcpus)
            # call_rcu starts before QEMU renames its main thread: it keeps the binary's name.
            self._thread(pid + 1, pid, 1, "qemu-system-x86", Kind.TOOL, 0)
            use_io = vsc.iothread == "all" or (vsc.iothread == "odd" and i % 2 == 1)
            io = main
            if use_io:
                io = self._thread(pid + 2, pid, 1, "IO iothread0", Kind.IOTHREAD, i % sc.pcpus)
            vhost_tid = pid + 150
            vhost = self._thread(vhost_tid, vhost_tid, 2, f"vhost-{pid}", Kind.VHOST, 0)
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
                th = self._thread(tid, pid, 1, f"CPU {v}/KVM", Kind.VCPU, cpu)
                th.allowed = (cpu,) if pinned else None
                pool = self._exit_pool(vsc, v)
                vc = Vcpu(vm, v, th, Lane(pid, vm.name, v, tid, self.t0), pool)
                vc.pool_i = rng.randrange(len(vc.exits))
                th.vm, th.vcpu = vm, vc
                vm.vcpus.append(vc)
            if prof is not None and prof.start_at > 0:
                self._make_late(vm, self.t0 + int(prof.start_at * sc.seconds * 1e9))
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

    def _inj_payload(self, vector: int, soft: bool = False) -> tuple[int, ...]:
        """kvm_inj_virq's payload in this kernel's layout (soft ones are re-injections)."""
        if self.profile.inj_virq_soft:
            return (vector, int(soft), int(soft))
        return (vector,)

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
                inject = self._inj_payload(sc.timer_vector)
            elif name == "ept_violation" and soft and rng.random() < sc.soft_int_prob:
                inject = self._inj_payload(SYSCALL_INT_VECTOR, soft=True)
            pool.append((burst, handle, payload, inject))
        return pool

    # ------------------------------------------------------------ primitives
    def _at(self, t: int, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fn, args))

    def _emit(self, cpu: Cpu, t: int, key: str, *payload: Any) -> None:
        cpu.buf.append((t, self.ids[key], cpu.cur.ctx, *payload))
        cpu.fixed_ts = t

    def _postponed(self, cpu: Cpu, t: int, fn: Callable[..., None], *args: Any) -> bool:
        """Handlers never run ahead of the clock: if `cpu` already has events at or after
        `t` (a sequence emitted at once), run `fn` again when the CPU is free."""
        free = cpu.fixed_ts + MIN_GAP_NS
        if t >= free:
            return False
        self._at(free, fn, *args)
        return True

    def _begin(self, cpu: Cpu, t: int) -> int:
        """Claim `cpu` from `t` on: cut the live guest plan there; the effective start."""
        if t < cpu.fixed_ts + MIN_GAP_NS:
            t = cpu.fixed_ts + MIN_GAP_NS
        v = cpu.plan
        if v is not None:
            self._cut(v, cpu, t)
        return t

    def _cut(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        buf = cpu.buf
        del buf[bisect_left(buf, t, lo=max(v.plan_buf0, 0), key=_TS) :]
        rows = v.lane.rows
        del rows[bisect_left(rows, t, lo=max(v.plan_row0, 0), key=_TS) :]
        if v.lane.base == 0 and len(rows) == 1:  # the cut exits were its first evidence
            v.known = False
            v.phase = GUEST  # the plan began in the guest, before the trace
            v.last_exit = -1
        else:
            last = rows[-1]
            v.phase = last[1]
            v.last_exit = last[2]
        v.plan_tok += 1
        v.plan_buf0 = -1
        cpu.plan = None
        if buf and buf[-1][0] > cpu.fixed_ts:
            cpu.fixed_ts = buf[-1][0]

    def _row(self, v: Vcpu, t: int, state: int, **kw: int) -> None:
        if not v.known:
            return
        v.lane.rows.append(
            (
                t,
                state,
                kw.get("exit", v.last_exit),
                kw.get("source", 0),
                kw.get("vector", -1),
                kw.get("waker", -1),
                kw.get("next_tid", -1),
            )
        )

    def _d(self, lo_ns: int, hi_ns: int) -> int:
        return self.rng.randint(lo_ns, hi_ns)

    # -------------------------------------------------------------- the run
    def run(self) -> None:
        self._start()
        heap = self.heap
        pop = heapq.heappop
        t_end = self.t_end
        steps = 0
        while heap:
            t, _, fn, args = heap[0]
            if t > t_end:
                break
            pop(heap)
            self.now = t
            fn(t, *args)
            steps += 1
            if steps % 4096 == 0:
                self.flush(t)
        for cpu in self.cpus:
            if cpu.plan is not None:
                self._cut(cpu.plan, cpu, t_end)

    def last_ts(self) -> int:
        """The time of the trace's last event."""
        pending = [int(c.buf[-1][0]) for c in self.cpus if c.buf]
        return max([self.t0, self._flushed_max, *pending])

    def flush(self, now: int, final: bool = False) -> None:
        """Hand every event and truth row that can no longer change to the sinks."""
        for cpu in self.cpus:
            buf = cpu.buf
            k = len(buf) if final else bisect_left(buf, now, key=_TS)
            if k:
                self.sink(cpu.id, buf[:k])
                self._flushed_max = max(self._flushed_max, buf[k - 1][0])
                del buf[:k]
                v = cpu.plan
                if v is not None:
                    v.plan_buf0 = max(0, v.plan_buf0 - k)
        if final:
            return
        who = self.who
        for vm in self.vms:
            for v in vm.vcpus:
                lane = v.lane
                rows = lane.rows
                upto = bisect_left(rows, now, key=_TS) - 1
                if v.wait is not None:
                    upto = min(upto, v.wait.row - lane.base)
                if upto > 256:
                    n = lane.spill(upto, self.clock_offset, who)
                    v.plan_row0 = max(0, v.plan_row0 - n)
                    if v.wait is not None:
                        pass  # absolute index, unchanged

    def who(self, key: int) -> tuple[int, str]:
        """The tid and comm of a context key (a thread under one of its names, or a CPU's
        swapper, tid 0)."""
        if key <= RENAMED_KEY:
            tid, stage = divmod(RENAMED_KEY - key, 4)
            return tid, self.threads[tid].names[stage]
        if key <= IDLE_KEY:
            return 0, self.cpus[IDLE_KEY - key].idle.comm
        th = self.threads[key]
        return key, th.names[-1] if th.names else th.comm

    def contexts(self) -> dict[int, tuple[int, int, bytes]]:
        """pid/tid/procname of every context key, for the CTF writer."""
        out = {}
        for th in self.threads.values():
            for stage, name in enumerate(th.names or (th.comm,)):
                out[th.name_key(stage)] = (th.pid, th.tid, name.encode()[:15])
        for c in self.cpus:
            out[c.idle.ctx] = (0, 0, c.idle.comm_b)
        return out

    # ------------------------------------------------------------- start-up
    def _start(self) -> None:
        sc, rng, t = self.sc, self.rng, self.t0
        cpu0 = self.cpus[0]
        cpu0.cur = self.sessiond
        self.sessiond.run = RUNNING
        # Batch threads: running on their CPU or queued behind another batch thread.
        for b in self.batch:
            cpu = self.cpus[b.cpu]
            if cpu.cur.kind is Kind.IDLE:
                cpu.cur = b
                b.run = RUNNING
            else:
                cpu.rq.append(b)
                b.run = RUNNABLE
                self._ensure_slice(cpu, t)
        if sc.initial:
            running = [v for vm in self.vms if vm.launch == 0 for v in vm.vcpus]
            for k, v in enumerate(running):
                self._place(v, sc.initial[k % len(sc.initial)], t)
        # The statedump, emitted by lttng-sessiond on CPU 0, lists every thread alive.
        self._emit(cpu0, t, tp.STATEDUMP_START)
        ts = t + 2 * US
        for th in self.threads.values():
            if not th.born:
                continue
            status = 6 if th.run == RUNNING else (2 if th.run == RUNNABLE else 5)
            kthread = 1 if th.ppid == 2 or th.tid == 2 else 0
            self._emit(
                cpu0, ts, tp.STATEDUMP_PROCESS,
                th.tid, th.tid, th.pid, th.pid, th.ppid, th.ppid, th.comm_b,
                kthread, 5 if th.run == SLEEPING else 0, 0, status, th.cpu,
            )  # fmt: skip
            ts += self._d(300, 900)
        self._emit(cpu0, ts, tp.STATEDUMP_END)
        self._at(ts + 5 * US, self._sessiond_sleep)
        # A halted vCPU has its LAPIC timer armed; the others run already.
        for vm in self.vms:
            for v in vm.vcpus:
                if v.at_start == "halted":
                    v.wait = None
                    self._arm_timer(v, ts + int(rng.uniform(50, 800) * US))
                else:
                    self._run_placed(v, t)
        for cpu in self.cpus:
            self._at(t + int(rng.uniform(0.1, 1.0) * sc.kworker_period_us * US), self._kwork, cpu)
        for vm in self.vms:
            if vm.sc.main_loop_period_us > 0 and vm.started:
                self._at(t + self._exp_ns(vm.sc.main_loop_period_us * US), self._main_loop, vm)
        for vm in self.vms:
            if vm.sc.net_rx_per_s > 0 and vm.started:
                self._at(t + self._exp_ns(1e9 / vm.sc.net_rx_per_s), self._net_rx_tick, vm)
        for vm in self.vms:
            if not vm.started:
                self._at(vm.launch, self._launch, vm)

    # ------------------------------------------- vCPUs already running at the start
    def _place(self, v: Vcpu, where: str, t: int) -> None:
        """Put a vCPU where it is when the trace begins (before the statedump sees it).
        A vCPU meant to be on a busy CPU waits in its run queue instead (`preempted`)."""
        if where not in INITIAL_STATES:
            raise ValueError(f"unknown initial vCPU state {where!r}")
        th = v.thread
        cpu = self.cpus[th.cpu]
        if where in ("guest", "hypervisor") and cpu.cur.kind is not Kind.IDLE:
            where = "preempted"
        v.at_start = where
        if where in ("guest", "hypervisor"):
            cpu.cur = th
            th.run = RUNNING
            th.switch_in = t
            v.mode = M_RUN
            v.phase = GUEST if where == "guest" else HYPER
        elif where == "preempted":
            th.run = RUNNABLE
            cpu.rq.append(th)
            v.mode = M_PREEMPTED
            v.phase = HYPER

    def _run_placed(self, v: Vcpu, t: int) -> None:
        """Set a placed vCPU going: the guest runs on (its first kvm_exit is its first
        evidence); the hypervisor injects the pending timer tick and enters; a preempted
        one waits for its CPU."""
        cpu = self.cpus[v.thread.cpu]
        if v.at_start == "guest":
            self._plan(v, cpu, t)
        elif v.at_start == "hypervisor":
            if not self.sc.apicv:
                v.pending.append(self.sc.timer_vector)
            v.plan_tok += 1
            self._at(t + self._d(2 * US, 20 * US), self._first_entry, v, v.plan_tok)
        elif cpu.cur.kind is Kind.IDLE:
            cpu.resched_armed = True
            self._at(t + self._d(2 * US, 20 * US), self._resched, cpu)
        else:
            self._ensure_slice(cpu, t)

    def _first_entry(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.plan_tok or v.mode != M_RUN or v.phase != HYPER:
            return
        cpu = self.cpus[v.thread.cpu]
        if cpu.cur is not v.thread or self._postponed(cpu, t, self._first_entry, v, tok):
            return
        self._vcpu_enter(v, cpu, self._begin(cpu, t))

    # ------------------------------------------------- a VM launched in the trace
    def _launch(self, t: int, vm: Vm) -> None:
        """libvirtd's RPC worker wakes (its poll times out) to start the VM's QEMU."""
        worker = self.libvirt_worker
        assert worker is not None
        cpu = self.cpus[worker.cpu]
        if self._postponed(cpu, t, self._launch, vm):
            return
        t = self._irq_enter(cpu, t)
        hrtimer = 0xFFFFA3C0C0000000 + worker.tid * 0x100
        self._emit(cpu, t, tp.HRTIMER_ENTRY, hrtimer, t, HRTIMER_WAKEUP_FN)
        worker.work.append(("spawn", vm))
        t = self._wake(cpu, t + 400, worker, E_OTHER)
        self._emit(cpu, max(t, cpu.fixed_ts) + 300, tp.HRTIMER_EXIT, hrtimer)
        self._irq_leave(cpu, cpu.fixed_ts + 500)

    def _fork(self, cpu: Cpu, t: int, parent: Thread, child: Thread) -> int:
        """`parent` (current on `cpu`) forks `child`, which inherits its comm, and wakes it
        (sched_wakeup_new, no sched_waking); returns the time after the events."""
        ns = tp.PID_NS_INIT_INUM
        self._emit(
            cpu, t, tp.SCHED_PROCESS_FORK,
            parent.comm_b, parent.tid, parent.pid, ns,
            child.comm_b, child.tid, (child.tid,), child.pid, ns,
        )  # fmt: skip
        child.born = True
        child.switch_out = t - US  # it exists from now on, runnable
        target = self._select_cpu(child)
        t2 = t + self._d(1 * US, 3 * US)
        self._emit(cpu, t2, tp.SCHED_WAKEUP_NEW, child.comm_b, child.tid, child.prio, target.id)
        child.run = RUNNABLE
        if t2 <= self.now:
            self._enqueue(t2, child, target)
        else:
            self._at(t2, self._enqueue, child, target)
        return t2 + self._d(200, 600)

    def _startup_work(self, vm: Vm) -> list[tuple[Any, ...]]:
        """What the new QEMU main thread does before the guest runs: exec, the call_rcu
        thread, prctl(PR_SET_NAME, "qemu:NAME"), vhost-net (kthreadd forks `vhost-<pid>`),
        an iothread, one thread per vCPU, machine setup (firmware, ROMs), then `cont`."""
        work: list[tuple[Any, ...]] = [("exec",), ("fork", vm.call_rcu), ("rename",)]
        work.append(("kthread", vm.vhost))
        if vm.io is not vm.main:
            work.append(("fork", vm.io))
        work += [("fork", v.thread) for v in vm.vcpus]
        work += [("init",), ("cont", vm)]
        return work

    def _vcpu_birth(self, t: int, v: Vcpu, tok: int) -> None:
        """A new vCPU thread names itself `CPU n/KVM` and creates its KVM vCPU."""
        th = v.thread
        cpu = self.cpus[th.cpu]
        if tok != v.plan_tok or cpu.cur is not th:
            return
        if self._postponed(cpu, t, self._vcpu_birth, v, tok):
            return
        t = self._begin(cpu, t)
        if th.stage < len(th.names) - 1:
            th.rename()
        v.plan_tok += 1  # KVM_CREATE_VCPU and the vCPU's setup take a while
        self._at(t + self._d(20 * US, 60 * US), self._vcpu_created, v, v.plan_tok)

    def _vcpu_created(self, t: int, v: Vcpu, tok: int) -> None:
        """Enter the guest if QEMU's `cont` came already, else wait for it."""
        th = v.thread
        cpu = self.cpus[th.cpu]
        if tok != v.plan_tok or cpu.cur is not th:
            return
        if self._postponed(cpu, t, self._vcpu_created, v, tok):
            return
        t = self._begin(cpu, t)
        if v.vm.started:
            v.starting = 0
            v.mode = M_RUN
            self._vcpu_enter(v, cpu, t)
        else:
            v.starting = AWAIT_START
            self._block(cpu, t, th)

    def _sessiond_sleep(self, t: int) -> None:
        cpu = self.cpus[0]
        if self._postponed(cpu, t, self._sessiond_sleep):
            return
        if cpu.cur is self.sessiond:
            self._block(cpu, self._begin(cpu, t), self.sessiond)

    def _exp_ns(self, mean_ns: float) -> int:
        return max(1, int(self.rng.expovariate(1.0 / mean_ns)))

    # ------------------------------------------------------------ scheduler
    def _switch(self, cpu: Cpu, t: int, nxt: Thread, prev_state: int) -> None:
        """sched_switch on `cpu` at `t` from its current thread to `nxt`."""
        prev = cpu.cur
        self._emit(
            cpu, t, tp.SCHED_SWITCH,
            prev.comm_b, prev.tid, prev.prio, prev_state, nxt.comm_b, nxt.tid, nxt.prio,
        )  # fmt: skip
        prev.switch_out = t
        pv = prev.vcpu
        if pv is not None:
            self._vcpu_switched_out(pv, cpu, t, prev_state, nxt)
        cpu.cur = nxt
        cpu.slice_tok += 1
        cpu.slice_armed = False
        if nxt in cpu.rq:
            cpu.rq.remove(nxt)
        nxt.run = RUNNING
        nxt.cpu = cpu.id
        nxt.switch_in = t
        nv = nxt.vcpu
        if nv is not None and nv.starting == NEWBORN:
            nv.plan_tok += 1
            self._at(t + self._d(3 * US, 10 * US), self._vcpu_birth, nv, nv.plan_tok)
        elif nv is not None:
            nv.starting = 0
            self._vcpu_switched_in(nv, cpu, t)
        elif nxt.kind is not Kind.IDLE and nxt.kind is not Kind.BATCH:
            nxt.step_tok += 1
            self._at(t + self._d(1 * US, 3 * US), self._step, nxt, nxt.step_tok)
        if cpu.rq:
            self._ensure_slice(cpu, t)

    def _pick_next(self, cpu: Cpu, t: int) -> Thread:
        if cpu.rq:
            return cpu.rq.pop(0)

        def stealable(th: Thread) -> bool:
            allowed = th.allowed is None or cpu.id in th.allowed
            return allowed and th.switch_out + US <= t

        # Idle balance: pull a waiting runnable thread from the busiest other CPU.
        best: Cpu | None = None
        for other in self.cpus:
            bigger = best is None or len(other.rq) > len(best.rq)
            if other is not cpu and bigger and any(stealable(th) for th in other.rq):
                best = other
        if best is not None:
            for th in best.rq:
                if stealable(th):
                    best.rq.remove(th)
                    return th
        return cpu.idle

    def _block(self, cpu: Cpu, t: int, th: Thread, state: int = tp.TASK_INTERRUPTIBLE) -> None:
        th.run = SLEEPING
        self._switch(cpu, t, self._pick_next(cpu, t), state)

    def _preempt(self, cpu: Cpu, t: int) -> None:
        cur = cpu.cur
        if not cpu.rq:
            return
        nxt = cpu.rq.pop(0)
        if cur.kind is not Kind.IDLE:
            cur.run = RUNNABLE
            cpu.rq.append(cur)
        self._switch(cpu, t, nxt, 0 if cur.kind is Kind.IDLE else self.profile.preempt_state)

    def _ensure_slice(self, cpu: Cpu, t: int) -> None:
        if cpu.slice_armed or cpu.cur.kind is Kind.IDLE:
            return
        cpu.slice_armed = True
        slice_ns = max(MIN_GRANULARITY_NS, SCHED_LATENCY_NS // (1 + len(cpu.rq)))
        due = max(t, cpu.cur.switch_in + slice_ns)
        due = (due // TICK_NS + 1) * TICK_NS + cpu.id * 37 * US
        self._at(due, self._tick, cpu, cpu.slice_tok)

    def _tick(self, t: int, cpu: Cpu, tok: int) -> None:
        if tok != cpu.slice_tok or not cpu.rq:
            cpu.slice_armed = False if tok == cpu.slice_tok else cpu.slice_armed
            return
        if self._postponed(cpu, t, self._tick, cpu, tok):
            return
        t = self._irq_enter(cpu, t)
        self._emit(
            cpu, t, tp.HRTIMER_ENTRY, 0xFFFF9A1F3FC1B8E0 + cpu.id * 0x40, t, TICK_SCHED_TIMER_FN
        )
        self._emit(cpu, t + 900, tp.HRTIMER_EXIT, 0xFFFF9A1F3FC1B8E0 + cpu.id * 0x40)
        self._resched_now(cpu, t + 1500)

    def _should_preempt(self, cur: Thread, woken: Thread) -> bool:
        if cur.kind is Kind.BATCH:
            return woken.kind is not Kind.BATCH
        if cur.kind is Kind.VCPU:
            if woken.kind is Kind.KWORKER:
                return True
            if woken.kind in (Kind.MAIN, Kind.IOTHREAD, Kind.VHOST):
                return self.rng.random() < 0.3
        return False

    def _wake(self, cpu: Cpu, t: int, th: Thread, waker_kind: int) -> int:
        """`cpu`'s current context wakes `th` at `t`; returns the time after the events."""
        if th.run != SLEEPING:
            return t
        if self.wake_events:
            self._emit(cpu, t, tp.SCHED_WAKING, th.comm_b, th.tid, th.prio, th.cpu)
        target = self._select_cpu(th)
        v = th.vcpu
        if v is not None and v.wait is not None and not v.wait.woken:
            self._vcpu_woken(v, t, cpu.cur.ctx, waker_kind)
        t2 = t + self._d(300, 900)
        if self.wake_events:
            self._emit(cpu, t2, tp.SCHED_WAKEUP, th.comm_b, th.tid, th.prio, target.id)
        th.run = RUNNABLE
        # Other CPUs see the wake-up only from its time on (the handler may run ahead of
        # the simulation clock on its own CPU).
        if t2 <= self.now and th.switch_out + US <= t2:
            self._enqueue(t2, th, target)
        else:
            self._at(t2, self._enqueue, th, target)
        return t2 + self._d(200, 600)

    def _enqueue(self, t2: int, th: Thread, target: Cpu) -> None:
        if th.switch_out + US > t2:
            # The wake-up raced with the thread's own switch-out: queue it once it is off.
            self._at(th.switch_out + US, self._enqueue, th, target)
            return
        target.rq.append(th)
        if target.cur.kind is Kind.IDLE:
            if not target.resched_armed:
                target.resched_armed = True
                self._at(t2 + self._d(2 * US, 20 * US), self._resched, target)
        elif self._should_preempt(target.cur, th):
            if not target.resched_armed:
                target.resched_armed = True
                self._at(t2 + self._d(1 * US, 4 * US), self._resched, target)
        else:
            self._ensure_slice(target, t2)

    def _select_cpu(self, th: Thread) -> Cpu:
        prev = self.cpus[th.cpu]
        allowed = th.allowed
        if prev.cur.kind is Kind.IDLE and not prev.rq:
            return prev
        n = len(self.cpus)
        for k in range(1, n):
            c = self.cpus[(th.cpu + k) % n]
            if (allowed is None or c.id in allowed) and c.cur.kind is Kind.IDLE and not c.rq:
                return c
        return prev

    def _resched(self, t: int, cpu: Cpu) -> None:
        if self._postponed(cpu, t, self._resched, cpu):
            return
        cpu.resched_armed = False
        t = self._begin(cpu, t)
        if not cpu.rq:
            return
        cur = cpu.cur
        v = cur.vcpu
        if v is not None and v.phase == GUEST:
            # The reschedule IPI makes the guest exit first.
            self._vcpu_exit(v, cpu, t, self.x["ext_intr"])
            t += self._d(800, 2000)
        self._resched_now(cpu, t)

    def _resched_now(self, cpu: Cpu, t: int) -> None:
        """Give the CPU to the first queued thread, as schedule() would at `t`."""
        cur = cpu.cur
        v = cur.vcpu
        if not cpu.rq:
            if v is not None and v.phase == HYPER and v.mode == M_RUN:
                self._vcpu_enter(v, cpu, t + self._d(500, 1500))
            return
        if v is not None and v.mode == M_POLL:
            # need_resched ends halt-polling: the vCPU blocks as it would have anyway.
            self._vcpu_block_halted(v, cpu, t)
            return
        self._preempt(cpu, t)

    # -------------------------------------------------------------- interrupts
    def _irq_enter(self, cpu: Cpu, t: int) -> int:
        t = self._begin(cpu, t)
        v = cpu.cur.vcpu
        if v is not None and v.phase == GUEST:
            self._vcpu_exit(v, cpu, t, self.x["ext_intr"])
            v.kick_due = True
            t += self._d(400, 900)
        return t

    def _irq_leave(self, cpu: Cpu, t: int) -> None:
        v = cpu.cur.vcpu
        if v is not None and v.kick_due:
            v.kick_due = False
            if cpu.resched_armed and cpu.rq:
                return  # the pending reschedule decides what runs next
            self._vcpu_enter(v, cpu, t + self._d(500, 1500))

    # --------------------------------------------------------- vCPU: running
    def _vcpu_exit(self, v: Vcpu, cpu: Cpu, t: int, reason: int) -> None:
        x = self.x
        info1 = 0x181 if reason == x["ept_violation"] else 0
        payload: tuple[int, ...] = (reason, RIP_BASE + 0x3A1C0, self.sc.isa, info1, 0)
        if self.profile.exit_extra_fields:
            intr = 0x800000EC if reason == x["ext_intr"] else 0
            payload += (intr, 0, v.vid)
        self._emit(cpu, t, tp.KVM_EXIT, *payload)
        v.phase = HYPER
        v.last_exit = reason
        v.known = True  # a kvm_exit is evidence, even as the vCPU's first event
        self._row(v, t, HYPER, exit=reason)

    def _vcpu_enter(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """Inject the highest pending vector (without APICv), enter the guest, plan ahead."""
        t = max(t, cpu.fixed_ts)
        if self.sc.apicv:
            v.pending.clear()
        elif v.pending:
            vec = max(v.pending)
            v.pending.remove(vec)
            self._emit(cpu, t, tp.KVM_INJ_VIRQ, *self._inj_payload(vec))
            t += self._d(300, 800)
        self._emit(cpu, t, tp.KVM_ENTRY, v.vid)
        v.phase = GUEST
        v.mode = M_RUN
        if not v.known:
            v.known = True
            v.lane.rows.append((t, GUEST, v.last_exit, 0, -1, -1, -1))
        else:
            self._row(v, t, GUEST)
        self._plan(v, cpu, t)

    def _plan(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """Write the vCPU's non-interacting exits ahead, up to its next action."""
        sc = v.vm.sc
        rng = self.rng
        kinds = (1.0, sc.ipi_per_busy, sc.disk_per_busy, sc.net_per_busy, sc.blocked_per_busy)
        if v.hlt_soon:
            v.hlt_soon = False
            action, left = 0, self._exp_ns(30 * US)
        else:
            total = sum(kinds)
            left = self._exp_ns(sc.busy_us * US / total)
            r = rng.random() * total
            action = 0
            while r >= kinds[action]:
                r -= kinds[action]
                action += 1
        buf = cpu.buf
        rows = v.lane.rows
        v.plan_buf0 = len(buf)
        v.plan_row0 = len(rows)
        cpu.plan = v
        pool = v.exits
        n = len(pool)
        i = v.pool_i
        tid = v.thread.ctx
        exit_id = self.ids[tp.KVM_EXIT]
        entry_id = self.ids[tp.KVM_ENTRY]
        inj_id = self.ids[tp.KVM_INJ_VIRQ]
        vid = v.vid
        known = v.known  # False only for a vCPU in the guest when the trace began
        while True:
            burst, handle, payload, inject = pool[i]
            i += 1
            if i == n:
                i = 0
            if burst >= left:
                t += left
                break
            left -= burst
            t += burst
            buf.append((t, exit_id, tid, *payload))
            if not known:  # its first kvm_exit: the vCPU's first evidence
                known = v.known = True
            rows.append((t, HYPER, payload[0], 0, -1, -1, -1))
            t += handle
            if inject:
                buf.append((t - 250, inj_id, tid, *inject))
            buf.append((t, entry_id, tid, vid))
            rows.append((t, GUEST, payload[0], 0, -1, -1, -1))
        v.pool_i = i
        v.plan_tok += 1
        self._at(t, self._action, v, v.plan_tok, action)

    def _action(self, t: int, v: Vcpu, tok: int, action: int) -> None:
        if tok != v.plan_tok:
            return
        cpu = self.cpus[v.thread.cpu]
        cpu.plan = None
        v.plan_buf0 = -1
        t = max(t, cpu.fixed_ts)
        x = self.x
        if action == 0:
            self._vcpu_exit(v, cpu, t, x["hlt"])
            self._after_hlt(v, cpu, t + self._d(400, 1200))
        elif action == 1 and len(v.vm.vcpus) > 1:
            self._send_ipi(v, cpu, t)
        elif action == 2:
            self._vcpu_exit(v, cpu, t, x["ept_misconfig"])
            self._queue_work(cpu, t + self._d(500, 1500), v.vm.io, ("submit", v), E_VCPU)
            v.hlt_soon = True
            self._vcpu_enter(v, cpu, cpu.fixed_ts + self._d(1 * US, 3 * US))
        elif action == 3:
            self._vcpu_exit(v, cpu, t, x["io"])
            self._queue_work(cpu, t + self._d(500, 1500), v.vm.vhost, ("tx", v), E_VCPU)
            v.hlt_soon = True
            self._vcpu_enter(v, cpu, cpu.fixed_ts + self._d(1 * US, 3 * US))
        elif action == 4:
            self._userspace_exit(v, cpu, t)
        else:
            self._vcpu_exit(v, cpu, t, x["msr_write"])
            self._vcpu_enter(v, cpu, t + self._d(1 * US, 2 * US))

    def _send_ipi(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        others = [u for u in v.vm.vcpus if u is not v]
        target = others[self.rng.randrange(len(others))]
        vec = self.rng.choices([a for a, _ in IPI_VECTORS], [w for _, w in IPI_VECTORS])[0]
        self._vcpu_exit(v, cpu, t, self.x["apic_write" if self.sc.apicv else "msr_write"])
        t2 = self._accept(cpu, t + self._d(400, 900), target, vec, E_VCPU)
        self._vcpu_enter(v, cpu, t2 + self._d(800, 2000))

    def _userspace_exit(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """A port-I/O exit handled in QEMU: if the main thread holds the BQL, block on it."""
        self._vcpu_exit(v, cpu, t, self.x["io"])
        self._emit(cpu, t + self._d(800, 1500), tp.KVM_USERSPACE_EXIT, KVM_EXIT_IO, 0)
        v.plan_tok += 1
        self._at(cpu.fixed_ts + self._d(1 * US, 3 * US), self._take_bql, v, v.plan_tok)

    def _take_bql(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.plan_tok:
            return
        cpu = self.cpus[v.thread.cpu]
        if self._postponed(cpu, t, self._take_bql, v, tok):
            return
        t = self._begin(cpu, t)
        main = v.vm.main
        if main.run != SLEEPING:
            # The main loop is busy and holds the BQL: wait for it (futex, TASK_INTERRUPTIBLE).
            main.work.append(("bql", v))
            v.mode = M_BLOCKED
            self._vcpu_block(v, cpu, t, halted=False)
        else:
            self._vcpu_enter(v, cpu, t + self._d(4 * US, 12 * US))

    # ------------------------------------------------------ vCPU: idle & wait
    def _after_hlt(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        if v.pending or v.timer_pending:
            self._vcpu_resume_from_halt(v, cpu, t)
            return
        if not self._timer_armed(v):
            self._arm_timer(v, t + int(self.rng.uniform(*v.vm.sc.idle_timer_us) * US))
        # Without halt-polling the thread still checks for events right before schedule():
        # a ~1 us window in which a delivered interrupt cancels the block.
        poll_ns = self.sc.halt_poll_ns or self._d(300, 900)
        v.mode = M_POLL
        v.poll_tok += 1
        self._at(t + poll_ns, self._poll_end, v, v.poll_tok)

    def _timer_armed(self, v: Vcpu) -> bool:
        return v.timer_tok > 0

    def _arm_timer(self, v: Vcpu, due: int) -> None:
        v.timer_tok = abs(v.timer_tok) + 1
        self._at(due, self._timer_fire, v, v.timer_tok)

    def _disarm_timer(self, v: Vcpu) -> None:
        v.timer_tok = -abs(v.timer_tok) - 1

    def _poll_end(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.poll_tok or v.mode != M_POLL:
            return
        cpu = self.cpus[v.thread.cpu]
        if self._postponed(cpu, t, self._poll_end, v, tok):
            return
        if v.pending or v.timer_pending:
            self._vcpu_resume_from_halt(v, cpu, self._begin(cpu, t))
            return
        self._vcpu_block_halted(v, cpu, self._begin(cpu, t))

    def _vcpu_block_halted(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        v.poll_tok += 1
        v.mode = M_WAIT
        self._vcpu_block(v, cpu, t, halted=True)

    def _vcpu_block(self, v: Vcpu, cpu: Cpu, t: int, halted: bool) -> None:
        self._block(cpu, max(t, cpu.fixed_ts), v.thread)

    def _vcpu_switched_out(self, v: Vcpu, cpu: Cpu, t: int, prev_state: int, nxt: Thread) -> None:
        v.plan_tok += 1  # whatever the thread was about to do resumes at switch-in
        if prev_state & 0xFF:
            halted = v.mode == M_WAIT
            state = State.WAIT_UNKNOWN if halted else State.BLOCKED
            self._row(v, t, int(state))
            if v.known:
                v.wait = Wait(row=v.lane.base + len(v.lane.rows) - 1, halted=halted)
        else:
            v.mode = M_PREEMPTED
            self._row(v, t, int(State.PREEMPTED), next_tid=nxt.ctx)
        v.kick_due = False

    def _vcpu_woken(self, v: Vcpu, t: int, waker: int, waker_kind: int) -> None:
        """The wake-up ends the wait (then `ready`), unless the trace cannot show it."""
        w = v.wait
        assert w is not None
        w.woken = True
        w.wake_ts = t
        if not self.wake_events:
            return  # without wake-up events the wait lasts until switch-in
        w.waker_tid = waker
        w.waker_kind = waker_kind
        if not w.halted:
            rows = v.lane.rows
            i = w.row - v.lane.base
            rows[i] = (*rows[i][:5], waker, rows[i][6])
        self._row(v, t, int(State.READY), waker=waker)

    def _accept(self, cpu: Cpu, t: int, v: Vcpu, vec: int, emitter: int) -> int:
        """kvm_apic_accept_irq for `v` in `cpu`'s current context, then deliver it."""
        self._emit(cpu, t, tp.KVM_ACCEPT_IRQ, v.vid, 0, 0, vec, 0)
        t_accept = t
        vm = v.vm
        if emitter == E_MAIN:
            vm.learned_disk.add(vec)
        elif emitter == E_VHOST:
            vm.learned_net.add(vec)
        t += self._d(200, 700)
        w = v.wait
        # Rule 2 window: switch-out .. wake-up (switch-in when the trace has no wake-ups).
        in_window = w is not None and v.thread.switch_out <= t_accept
        after_wake = w is not None and self.wake_events and w.woken and w.wake_ts < t_accept
        if v.mode == M_WAIT and w is not None and in_window and not after_wake:
            w.accept = (vec, emitter)
        # Pending until the next kvm_entry (which injects it, or, with APICv, the guest
        # takes it from the posted-interrupt descriptor without kvm_inj_virq).
        if t <= self.now:
            self._add_pending(t, v, vec)
        else:
            self._at(t, self._add_pending, v, vec)
        if v.mode == M_WAIT and v.thread.run == SLEEPING:
            if vec not in TIMER_VECTORS:
                self._disarm_timer(v)
            return self._wake(cpu, t, v.thread, emitter)
        if v.mode == M_POLL:
            v.poll_tok += 1
            if vec not in TIMER_VECTORS:
                self._disarm_timer(v)
            self._at(t + self._d(500, 1500), self._poll_wake, v, v.poll_tok)
        elif v.mode == M_RUN and not v.kick_due:
            self._at(t + self._d(800, 2000), self._kick, v, v.plan_tok)
        return t

    def _add_pending(self, t: int, v: Vcpu, vec: int) -> None:
        if vec not in v.pending:
            v.pending.append(vec)

    def _kick(self, t: int, v: Vcpu, tok: int) -> None:
        """kvm_vcpu_kick of a running vCPU: exit (if in guest), inject, re-enter."""
        if v.mode != M_RUN or v.thread.run != RUNNING or not v.pending:
            return
        cpu = self.cpus[v.thread.cpu]
        if cpu.cur is not v.thread:
            return
        if self._postponed(cpu, t, self._kick, v, tok):
            return
        if self.sc.apicv:
            v.pending.clear()  # posted: the running guest takes it without an exit
            return
        t = self._begin(cpu, t)
        if v.kick_due:
            return  # an interrupt exit is already being handled; its re-entry injects
        if v.phase == GUEST:
            self._vcpu_exit(v, cpu, t, self.x["ext_intr"])
            t += self._d(500, 1200)
        self._vcpu_enter(v, cpu, t + self._d(300, 900))

    def _poll_wake(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.poll_tok or v.mode != M_POLL:
            return
        cpu = self.cpus[v.thread.cpu]
        if self._postponed(cpu, t, self._poll_wake, v, tok):
            return
        self._vcpu_resume_from_halt(v, cpu, self._begin(cpu, t))

    def _vcpu_resume_from_halt(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        v.poll_tok += 1
        v.mode = M_RUN
        if v.timer_pending:
            v.timer_pending = False
            self._emit(cpu, t, tp.KVM_ACCEPT_IRQ, v.vid, 0, 0, self.sc.timer_vector, 0)
            if not self.sc.apicv:
                v.pending.append(self.sc.timer_vector)
            t += self._d(300, 800)
        self._vcpu_enter(v, cpu, t)

    def _timer_fire(self, t: int, v: Vcpu, tok: int) -> None:
        if tok != v.timer_tok:
            return
        if self._postponed(self.cpus[v.thread.cpu], t, self._timer_fire, v, tok):
            return
        v.timer_tok = -tok
        if v.mode not in (M_WAIT, M_POLL) or (v.mode == M_WAIT and v.thread.run != SLEEPING):
            return
        cpu = self.cpus[v.thread.cpu]
        t = self._irq_enter(cpu, t)
        hrtimer = 0xFFFF9A1F00000000 + v.thread.tid * 0x1000 + 0x2A8
        self._emit(cpu, t, tp.HRTIMER_ENTRY, hrtimer, t, APIC_TIMER_FN)
        t += self._d(300, 800)
        if self.sc.timer_accept == "hrtimer":
            t = self._accept(cpu, t, v, self.sc.timer_vector, E_HRTIMER)
        else:
            v.timer_pending = True
            if v.mode == M_WAIT:
                t = self._wake(cpu, t, v.thread, E_HRTIMER)
            else:
                v.poll_tok += 1
                self._at(t + self._d(500, 1500), self._poll_wake, v, v.poll_tok)
        self._emit(cpu, max(t, cpu.fixed_ts) + self._d(200, 600), tp.HRTIMER_EXIT, hrtimer)
        self._irq_leave(cpu, cpu.fixed_ts + self._d(300, 800))

    def _vcpu_switched_in(self, v: Vcpu, cpu: Cpu, t: int) -> None:
        """Back on a pCPU: hypervisor until kvm_entry; settle the reason of the wait."""
        self._row(v, t, HYPER)
        w = v.wait
        v.wait = None
        prev_mode = v.mode
        v.mode = M_RUN
        t += self._d(2 * US, 8 * US)
        if prev_mode == M_BLOCKED:
            t += self._d(3 * US, 10 * US)  # finish the userspace exit
        if v.timer_pending:
            v.timer_pending = False
            self._emit(cpu, t, tp.KVM_ACCEPT_IRQ, v.vid, 0, 0, self.sc.timer_vector, 0)
            if not self.sc.apicv:
                v.pending.append(self.sc.timer_vector)
            t += self._d(300, 800)
        inj = max(v.pending) if v.pending and not self.sc.apicv else -1
        if w is not None and w.halted:
            self._resolve(v, w, inj)
        self._vcpu_enter(v, cpu, t)

    def _resolve(self, v: Vcpu, w: Wait, inj: int) -> None:
        """Apply the contract's rules to a finished (or still open) wait."""
        if inj >= 0:
            source, vector, reason = Source.INJ_VIRQ, inj, self._classify(v.vm, inj, -1)
        elif w.accept is not None:
            vector, emitter = w.accept
            source, reason = Source.APIC_ACCEPT_IRQ, self._classify(v.vm, vector, emitter)
        elif w.woken and self.wake_events and w.waker_kind != E_OTHER:
            source, vector = Source.WAKER, -1
            reason = {
                E_HRTIMER: State.WAIT_TIMER,
                E_VHOST: State.WAIT_NET,
                E_SOFTIRQ_NET: State.WAIT_NET,
                E_MAIN: State.WAIT_DISK,
                E_SOFTIRQ_BLOCK: State.WAIT_DISK,
                E_VCPU: State.WAIT_TASK,
            }[w.waker_kind]
        else:
            source, vector, reason = Source.NONE, -1, State.WAIT_UNKNOWN
        rows = v.lane.rows
        i = w.row - v.lane.base
        start, _, exit_reason, _, _, _, _ = rows[i]
        waker = w.waker_tid if w.woken else -1
        rows[i] = (start, int(reason), exit_reason, int(source), vector, waker, -1)

    def _classify(self, vm: Vm, vec: int, emitter: int) -> State:
        if vec in TIMER_VECTORS:
            return State.WAIT_TIMER
        if vec in TASK_VECTORS:
            return State.WAIT_TASK
        if vec in vm.learned_disk or emitter == E_MAIN:
            return State.WAIT_DISK
        if vec in vm.learned_net or emitter == E_VHOST:
            return State.WAIT_NET
        if emitter == E_VCPU:
            return State.WAIT_TASK
        return State.WAIT_UNKNOWN

    def finish_open_waits(self) -> None:
        """A wait still open at the end keeps the reason its evidence so far gives."""
        for vm in self.vms:
            for v in vm.vcpus:
                if v.wait is not None and v.wait.halted:
                    self._resolve(v, v.wait, -1)

    # --------------------------------------------------- host worker threads
    def _queue_work(self, cpu: Cpu, t: int, th: Thread, item: tuple[Any, ...], kind: int) -> int:
        th.work.append(item)
        return self._wake(cpu, t, th, kind)

    def _step(self, t: int, th: Thread, tok: int) -> None:
        if tok != th.step_tok or th.run != RUNNING:
            return
        cpu = self.cpus[th.cpu]
        if cpu.cur is not th:
            return
        if self._postponed(cpu, t, self._step, th, tok):
            return
        t = self._begin(cpu, t)
        if not th.work:
            self._block(cpu, t, th)
            return
        item = th.work.pop(0)
        op = item[0]
        d = self._d(3 * US, 10 * US)
        if op == "submit":
            d = self._d(8 * US, 25 * US)
            self._at(t + self._disk_latency(item[1].vm.sc), self._disk_irq, item[1])
        elif op == "complete":
            v = item[1]
            emitter = E_MAIN
            t = self._accept(cpu, t, v, v.vm.disk_vec, emitter)
        elif op == "tx":
            d = self._d(4 * US, 12 * US)
            self._at(t + int(self.rng.uniform(40, 600) * US), self._net_rx, item[1].vm, item[1])
        elif op == "rx":
            v = item[1]
            t = self._accept(cpu, t, v, v.vm.net_vec, E_VHOST)
        elif op == "loop":
            lo, hi = th.vm.sc.main_loop_work_us if th.vm is not None else (30.0, 120.0)
            d = self._d(int(lo * US), int(hi * US))
        elif op == "bql":
            v = item[1]
            if v.thread.run == SLEEPING:
                t = self._wake(cpu, t, v.thread, E_MAIN)
        elif op == "spawn":  # libvirtd forks QEMU's main thread
            vm = item[1]
            vm.main.work = self._startup_work(vm)
            t = self._fork(cpu, t, th, vm.main)
        elif op == "exec":
            self._emit(cpu, t, tp.SCHED_PROCESS_EXEC, QEMU_BINARY, th.tid, th.tid)
            th.rename()
            d = self._d(300 * US, 900 * US)  # loading the binary and its libraries
        elif op == "rename":
            th.rename()
        elif op == "fork":
            t = self._fork(cpu, t, th, item[1])
        elif op == "kthread":  # kthread_create: kthreadd forks it
            t = self._queue_work(cpu, t, self.threads[2], ("fork", item[1]), E_OTHER)
        elif op == "init":
            d = self._d(2000 * US, 5000 * US)
        elif op == "cont":
            t = self._start_vm(cpu, t, item[1])
        th.step_tok += 1
        self._at(max(t, cpu.fixed_ts) + d, self._step, th, th.step_tok)

    def _start_vm(self, cpu: Cpu, t: int, vm: Vm) -> int:
        """QEMU's `cont`: wake the vCPU threads waiting for it; the VM's timers start."""
        vm.started = True
        for v in vm.vcpus:
            if v.starting == AWAIT_START and v.thread.run == SLEEPING:
                t = self._wake(cpu, t, v.thread, E_MAIN)
        if vm.sc.main_loop_period_us > 0:
            self._at(t + self._exp_ns(vm.sc.main_loop_period_us * US), self._main_loop, vm)
        if vm.sc.net_rx_per_s > 0:
            self._at(t + self._exp_ns(1e9 / vm.sc.net_rx_per_s), self._net_rx_tick, vm)
        return t

    def _disk_latency(self, sc: Scenario) -> int:
        """Time from a request's submission to its completion interrupt."""
        if sc.slow_disk_prob > 0 and self.rng.random() < sc.slow_disk_prob:
            return int(self.rng.uniform(*sc.slow_disk_us) * US)
        return int(self.rng.uniform(*sc.disk_latency_us) * US)

    def _disk_irq(self, t: int, v: Vcpu) -> None:
        vm = v.vm
        cpu = self.cpus[vm.irq_cpu]
        if self._postponed(cpu, t, self._disk_irq, v):
            return
        t = self._irq_enter(cpu, t)
        name = f"nvme0q{vm.index + 1}".encode()
        self._emit(cpu, t, tp.IRQ_ENTRY, vm.disk_irq, name)
        self._emit(cpu, t + 400, tp.SOFTIRQ_RAISE, SOFTIRQ_BLOCK)
        self._emit(cpu, t + 900, tp.IRQ_EXIT, vm.disk_irq, 1)
        self._emit(cpu, t + 1500, tp.SOFTIRQ_ENTRY, SOFTIRQ_BLOCK)
        t = self._queue_work(cpu, t + 2500, vm.io, ("complete", v), E_SOFTIRQ_BLOCK)
        self._emit(cpu, t + 300, tp.SOFTIRQ_EXIT, SOFTIRQ_BLOCK)
        self._irq_leave(cpu, t + 800)

    def _net_rx(self, t: int, vm: Vm, v: Vcpu) -> None:
        cpu = self.cpus[(vm.irq_cpu + 1) % len(self.cpus)]
        if self._postponed(cpu, t, self._net_rx, vm, v):
            return
        t = self._irq_enter(cpu, t)
        self._emit(cpu, t, tp.IRQ_ENTRY, vm.nic_irq, b"enp3s0f0-TxRx-1")
        self._emit(cpu, t + 400, tp.SOFTIRQ_RAISE, SOFTIRQ_NET_RX)
        self._emit(cpu, t + 800, tp.IRQ_EXIT, vm.nic_irq, 1)
        self._emit(cpu, t + 1300, tp.SOFTIRQ_ENTRY, SOFTIRQ_NET_RX)
        t = self._queue_work(cpu, t + 3000, vm.vhost, ("rx", v), E_SOFTIRQ_NET)
        self._emit(cpu, t + 300, tp.SOFTIRQ_EXIT, SOFTIRQ_NET_RX)
        self._irq_leave(cpu, t + 800)

    def _net_rx_tick(self, t: int, vm: Vm) -> None:
        v = vm.vcpus[self.rng.randrange(len(vm.vcpus))]
        self._net_rx(t, vm, v)
        self._at(t + self._exp_ns(1e9 / vm.sc.net_rx_per_s), self._net_rx_tick, vm)

    def _main_loop(self, t: int, vm: Vm) -> None:
        """The QEMU main loop's ppoll times out: it runs its timers holding the BQL."""
        main = vm.main
        cpu = self.cpus[main.cpu]
        if self._postponed(cpu, t, self._main_loop, vm):
            return
        t = self._irq_enter(cpu, t)
        hrtimer = 0xFFFFA3C0C0000000 + main.tid * 0x100
        self._emit(cpu, t, tp.HRTIMER_ENTRY, hrtimer, t, HRTIMER_WAKEUP_FN)
        main.work.append(("loop",))
        t = self._wake(cpu, t + 400, main, E_OTHER)
        self._emit(cpu, max(t, cpu.fixed_ts) + 300, tp.HRTIMER_EXIT, hrtimer)
        self._irq_leave(cpu, cpu.fixed_ts + 500)
        self._at(t + self._exp_ns(vm.sc.main_loop_period_us * US), self._main_loop, vm)

    def _kwork(self, t: int, cpu: Cpu) -> None:
        kw = self.kworkers[cpu.id]
        if self._postponed(cpu, t, self._kwork, cpu):
            return
        t = self._irq_enter(cpu, t)
        self._emit(cpu, t, tp.SOFTIRQ_ENTRY, SOFTIRQ_TIMER)
        kw.work.append(("kwork",))
        t = self._wake(cpu, t + 1200, kw, E_OTHER)
        self._emit(cpu, max(t, cpu.fixed_ts) + 300, tp.SOFTIRQ_EXIT, SOFTIRQ_TIMER)
        self._irq_leave(cpu, cpu.fixed_ts + 700)
        period = self.sc.kworker_period_us * US
        self._at(t + int(self.rng.uniform(0.5, 1.5) * period), self._kwork, cpu)
