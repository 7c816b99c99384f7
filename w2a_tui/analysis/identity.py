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
    SWITCH_PREV_COMM,
    TID,
    Event,
)
from w2a_tui.model import State

_STATEDUMP_RUN: Final = 6  # lttng_process_status LTTNG_RUN
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
                self.tid2pid[child_tid] = child_pid
            if child_comm:
                self.comms[child_tid] = child_comm
        if parent_tid >= 0:
            if parent_pid >= 0:
                self.tid2pid.setdefault(parent_tid, parent_pid)
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
            self.tid2pid[tid] = pid
        if name:
            self.comms[tid] = name
            guest = guest_name(name)
            if guest and pid >= 0:
                self.guest_names[pid] = guest
        running = status == _STATEDUMP_RUN or (isinstance(status, str) and status.endswith("RUN"))
        if running and isinstance(cpu, int) and cpu >= 0:
            c = self.cpu(cpu)
            if c.since < 0:  # no sched_switch seen there yet
                c.tid = tid
                c.comm = name

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
        if tid < 0 and tid >= -1:
            self.unattributed += 1
            return None
        if tid in self.dropped_threads:
            return None
        pid = ev[PID] if ev[TID] == tid and ev[PID] >= 0 else self.tid2pid.get(tid, -1)
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

    def adopt(self, anonymous: int, tid: int, ev: Event) -> None:
        """A CPU whose thread was unknown switches out `tid`: every event recorded there
        since its provisional thread appeared is that thread's (a switch would have been
        recorded, and lost events reset the CPU's thread to unknown)."""
        track = self.by_tid.pop(anonymous, None)
        if track is None:
            return
        if tid < 0 or tid in self.by_tid or tid in self.dropped_threads:
            # Known elsewhere already: contradictory, the provisional lane is dropped.
            if self.vcpus.get((track.vm, track.vcpu_id)) is track:
                del self.vcpus[(track.vm, track.vcpu_id)]
            self.unattributed += len(track.starts)
            return
        track.tid = tid
        if ev[SWITCH_PREV_COMM]:
            track.comm = ev[SWITCH_PREV_COMM]
        self.by_tid[tid] = track
        pid = self.tid2pid.get(tid, -1)
        if pid < 0 or track.vm >= 0:
            return
        if track.vcpu_id < 0:
            track.vm = pid
        elif (pid, track.vcpu_id) not in self.vcpus:
            del self.vcpus[(track.vm, track.vcpu_id)]
            track.vm = pid
            self.vcpus[(pid, track.vcpu_id)] = track
            self.vm_pids.add(pid)

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
