"""The simulator's state and the primitives every part uses: the event heap, emitting onto
a CPU's buffer, claiming a CPU (cutting the live guest plan), truth rows, the run loop,
and flushing what can no longer change to the sinks.

The parts of the simulator (setup, start-up, scheduler, vCPU, workers) are mixins on
`SimCore`; each calls the others through `self`, declared below for the type checker.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import MIN_GAP_NS, SVM, VMX
from w2a_tui.sim.entities import GUEST, IDLE_KEY, RENAMED_KEY, Cpu, Kind, Thread, Vcpu, Vm
from w2a_tui.sim.scenarios import Scenario

_TS = itemgetter(0)


class SimCore:
    """Runs one scenario; `run()` returns when simulated time is over."""

    sessiond: Thread  # lttng-sessiond, set up with the host

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

    def _thread(self, tid: int, pid: int, ppid: int, comm: str, kind: Kind, cpu: int) -> Thread:
        th = Thread(tid, pid, ppid, comm, kind, cpu)
        self.threads[tid] = th
        return th

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

    def _exp_ns(self, mean_ns: float) -> int:
        return max(1, int(self.rng.expovariate(1.0 / mean_ns)))

    def _inj_payload(self, vector: int, soft: bool = False) -> tuple[int, ...]:
        """kvm_inj_virq's payload in this kernel's layout (soft ones are re-injections)."""
        if self.profile.inj_virq_soft:
            return (vector, int(soft), int(soft))
        return (vector,)

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Simulate up to `t_end`; `progress` hears the fraction of simulated time done
        every few thousand events (the caller decides how often to show it)."""
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
                if progress is not None:
                    progress((t - self.t0) / max(1, t_end - self.t0))
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

    if TYPE_CHECKING:
        # Provided by the mixins that make up `Simulator` (engine.py); declared here only so
        # that each part can call the others through `self`.
        # host_setup.py
        def _build_host(self) -> None: ...
        # startup.py
        def _start(self) -> None: ...
        # vm_launch.py
        def _launch(self, t: int, vm: Vm) -> None: ...
        def _fork(self, cpu: Cpu, t: int, parent: Thread, child: Thread) -> int: ...
        def _startup_work(self, vm: Vm) -> list[tuple[Any, ...]]: ...
        def _vcpu_birth(self, t: int, v: Vcpu, tok: int) -> None: ...
        def _start_vm(self, cpu: Cpu, t: int, vm: Vm) -> int: ...
        # scheduler.py
        def _block(
            self, cpu: Cpu, t: int, th: Thread, state: int = tp.TASK_INTERRUPTIBLE
        ) -> None: ...
        def _ensure_slice(self, cpu: Cpu, t: int) -> None: ...
        def _wake(self, cpu: Cpu, t: int, th: Thread, waker_kind: int) -> int: ...
        def _enqueue(self, t2: int, th: Thread, target: Cpu) -> None: ...
        def _select_cpu(self, th: Thread) -> Cpu: ...
        def _resched(self, t: int, cpu: Cpu) -> None: ...
        def _irq_enter(self, cpu: Cpu, t: int) -> int: ...
        def _irq_leave(self, cpu: Cpu, t: int) -> None: ...
        # vcpu_run.py
        def _vcpu_exit(self, v: Vcpu, cpu: Cpu, t: int, reason: int) -> None: ...
        def _vcpu_enter(self, v: Vcpu, cpu: Cpu, t: int) -> None: ...
        def _plan(self, v: Vcpu, cpu: Cpu, t: int) -> None: ...
        # vcpu_wait.py
        def _after_hlt(self, v: Vcpu, cpu: Cpu, t: int) -> None: ...
        def _arm_timer(self, v: Vcpu, due: int) -> None: ...
        def _vcpu_block_halted(self, v: Vcpu, cpu: Cpu, t: int) -> None: ...
        def _vcpu_block(self, v: Vcpu, cpu: Cpu, t: int, halted: bool) -> None: ...
        def _vcpu_switched_out(
            self, v: Vcpu, cpu: Cpu, t: int, prev_state: int, nxt: Thread
        ) -> None: ...
        def _vcpu_woken(self, v: Vcpu, t: int, waker: int, waker_kind: int) -> None: ...
        def _accept(self, cpu: Cpu, t: int, v: Vcpu, vec: int, emitter: int) -> int: ...
        def _vcpu_switched_in(self, v: Vcpu, cpu: Cpu, t: int) -> None: ...
        # workers.py
        def _queue_work(
            self, cpu: Cpu, t: int, th: Thread, item: tuple[Any, ...], kind: int
        ) -> int: ...
        def _step(self, t: int, th: Thread, tok: int) -> None: ...
        def _net_rx_tick(self, t: int, vm: Vm) -> None: ...
        def _main_loop(self, t: int, vm: Vm) -> None: ...
        def _kwork(self, t: int, cpu: Cpu) -> None: ...
