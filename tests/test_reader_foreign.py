"""Traces written by babeltrace2's `sink.ctf.fs` (as an unknown KVM simulator might write
them): the fast decoder reads each layout exactly like babeltrace2's public API, and the
CPU is -1 (never guessed) when the packets carry no cpu_id."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.foreign_ctf import COMMS, Layout, write_trace
from w2a_tui.events import EventKind
from w2a_tui.trace import open_trace

LAYOUTS = {
    "lttng-like": Layout(),
    "no-common-context": Layout(common_context=False),
    "clock-1MHz": Layout(frequency=1_000_000),
    "clock-2.4GHz-big-offset": Layout(frequency=2_400_000_000, offset_cycles=2_000_000_000),
    "discarded-events": Layout(discarded=True),
    "discarded-packets": Layout(discarded=True, discarded_packets=True),
    "comm-as-byte-array": Layout(comm_as_array=True),
    "odd-integer-widths": Layout(narrow_ints=True),
    "enumerations": Layout(enums=True),
    "reals-bools-sequences": Layout(extra_fields=True),
    "bigger-packet-context": Layout(big_packet_context=True),
    "unnamed-streams": Layout(stream_names=False),
    "no-cpu-id": Layout(cpu_id=False),
    "one-stream-no-cpu-id": Layout(single_stream=True, cpu_id=False),
}


def _read(path: Path, reader: str) -> tuple[Any, list[tuple[Any, ...]]]:
    os.environ["W2A_READER"] = reader
    try:
        source = open_trace(path)
        events = [e for batch in source.iter_batches() for e in batch]
    finally:
        del os.environ["W2A_READER"]
    return source, events


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_foreign_layout_decodes_like_babeltrace2(tmp_path: Path, name: str) -> None:
    layout = LAYOUTS[name]
    trace = write_trace(tmp_path / name, layout)
    fast_source, fast = _read(trace, "fast")
    _, reference = _read(trace, "public")
    # Every layout here is within the fast decoder's subset: declining would also be
    # safe, but it would hide a regression of the fast path on babeltrace2-written CTF.
    assert fast_source.decoder == "fast", fast_source.fast_declined
    assert fast == reference
    kinds = {e[2] for e in fast}
    assert int(EventKind.KVM_EXIT) in kinds and int(EventKind.SCHED_SWITCH) in kinds
    cpus = {e[1] for e in fast if e[2] != int(EventKind.LOST_EVENTS)}
    if layout.cpu_id:
        assert cpus == set(range(layout.cpus))
        assert fast_source.meta.cpus == list(range(layout.cpus))
    else:
        assert cpus == {-1}
        assert fast_source.meta.cpus == []
    if layout.discarded:
        lost = [e for e in fast if e[2] == int(EventKind.LOST_EVENTS)]
        assert lost and all(e[6] > 0 and e[7] <= e[8] for e in lost)
        assert fast_source.meta.lost_events == sum(e[6] for e in lost)


def test_byte_array_comm_is_text(tmp_path: Path) -> None:
    """uint8[16] without a text encoding still reads as the comm text, in all decoders."""
    trace = write_trace(tmp_path / "arr", Layout(comm_as_array=True, events=120))
    for reader in ("fast", "bt2", "public"):
        _, events = _read(trace, reader)
        switches = [e for e in events if e[2] == int(EventKind.SCHED_SWITCH)]
        assert switches, reader
        assert all(isinstance(e[6], str) and e[6] and "\x00" not in e[6] for e in switches)
        assert {e[5] for e in events} == set(COMMS), reader  # every comm is < 16 bytes
