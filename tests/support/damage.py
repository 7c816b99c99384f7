"""Damaged copies of the bundled sample trace, written by the tests themselves.

The sample's stream files (`channel0_N`, one per CPU) use lttng-modules' packet layout:
header magic u32 @0, uuid[16] @4, stream_id u32 @20, stream_instance_id u64 @24; context
timestamp_begin u64 @32, timestamp_end @40, content_size @48, packet_size @56 (bits),
packet_seq_num @64, events_discarded @72, cpu_id u32 @80; events from byte 84.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import REPO_ROOT, SAMPLE_TRACE

MAGIC_AT, UUID_AT, STREAM_ID_AT = 0, 4, 20
BEGIN_AT, END_AT, CONTENT_AT, SIZE_AT = 32, 40, 48, 56
DISCARDED_AT, CPU_AT, EVENTS_AT = 72, 80, 84
YEARS_146_NS = 146 * 365 * 86400 * 10**9
# channel0_0 holds three packets; the second starts here.
SECOND_PACKET = 262144


def sample_copy(tmp_path: Path, name: str = "trace") -> Path:
    dest = tmp_path / name
    shutil.copytree(SAMPLE_TRACE, dest)
    return dest


def packet_offsets(stream: Path) -> list[int]:
    data = stream.read_bytes()
    offsets, at = [], 0
    while at < len(data):
        assert struct.unpack_from("<I", data, at)[0] == 0xC1FC1FC1, "unexpected sample layout"
        offsets.append(at)
        at += struct.unpack_from("<Q", data, at + SIZE_AT)[0] // 8
    return offsets


def read_field(stream: Path, at: int, fmt: str = "<Q") -> int:
    value: int = struct.unpack_from(fmt, stream.read_bytes(), at)[0]
    return value


def write_field(stream: Path, at: int, value: int, fmt: str = "<Q") -> None:
    data = bytearray(stream.read_bytes())
    struct.pack_into(fmt, data, at, value)
    stream.write_bytes(bytes(data))


def write_bytes(stream: Path, at: int, raw: bytes) -> None:
    data = bytearray(stream.read_bytes())
    data[at : at + len(raw)] = raw
    stream.write_bytes(bytes(data))


def add_event_class(trace: Path, name: str, fields: str, class_id: int = 9999) -> None:
    """Declare one more (unused) event class in the sample's metadata."""
    with (trace / "metadata").open("a") as handle:
        handle.write(
            f'\nevent {{\n\tname = "{name}";\n\tid = {class_id};\n\tstream_id = 0;\n'
            f"\tfields := struct {{\n\t\t{fields}\n\t}};\n}};\n"
        )


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    """`w2a-tui ARGS` in a child process: an abort there is a status, not the test's death."""
    full_env = dict(os.environ)
    full_env.pop("W2A_READER", None)
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "w2a_tui", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def one_sentence(run: Run) -> str:
    """The whole stderr of a refused run: one `w2a-tui: ...` line, no traceback."""
    assert run.status == 2, (run.status, run.stderr[-2000:])
    assert "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("w2a-tui: ") and run.stderr.count("\n") == 1, run.stderr
    return run.stderr


def analyze_json(trace: Path) -> dict[str, Any]:
    run = run_cli("analyze", "--no-cache", "--json", str(trace))
    assert run.status == 0, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data
