"""Per-stream decoding state shared by the native and the public-API decoders.

babeltrace2's CTF source gives one output port per data stream (one per CPU for LTTng
kernel traces). Each port is decoded on its own, in its own (time) order; `merge` then
interleaves the ports. Reading ports separately, without babeltrace2's muxer, is what
lets traces with overlapping packets (tc-scp-*) be read completely: the muxer rejects
them after ~10 % of their events.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from w2a_tui.events import Event, EventKind

LOST: int = int(EventKind.LOST_EVENTS)
MAX_LOSS = 1 << 40  # discarded events no real trace reaches
MIN_PLAUSIBLE_LOSS = 1 << 20  # whatever the time between the packets
# How a decoder packs runs of guest entries (analysis.runs.RUN_FORMAT): the packed tuple's
# kind, the guest state, the state after an exit. The analysis owns the format.
RunFormat = tuple[int, int, int]


class PortDecoder:
    """Decodes one port, either into event tuples (`out`) or into counts only."""

    def __init__(self, wanted: Collection[int] | None, counting: bool) -> None:
        self.wanted = wanted
        self.counting = counting
        self.out: list[Event] = []
        self.done = False
        self.events = 0  # event messages seen, whatever their class
        self.lost = 0  # discarded events reported by the tracer
        self.first_ts = -1
        self.last_ts = -1  # timestamp of the last event message seen
        self.cpu = -1  # cpu_id of the current packet
        self.cpus: set[int] = set()
        self.name_counts: dict[str, int] = {}
        self.cpu_counts: dict[int, int] = {}
        self.warnings: list[str] = []  # damage found and worked around while decoding

    def pull(self, iterator: Any, budget: int) -> None:
        """Read messages until `budget` event messages were seen or the port ends."""
        raise NotImplementedError

    def lost_tuple(self, count: int, begin_ns: int, end_ns: int) -> None:
        """Record discarded events: counted, and surfaced as a LOST_EVENTS tuple. A count
        no tracer could lose in that time (more than one event per ns, or 2^40) comes from
        a damaged events_discarded counter: it is said, and ignored."""
        window = end_ns - begin_ns if begin_ns >= 0 and end_ns >= begin_ns else 0
        if count >= MAX_LOSS or (window and count > max(window, MIN_PLAUSIBLE_LOSS)):
            warning = (
                f"A discarded-events count of {count} on CPU {self.cpu} (from {begin_ns} to "
                f"{end_ns} ns) is more than the tracer could lose: its packets' "
                "events_discarded counters are damaged; it was ignored."
            )
            if warning not in self.warnings:
                self.warnings.append(warning)
            return
        self.lost += count
        if self.counting:
            return
        at = begin_ns if begin_ns >= 0 else max(self.last_ts, 0)
        self.out.append((at, self.cpu, LOST, -1, -1, "", count, begin_ns, end_ns))

    def set_cpu(self, cpu: int) -> None:
        self.cpu = cpu
        if cpu >= 0:
            self.cpus.add(cpu)
