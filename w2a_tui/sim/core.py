"""The simulator's state and the primitives every part uses: the event heap, emitting onto
a CPU's buffer, claiming a CPU (cutting the live guest plan), truth rows, the run loop,
and flushing what can no longer change to the sinks.

The parts of the simulator (host setup, start-up, scheduler, vCPU in the guest, vCPU
waiting, workers, VM launch) are separate objects (`Part`) that share one `SimCore` and
call each other through the collaborators `engine.Simulator` hands each one.
"""

from __future__ import annotations

import heapq
import random
from bisect import bisect_left
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from w2a_tui.sim import tracepoints as tp
from w2a_tui.sim.constants import MIN_GAP_NS, SVM, VMX
from w2a_tui.sim.entities import GUEST, IDLE_KEY, RENAMED_KEY, Cpu, Kind, Thread, Vcpu, Vm
from w2a_tui.sim.scenarios import Scenario

_TS = itemgetter(0)


class SimCore:
    """The state every part shares (scenario, clock, heap, CPUs, threads, VMs) and the
    primitives they use; `run()` runs the heap until simulated time is over."""

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

    def add_thread(self, tid: int, pid: int, ppid: int, comm: str, kind: Kind, cpu: int) -> Thread:
        th = Thread(tid, pid, ppid, comm, kind, cpu)
        self.threads[tid] = th
        return th

    def at(self, t: int, fn: Callable[..., None], *args: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, fn, args))

    def emit(self, cpu: Cpu, t: int, key: str, *payload: Any) -> None:
        cpu.buf.append((t, self.ids[key], cpu.cur.ctx, *payload))
        cpu.fixed_ts = t

    def postponed(self, cpu: Cpu, t: int, fn: Callable[..., None], *args: Any) -> bool:
        """Handlers never run ahead of the clock: if `cpu` already has events at or after
        `t` (a sequence emitted at once), run `fn` again when the CPU is free."""
        free = cpu.fixed_ts + MIN_GAP_NS
        if t >= free:
            return False
        self.at(free, fn, *args)
        return True

    def begin(self, cpu: Cpu, t: int) -> int:
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

    def row(self, v: Vcpu, t: int, state: int, **kw: int) -> None:
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

    def d(self, lo_ns: int, hi_ns: int) -> int:
        return self.rng.randint(lo_ns, hi_ns)

    def exp_ns(self, mean_ns: float) -> int:
        return max(1, int(self.rng.expovariate(1.0 / mean_ns)))

    def inj_payload(self, vector: int, soft: bool = False) -> tuple[int, ...]:
        """kvm_inj_virq's payload in this kernel's layout (soft ones are re-injections)."""
        if self.profile.inj_virq_soft:
            return (vector, int(soft), int(soft))
        return (vector,)

    def run(self, progress: Callable[[float], None] | None = None) -> None:
        """Run the events on the heap until simulated time is over; `progress` hears the
        fraction of simulated time done every few thousand events (the caller decides how
        often to show it)."""
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


class Part:
    """One of the simulator's collaborating objects. It works on the shared `core`, and keeps
    at hand what every part uses: the core's fixed inputs and containers (the scenario, the
    random stream, CPUs, threads, VMs) and its primitives, bound once (they are on the hot
    path: a bound method here costs one attribute lookup, as a method of the part would)."""

    def __init__(self, core: SimCore) -> None:
        self.core = core
        self.sc = core.sc
        self.rng = core.rng
        self.x = core.x
        self.profile = core.profile
        self.wake_events = core.wake_events
        self.ids = core.ids
        self.cpus = core.cpus
        self.threads = core.threads
        self.vms = core.vms
        self.add_thread = core.add_thread
        self.at = core.at
        self.emit = core.emit
        self.postponed = core.postponed
        self.begin = core.begin
        self.row = core.row
        self.d = core.d
        self.exp_ns = core.exp_ns
        self.inj_payload = core.inj_payload
