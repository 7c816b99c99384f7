"""When our own CTF decoder calls a trace damaged, babeltrace2 gets the last word: a bug in
the fast path must cost neither the analysis nor its correctness, and must be said."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import SAMPLE_TRACE
from w2a_tui.analysis.rows import export_rows
from w2a_tui.cli import main
from w2a_tui.errors import BadTraceError
from w2a_tui.pipeline import analyze_trace
from w2a_tui.trace.fastctf import reader as fast_reader
from w2a_tui.trace.fastctf.codegen import BadData


def _broken_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: the fast decoder fails on the first packet it decodes."""

    def fail(*_: Any, **__: Any) -> int:
        raise BadData("injected decoder fault")

    monkeypatch.setattr(fast_reader.FastPortDecoder, "_events", fail)


def test_a_fast_decoder_failure_falls_back_to_babeltrace2_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = list(export_rows(analyze_trace(SAMPLE_TRACE)))
    _broken_fast_path(monkeypatch)
    result = analyze_trace(SAMPLE_TRACE)
    assert list(export_rows(result)) == expected
    assert "injected decoder fault" in result.warnings[0]
    assert "babeltrace2 read it instead" in result.warnings[0]


def test_a_trace_babeltrace2_cannot_read_either_keeps_our_precise_error(tmp_path: Path) -> None:
    """Real damage (garbage bytes inside a packet): both decoders refuse it, and the user
    gets our sentence, which names the stream file and the packet."""
    trace = tmp_path / "sample"
    shutil.copytree(SAMPLE_TRACE, trace)
    stream = trace / "channel0_0"
    data = bytearray(stream.read_bytes())
    data[4096 : 4096 + 256] = b"\xff" * 256
    stream.write_bytes(bytes(data))
    with pytest.raises(BadTraceError) as caught:
        analyze_trace(trace)
    assert "stream file channel0_0, packet at byte" in caught.value.message
    assert "(babeltrace2:" not in caught.value.message


def test_info_falls_back_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(SAMPLE_TRACE), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    _broken_fast_path(monkeypatch)
    assert main(["info", str(SAMPLE_TRACE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == expected["counts"] and report["events"] == expected["events"]
    assert "babeltrace2 read it instead" in report["warnings"][0]
