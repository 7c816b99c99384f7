"""Thread identity: which thread runs which vCPU of which VM, and what each thread and VM
is called. Owned by the Analyzer, which asks it to create, bind and rename vCPU tracks.

Sources, strongest first: the `tid`/`pid`/`procname` event contexts; `sched_process_fork`
and `sched_process_exec`; LTTng's `lttng_statedump_process_state`; the per-CPU current
thread of `sched_switch`. See docs/analysis.md ("Identity") for the decisions.
"""

from __future__ import annotations

from typing import Final

from w2a_tui.analysis.classify import guest_name
from w2a_tui.analysis.tracks import CpuTrack, VcpuTrack
from w2a_tui.events import (
    EXEC_FILENAME,
    EXEC_TID,
    FORK_CHILD_COMM,
    FORK_CHILD_PID,
    FORK_CHILD_TID,
    FORK_PARENT_COMM,
    FORK_PARENT_PID,
    FORK_PARENT_TID,
    PID,
    PROCNAME,
    STATEDUMP_CPU,
    STATEDUMP_NAME,
    STATEDUMP_PID,
    STATEDUMP_STATUS,
    STATEDUMP_TID,
    TID,
    Event,
)
from w2a_tui.model import State

# lttng_process_status. lttng-modules reports every TASK_RUNNING thread, running or
# queued, as WAIT_CPU ("the viewer will sort out if the task was really running"); RUN
# comes from other producers and means running on that CPU.
_STATEDUMP_WAIT_CPU: Final = 2
_STATEDUMP_RUN: Final = 6
# Provisional tids of vCPU threads not named yet (no tid context); -1 means "no thread".
_FIRST_ANONYMOUS_TID: Final = -2


