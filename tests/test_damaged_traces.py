"""Issue 15, the reader's half: damaged traces give a warning that says what was lost, or
one sentence and exit 2; never absurd figures, a traceback or an abort. Each test writes
its damage into a copy of the bundled sample."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.damage import (
    BEGIN_AT,
    CONTENT_AT,
    CPU_AT,
    DISCARDED_AT,
    END_AT,
    EVENTS_AT,
    MAGIC_AT,
    SECOND_PACKET,
    SIZE_AT,
    STREAM_ID_AT,
    UUID_AT,
    YEARS_146_NS,
    add_event_class,
    analyze_json,
    one_sentence,
    read_field,
    run_cli,
    sample_copy,
    write_bytes,
    write_field,
)
from tests.support.paths import SAMPLE_TRACE
from w2a_tui.cli import main
from w2a_tui.trace import open_trace, read_trace

SAMPLE_FIRST_NS = 1700086401304684676
SAMPLE_LAST_NS = 1700086403304668576


def _within_the_sample(report: dict[str, Any]) -> None:
    """No span or total beyond what the undamaged sample allows."""
    span = report["last_ns"] - report["first_ns"]
    assert report["first_ns"] >= SAMPLE_FIRST_NS and report["last_ns"] <= SAMPLE_LAST_NS
    for vm in report["vms"]:
        for vcpu in vm["vcpus"]:
            assert 0 <= vcpu["span_ns"] <= span
            assert sum(vcpu["time_by_state_ns"].values()) <= span


def _warned(report: dict[str, Any], *words: str) -> str:
    text = " ".join(report["warnings"])
    for word in words:
        assert word in text, report["warnings"]
    return text


# -- 1. corrupted time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "shift", "what"),
    [
        (BEGIN_AT, YEARS_146_NS, "timestamp_end is 146 years before its timestamp_begin"),
        (END_AT, YEARS_146_NS, "timestamp_end lies 146 years after"),
        (BEGIN_AT, -86000 * 10**9, "timestamp_begin lies"),
    ],
    ids=["begin-146-years-later", "end-146-years-later", "begin-backwards"],
)
def test_a_packet_with_absurd_timestamps_is_left_out_with_a_warning(
    tmp_path: Path, field: int, shift: int, what: str
) -> None:
    trace = sample_copy(tmp_path)
    stream = trace / "channel0_0"
    write_field(stream, SECOND_PACKET + field, read_field(stream, SECOND_PACKET + field) + shift)
    report = analyze_json(trace)
    _within_the_sample(report)
    _warned(report, "channel0_0, packet 1 (byte 262144)", what, "262,144 bytes")


def test_a_timestamp_of_all_ones_is_damage_not_an_overflow(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    write_field(trace / "channel0_0", SECOND_PACKET + BEGIN_AT, 2**64 - 1)
    info = run_cli("info", "--json", str(trace))
    assert info.status == 0, info.stderr
    report = json.loads(info.stdout)
    assert "timestamp_begin is out of range" in " ".join(report["warnings"])
    assert report["duration_ns"] <= SAMPLE_LAST_NS - SAMPLE_FIRST_NS
    _within_the_sample(analyze_json(trace))


def test_event_timestamps_that_jump_past_their_packet_are_cut_there(tmp_path: Path) -> None:
    """Garbage inside a packet reads as an extended event header with a timestamp of all
    ones: the packet's events stop there, with a warning; babeltrace2 is not needed."""
    trace = sample_copy(tmp_path)
    write_bytes(trace / "channel0_0", 4096, b"\xff" * 256)
    report = analyze_json(trace)
    _within_the_sample(report)
    _warned(report, "channel0_0, packet at byte 0", "bytes of events were skipped")
    # The skipped stretch is a loss of unknown size: the vCPUs there are `unknown`.
    _warned(report, "An unknown number of events were lost on CPU 0")
    assert "babeltrace2 read it instead" not in " ".join(report["warnings"])


