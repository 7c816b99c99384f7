"""Runs of guest entries and exits, packed where the events are decoded.

About two thirds of a KVM host trace are kvm_entry/kvm_exit pairs, and between two other
events of its CPU a vCPU thread enters and leaves the guest several times in a row. What
the analysis does with such a *run* is known in advance: after its first kvm_entry (the
*lead*), every kvm_exit opens a `hypervisor` interval with its exit reason, every
kvm_entry after an exit a `guest` one, and a kvm_inj_virq of a running vCPU decides
nothing. So the reader packs each run into one tuple, `VCPU_RUN`, holding the lead event
whole and the lane columns the rest would append: the compiled CTF walk as it decodes
(trace.fastctf.cwalk, in the analysing process or a decoding worker), else `pack_runs`
in decoding workers (trace.parallel). The analysis then handles one object per run
instead of one per event.

A run is analysed at its lead's place in time. Its later events come before the other
CPUs' events recorded meanwhile, which is the same answer as long as none of those acts
on what the run changes (the thread's lane, state and last exit): a vCPU thread busy
entering and leaving its guest is not woken, switched, forked or exec'd elsewhere (a
statedump naming it reads none of that). The analysis checks that (`RunClock`) and, if
some damaged trace does, raises `RunConflict`: the pipeline then reads the trace again
without runs, in one process. Reading without runs (`iter_batches` without `pack`) stays
the reference the packed paths are tested against.

Layout of a `VCPU_RUN` tuple (positions below): the usual `(ts, cpu, kind, tid, pid,
procname)` of its lead, then the lead itself, the last event's time, how many events
follow the lead, the `starts`/`states`/`exits` they append, the state after them, their
last exit's reason and isa, and flags.
"""

from __future__ import annotations

from array import array
from typing import Any, Final

from w2a_tui.analysis.tracks import HYP_AFTER_EXIT
from w2a_tui.events import Event, EventKind
from w2a_tui.model import State

VCPU_RUN: Final = 91  # not a trace event: only between a decoding worker and the analysis

RUN_LEAD: Final = 6
RUN_LAST_TS: Final = 7
RUN_COUNT: Final = 8
RUN_STARTS: Final = 9
RUN_STATES: Final = 10
RUN_EXITS: Final = 11
RUN_END_STATE: Final = 12
RUN_LAST_EXIT: Final = 13
RUN_LAST_ISA: Final = 14
RUN_FLAGS: Final = 15
HAS_EXIT: Final = 1
HAS_INJ: Final = 2

_ENTRY: Final = int(EventKind.KVM_ENTRY)
_EXIT: Final = int(EventKind.KVM_EXIT)
_INJ: Final = int(EventKind.KVM_INJ_VIRQ)
_GUEST: Final = int(State.GUEST)


# What the compiled CTF walk needs to pack runs itself (trace.fastctf.cwalk.RunFormat).
RUN_FORMAT: Final = (VCPU_RUN, _GUEST, HYP_AFTER_EXIT)


class RunConflict(Exception):
    """An event of another CPU touches a thread inside a packed run: the packed order
    cannot give the single-process answer (read the trace again without runs)."""


def pack_runs(events: list[Event]) -> list[Event]:
    """`events` (time-ordered, each CPU's from a single stream) with every run packed.

    A run starts at a kvm_entry that has a tid and goes on while its CPU records only
    kvm_exit, kvm_entry and kvm_inj_virq events of the same thread (same tid, pid and
    procname); any other event of that CPU ends it. Other CPUs' events do not: the
    analysis checks that they leave the run's thread alone. One pass, written out flat:
    it runs once per event in the decoding workers."""
    out: list[Event] = []
    append = out.append
    # cpu -> [lead, its index in out, starts, states, exits, state, count, last ts,
    #         last exit reason, its isa, flags]
    runs: dict[int, list[Any]] = {}
    get = runs.get
    for ev in events:
        kind = ev[2]
        run = get(ev[1])
        if run is not None:
            lead = run[0]
            if ev[3] == lead[3] and ev[4] == lead[4] and ev[5] == lead[5]:
                if kind == _EXIT:
                    run[2].append(ev[0])
                    run[3].append(HYP_AFTER_EXIT)
                    run[4].append(ev[6])
                    run[5] = HYP_AFTER_EXIT
                    run[6] += 1
                    run[7] = ev[0]
                    run[8] = ev[6]
                    run[9] = ev[7]
                    run[10] |= HAS_EXIT
                    continue
                if kind == _ENTRY:
                    if run[5] != _GUEST:
                        run[2].append(ev[0])
                        run[3].append(_GUEST)
                        run[4].append(-1)
                        run[5] = _GUEST
                    run[6] += 1
                    run[7] = ev[0]
                    continue
                if kind == _INJ:
                    run[6] += 1
                    run[7] = ev[0]
                    run[10] |= HAS_INJ
                    continue
            del runs[ev[1]]
            _close(run, out)
        if kind == _ENTRY and ev[3] >= 0:
            runs[ev[1]] = [
                ev,
                len(out),
                array("q"),
                bytearray(),
                array("q"),
                _GUEST,
                0,
                ev[0],
                -1,
                -1,
                0,
            ]
        append(ev)
    for run in runs.values():
        _close(run, out)
    return out


def _close(run: list[Any], out: list[Event]) -> None:
    """Replace the run's lead in `out` by the packed run (a lead alone stays as it is)."""
    lead, at, starts, states, exits, state, count, last_ts, last_exit, last_isa, flags = run
    if count:
        out[at] = (
            lead[0],
            lead[1],
            VCPU_RUN,
            lead[3],
            lead[4],
            lead[5],
            lead,
            last_ts,
            count,
            starts.tobytes(),
            bytes(states),
            exits.tobytes(),
            state,
            last_exit,
            last_isa,
            flags,
        )


class RunClock:
    """When each thread's last packed run ends (`tid -> (last ts, cpu)`), to prove that an
    event touching that thread on another CPU comes after it (`check`)."""

    __slots__ = ("until",)

    def __init__(self) -> None:
        self.until: dict[int, tuple[int, int]] = {}

    def started(self, tid: int, last_ts: int, cpu: int) -> None:
        self.until[tid] = (last_ts, cpu)

    def check(self, tid: int, ts: int, cpu: int) -> None:
        """An event at `ts` on `cpu` touches thread `tid`: fine after its run (or on the
        run's own CPU, whose later events all come after it), else RunConflict."""
        until = self.until.get(tid)
        if until is None:
            return
        if cpu == until[1] or ts > until[0]:
            del self.until[tid]
            return
        raise RunConflict(
            f"thread {tid} is touched on CPU {cpu} at {ts} ns, inside its run of guest "
            f"entries on CPU {until[1]} (until {until[0]} ns)"
        )