class ThreadIdentity:
    """Threads, processes and vCPU tracks by tid and by `(vm pid, vcpu_id)`.

    `cpus` is the analyzer's per-CPU table (shared): the current thread of a CPU names
    the thread of KVM events recorded without a tid context."""

    def __init__(self, cpus: dict[int, CpuTrack]) -> None:
        self.cpus = cpus
        self.by_tid: dict[int, VcpuTrack] = {}
        self.vcpus: dict[tuple[int, int], VcpuTrack] = {}
        self.vm_pids: set[int] = set()  # pids of the VMs with a vCPU seen so far
        self.tid2pid: dict[int, int] = {}
        self.comms: dict[int, str] = {}
        self.guest_names: dict[int, str] = {}
        self.unattributed = 0  # KVM events no thread could be found for
        self.dropped_threads: set[int] = set()
        self.pseudo_vms: list[int] = []
        self._next_anonymous = _FIRST_ANONYMOUS_TID
        # Provisional tid -> the CPU whose unnamed thread it stands for.
        self.provisional: dict[int, int] = {}
        # CPU -> threads the statedump reported WAIT_CPU there before the CPU switched.
        self.waiting_cpu: dict[int, list[int]] = {}

    # ------------------------------------------------------------------ CPUs

    def new_cpu(self, cpu: int) -> CpuTrack:
        c = self.cpus[cpu] = CpuTrack()
        return c

    def cpu(self, cpu: int) -> CpuTrack:
        c = self.cpus.get(cpu)
        return c if c is not None else self.new_cpu(cpu)

    def current_tid(self, cpu: int) -> int:
        c = self.cpus.get(cpu)
        return c.tid if c is not None else -1

    def comm_of(self, tid: int, c: CpuTrack) -> str:
        if c.tid == tid and c.comm:
            return c.comm
        v = self.by_tid.get(tid)
        if v is not None and v.comm:
            return v.comm
        return self.comms.get(tid, "")

    def pid_of(self, tid: int, ev: Event) -> int:
        if ev[TID] == tid and ev[PID] >= 0:
            return int(ev[PID])
        return self.tid2pid.get(tid, tid)

    # ------------------------------------------------------------------ process events

    def on_fork(self, ev: Event) -> None:
        child_tid, child_pid, child_comm = (
            ev[FORK_CHILD_TID],
            ev[FORK_CHILD_PID],
            ev[FORK_CHILD_COMM],
        )
        parent_tid, parent_pid, parent_comm = (
            ev[FORK_PARENT_TID],
            ev[FORK_PARENT_PID],
            ev[FORK_PARENT_COMM],
        )
        if child_tid >= 0:
            if child_pid >= 0:
                self.learn_pid(child_tid, child_pid)
            if child_comm:
                self.comms[child_tid] = child_comm
        if parent_tid >= 0:
            if parent_pid >= 0 and parent_tid not in self.tid2pid:
                self.learn_pid(parent_tid, parent_pid)
            if parent_comm:
                self.comms.setdefault(parent_tid, parent_comm)

    def on_exec(self, ev: Event, cpu: int) -> None:
        filename = str(ev[EXEC_FILENAME])
        tid = ev[EXEC_TID]
        if tid < 0:
            tid = ev[TID] if ev[TID] >= 0 else self.current_tid(cpu)
        if tid < 0:
            return
        self.comms[tid] = filename.rsplit("/", 1)[-1][:15]
        name = guest_name(filename)
        if name:
            self.guest_names[self.pid_of(tid, ev)] = name

    def on_statedump(self, ev: Event) -> None:
        tid, pid = ev[STATEDUMP_TID], ev[STATEDUMP_PID]
        name, status, cpu = str(ev[STATEDUMP_NAME]), ev[STATEDUMP_STATUS], ev[STATEDUMP_CPU]
        if tid < 0:
            return
        if pid >= 0:
            self.learn_pid(tid, pid)
        if name:
            self.comms[tid] = name
            guest = guest_name(name)
            if guest and pid >= 0:
                self.guest_names[pid] = guest
        if not isinstance(cpu, int) or cpu < 0:
            return
        c = self.cpu(cpu)
        if c.since >= 0:  # a sched_switch there named its thread already
            return
        if status == _STATEDUMP_RUN or (isinstance(status, str) and status.endswith("_RUN")):
            if c.tid < -1:  # the provisional thread of earlier KVM events there
                self.adopt(c.tid, tid, name)
            c.tid = tid
            c.comm = name
        elif status == _STATEDUMP_WAIT_CPU or status == "LTTNG_WAIT_CPU":
            self.waiting_cpu.setdefault(cpu, []).append(tid)

    def learn_pid(self, tid: int, pid: int) -> None:
        """`tid` is a thread of process `pid`. A vCPU thread put in a pseudo VM because its
        pid was not known yet (a statedump comes after the first events) moves to its VM
        with everything it recorded so far."""
        self.tid2pid[tid] = pid
        track = self.by_tid.get(tid)
        if track is not None and track.tid == tid and track.vm < 0:
            self._rehome(track, pid)

    def _rehome(self, track: VcpuTrack, pid: int) -> None:
        if track.vcpu_id < 0:
            track.vm = pid
            return
        key = (pid, track.vcpu_id)
        if key in self.vcpus:  # another thread runs that vCPU: keep them apart
            return
        old = (track.vm, track.vcpu_id)
        if self.vcpus.get(old) is track:
            del self.vcpus[old]
        track.vm = pid
        self.vcpus[key] = track
        self.vm_pids.add(pid)

    # ------------------------------------------------------------------ vCPU threads

    def new_track(
        self, ts: int, cpu: int, ev: Event, tid: int, vcpu_id: int, first_ns: int
    ) -> VcpuTrack | None:
        """First KVM event of a thread: it is a vCPU thread from now on.

        Without a tid context, on a CPU whose current thread is not known yet, the thread
        gets a provisional tid (below -1) until that CPU's next sched_switch names it."""
        if tid == -1 and ev[TID] < 0 and cpu >= 0:
            tid = self._next_anonymous
            self._next_anonymous -= 1
            self.cpu(cpu).tid = tid
            self.provisional[tid] = cpu
        if tid < 0 and tid >= -1:
            self.unattributed += 1
            return None
        if tid in self.dropped_threads:
            return None
        # A pid context (even without tid) is the current thread's process.
        known = ev[PID] >= 0 and ev[TID] in (tid, -1)
        pid = int(ev[PID]) if known else self.tid2pid.get(tid, -1)
        c = self.cpus.get(cpu)
        comm = ev[PROCNAME] or (self.comm_of(tid, c) if c is not None else self.comms.get(tid, ""))
        track = VcpuTrack(pid, -1, tid, comm)
        track.cpu = cpu
        # Always an `unknown` head (maybe empty): finish() moves it to the trace's first event.
        track.push(min(first_ns, ts), State.UNKNOWN, -1)
        self.by_tid[tid] = track
        if vcpu_id >= 0:
            return self.bind(track, vcpu_id)
        return track

    def adopt(self, anonymous: int, tid: int, comm: str) -> None:
        """`tid` turns out to be the thread that ran on a CPU whose thread was unknown (its
        switch-out there, or a statedump RUN): every event recorded there since the
        provisional thread appeared is that thread's (a switch would have been recorded,
        and lost events reset the CPU's thread to unknown). One lane per thread: a track it
        already has continues with the provisional one's intervals."""
        self.provisional.pop(anonymous, None)
        track = self.by_tid.pop(anonymous, None)
        if track is None:
            return
        real = self.by_tid.get(tid)
        if real is track:  # bound to the vCPU this thread already runs
            track.tid = tid
        elif tid >= 0 and tid not in self.dropped_threads and real is None:
            track.tid = tid
            self.by_tid[tid] = track
        elif real is not None and self._merge(real, track):
            return
        else:  # contradictory: the provisional lane is dropped
            self._forget(track)
            self.unattributed += len(track.starts)
            return
        if comm:
            track.comm = comm
        pid = self.tid2pid.get(tid, -1)
        if pid >= 0 and track.vm < 0:
            self._rehome(track, pid)

    def _merge(self, real: VcpuTrack, provisional: VcpuTrack) -> bool:
        """The thread's own track continues with its provisional track (events after lost
        events on its CPU), unless they name different vCPUs or overlap in time."""
        vcpu_id = provisional.vcpu_id
        if 0 <= vcpu_id != real.vcpu_id >= 0 or not real.absorb(provisional):
            return False
        self._forget(provisional)
        if real.vcpu_id < 0 <= vcpu_id:
            self.bind(real, vcpu_id)
        return True

    def _forget(self, track: VcpuTrack) -> None:
        key = (track.vm, track.vcpu_id)
        if self.vcpus.get(key) is track:
            del self.vcpus[key]

    def resolve_provisional(self) -> None:
        """At the end: a provisional thread never named by a switch is the one thread the
        statedump reported WAIT_CPU on its CPU before that CPU switched, if just one was
        (a CPU that never switches runs one thread all along)."""
        for anonymous, cpu in list(self.provisional.items()):
            candidates = [
                tid
                for tid in dict.fromkeys(self.waiting_cpu.get(cpu, ()))
                if tid not in self.by_tid and tid not in self.dropped_threads
            ]
            if len(candidates) == 1:
                self.adopt(anonymous, candidates[0], self.comms.get(candidates[0], ""))

    def bind(self, track: VcpuTrack, vcpu_id: int) -> VcpuTrack:
        """Give a track its vcpu_id (and a pseudo VM when the pid is unknown)."""
        vm = track.vm
        if vm < 0:
            vm = self._pseudo_vm(vcpu_id)
            track.vm = vm
        existing = self.vcpus.get((vm, vcpu_id))
        if existing is not None and existing is not track:
            # Another thread already runs this vCPU (thread replaced, or weak identity):
            # keep one lane per vCPU and follow the new thread from now on.
            self.by_tid[track.tid] = existing
            existing.tid = track.tid
            self.dropped_threads.add(track.tid)
            return existing
        track.vcpu_id = vcpu_id
        self.vcpus[(vm, vcpu_id)] = track
        self.vm_pids.add(vm)
        return track

    def _pseudo_vm(self, vcpu_id: int) -> int:
        for vm in self.pseudo_vms:
            if (vm, vcpu_id) not in self.vcpus:
                return vm
        vm = -1 - len(self.pseudo_vms)
        self.pseudo_vms.append(vm)
        return vm