def test_an_event_timestamp_running_backwards_is_cut_too(tmp_path: Path) -> None:
    """An extended event header (id 31, then a 32-bit id and a 64-bit timestamp) stamped
    before the packet began: time would run backwards."""
    trace = sample_copy(tmp_path)
    stream = trace / "channel0_0"
    # The first event of the packet: compact header (5-bit id, 27-bit time) at byte 84.
    header = read_field(stream, EVENTS_AT, "<I")
    assert header & 31 != 31
    raw = bytes([31]) + (0).to_bytes(4, "little") + (5).to_bytes(8, "little")
    write_bytes(stream, EVENTS_AT, raw)
    report = analyze_json(trace)
    _within_the_sample(report)
    _warned(report, "channel0_0, packet at byte 0", "back in time")


def test_a_damaged_discarded_events_counter_loses_no_events(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    write_field(trace / "channel0_0", SECOND_PACKET + DISCARDED_AT, 2**64 - 1)
    info = run_cli("info", "--json", str(trace))
    report = json.loads(info.stdout)
    assert report["discarded_events"] == 0
    assert "events_discarded counter (18446744073709551615)" in " ".join(report["warnings"])
    analysis = analyze_json(trace)
    assert not any("events were lost" in w for w in analysis["warnings"])


def test_a_damaged_cpu_id_is_read_as_its_streams_cpu(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    write_field(trace / "channel0_0", SECOND_PACKET + CPU_AT, 2**32 - 1, "<I")
    report = json.loads(run_cli("info", "--json", str(trace)).stdout)
    assert report["cpus"] == [0, 1, 2, 3, 4, 5]
    assert "cpu_id other than the stream's CPU 0" in " ".join(report["warnings"])


def test_babeltrace2_cannot_bring_back_absurd_times(tmp_path: Path) -> None:
    """W2A_READER=bt2 (what the fallback uses): babeltrace2 reads the packet happily, and
    its events 146 years on lie outside every packet range: the trace is refused."""
    trace = sample_copy(tmp_path)
    stream = trace / "channel0_0"
    for field in (BEGIN_AT, END_AT):
        write_field(
            stream, SECOND_PACKET + field, read_field(stream, SECOND_PACKET + field) + YEARS_146_NS
        )
    run = run_cli("analyze", "--no-cache", str(trace), env={"W2A_READER": "bt2"})
    assert "damaged timestamps" in one_sentence(run)


# -- 2. what made babeltrace2 abort the process ----------------------------------------------


def _damage_for_abort(trace: Path, kind: str) -> None:
    stream = trace / "channel0_0"
    if kind == "magic":
        write_field(stream, SECOND_PACKET + MAGIC_AT, 0xDEADBEEF, "<I")
    elif kind == "packet-size":
        write_field(stream, SECOND_PACKET + SIZE_AT, 2**63)
    elif kind == "content-size":
        write_field(stream, SECOND_PACKET + CONTENT_AT, 2**63)
    elif kind == "stream-id":
        write_field(stream, SECOND_PACKET + STREAM_ID_AT, 7, "<I")
    elif kind == "byte-order":
        text = (trace / "metadata").read_text().replace("byte_order = le", "byte_order = be")
        (trace / "metadata").write_text(text)
    elif kind == "readme":
        (trace / "README.txt").write_text("notes about this trace\n")
    elif kind == "sparse-2GB":
        with (trace / "channel0_9").open("wb") as handle:
            handle.truncate(2 << 30)


ABORTS = {
    "magic": "packet at byte 262144: bad magic number 0xdeadbeef",
    "packet-size": "packet at byte 262144: 1152921504606846976 bytes declared",
    "content-size": "packet at byte 262144: content larger than the packet",
    "stream-id": "packet at byte 262144: unknown stream class 7",
    "byte-order": "its byte order is not the one the metadata declares",
    "readme": "README.txt is shorter than a packet header: README.txt is not a CTF stream",
    "sparse-2GB": "channel0_9, packet at byte 0: bad magic number 0x0: channel0_9 is not a CTF",
}


@pytest.mark.parametrize("kind", ABORTS)
def test_what_made_babeltrace2_abort_is_one_sentence(tmp_path: Path, kind: str) -> None:
    trace = sample_copy(tmp_path)
    _damage_for_abort(trace, kind)
    for command in (["info"], ["analyze", "--no-cache"], ["export", "--no-cache"]):
        sentence = one_sentence(run_cli(*command, str(trace)))
        assert "is not a readable CTF trace" in sentence and ABORTS[kind] in sentence


@pytest.mark.parametrize("kind", ["magic", "readme"])
def test_babeltrace2_crashing_in_its_child_is_one_sentence(tmp_path: Path, kind: str) -> None:
    """With babeltrace2 as the reader, its abort happens in the child process."""
    trace = sample_copy(tmp_path)
    _damage_for_abort(trace, kind)
    sentence = one_sentence(run_cli("info", str(trace), env={"W2A_READER": "bt2"}))
    assert "babeltrace2 crashed (SIGABRT)" in sentence


# -- 3. what made our reader raise ---------------------------------------------------------


def test_arrays_nested_25_deep_in_an_unused_class(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    add_event_class(
        trace, "odd_ints", "integer { size = 8; align = 8; signed = 0; } _a" + "[2]" * 25 + ";"
    )
    add_event_class(trace, "odd_strings", "string _s" + "[1]" * 25 + ";", class_id=9998)
    source = open_trace(trace)
    assert source.decoder == "fast", source.fast_declined
    assert source.count_events().total == 81789


def test_structs_nested_400_deep_are_read(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    inner = "integer { size = 8; align = 8; signed = 0; } _x; "
    add_event_class(trace, "odd_structs", "struct { " * 400 + inner + "} _s; " * 400)
    run = run_cli("info", "--json", str(trace))
    assert run.status == 0, run.stderr
    assert json.loads(run.stdout)["events"] == 81789


# -- 4. big metadata --------------------------------------------------------------------------


def test_an_8_mb_comment_in_the_metadata_is_read_quickly(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    text = (trace / "metadata").read_text()
    (trace / "metadata").write_text(
        text.replace("trace {", "/* " + "x" * 8_000_000 + " */\ntrace {", 1)
    )
    start = time.monotonic()
    source = open_trace(trace)
    assert source.decoder == "fast" and source.meta.hostname == "kvm-host-sim"
    assert time.monotonic() - start < 10


def test_metadata_over_16_mb_is_refused_in_one_sentence(tmp_path: Path) -> None:
    trace = sample_copy(tmp_path)
    with (trace / "metadata").open("a") as handle:
        handle.write("/* " + "x" * (17 << 20) + " */\n")
    assert "more than the 16 MB" in one_sentence(run_cli("info", str(trace)))


# -- 5. smaller ---------------------------------------------------------------------------


def test_an_unreadable_unrelated_subfolder_is_skipped_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = tmp_path / "session"
    session.mkdir()
    sample_copy(session, "kernel")
    ust = session / "ust"
    ust.mkdir()
    if os.geteuid() == 0:  # root lists anything: make the listing fail as it would
        real = os.scandir

        def scandir(path: Any = ".") -> Any:
            if Path(os.fspath(path)) == ust:
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        ust.chmod(0)
    try:
        source, counts = read_trace(session, lambda s: (s, s.count_events()))
    finally:
        ust.chmod(0o755)
    assert counts.total == 81789
    assert any(f"{ust} was skipped" in w for w in source.meta.warnings), source.meta.warnings


def test_a_uuid_mismatch_goes_to_babeltrace2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = sample_copy(tmp_path)
    write_field(trace / "channel0_0", UUID_AT, 0x12345678, "<I")
    assert main(["info", "--json", str(trace)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == 81789
    assert "UUID is not the metadata's" in report["warnings"][0]
    assert "babeltrace2 read it instead" in report["warnings"][0]


def test_the_undamaged_sample_has_no_warning() -> None:
    source = open_trace(SAMPLE_TRACE)
    assert source.count_events().total == 81789 and source.meta.warnings == []
