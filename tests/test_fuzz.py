"""Seeded fuzzing of the reader, the analysis and the cache through the CLI (issue 15).

Each case damages a copy of (two streams of) the bundled sample: bit flips, random bytes,
packet header fields set to extremes, truncation, metadata edits, cache corruption, and
runs `info --json`, `analyze --no-cache --json` and `export` on it. Every run must end with
status 0, 2 or 3, one sentence on stderr when it fails, no traceback, no signal, and no
span or total beyond what the undamaged trace allows unless a warning says so.

W2A_FUZZ_CASES sets the number of cases (default 150, about 40 s on 2 cores);
W2A_FUZZ_SEED the seed. Commands run in-process (babeltrace2, the only code that could
abort, runs in a child process first); every 10th case also runs `info` as a real
process, where a signal would show as a negative status.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.damage import YEARS_146_NS
from tests.support.paths import REPO_ROOT, SAMPLE_TRACE
from w2a_tui.cli import main

CASES = int(os.environ.get("W2A_FUZZ_CASES", "150"))
SEED = int(os.environ.get("W2A_FUZZ_SEED", "15"))
STREAMS = ("channel0_4", "channel0_5")  # 2 CPUs, one VM: small enough for hundreds of runs
CACHE_SUFFIX = ".w2a-cache"
SLOW_S = 20.0
# What the undamaged trace allows: the time checks accept streams that start up to 4
# stream spans apart without a word (a few-ns shift of a timestamp cannot be told from
# real data), so an unwarned span may reach 5 times the undamaged one, never more.
ALLOWED_SPANS = 5
# Packet header and context fields of the sample: (byte offset, struct format).
FIELDS = {
    "magic": (0, "<I"),
    "uuid": (4, "<Q"),
    "stream_id": (20, "<I"),
    "stream_instance_id": (24, "<Q"),
    "timestamp_begin": (32, "<Q"),
    "timestamp_end": (40, "<Q"),
    "content_size": (48, "<Q"),
    "packet_size": (56, "<Q"),
    "packet_seq_num": (64, "<Q"),
    "events_discarded": (72, "<Q"),
    "cpu_id": (80, "<I"),
}


@dataclass
class Outcome:
    tried: int = 0
    runs: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    warned: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class Case:
    name: str
    files: dict[str, bytes]  # file name -> content (None-free: the whole trace)
    cache: bytes | None = None  # a damaged cache to plant beside the trace
    extra: Callable[[Path], None] | None = None


def _packets(data: bytes) -> list[int]:
    offsets, at = [], 0
    while at + 88 <= len(data):
        offsets.append(at)
        size = struct.unpack_from("<Q", data, at + 56)[0] // 8
        if size <= 0:
            break
        at += size
    return offsets


def _flip_bits(rng: random.Random, data: bytes, count: int, region: tuple[int, int]) -> bytes:
    out = bytearray(data)
    lo, hi = region
    for _ in range(count):
        at = rng.randrange(lo, max(hi, lo + 1))
        if at < len(out):
            out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def _extreme(rng: random.Random, old: int, fmt: str, name: str) -> int:
    bits = struct.calcsize(fmt) * 8
    top = (1 << bits) - 1
    choices = [0, top, top - 1, 1 << (bits - 1), rng.randrange(top + 1), (old + 1) & top]
    choices.append(max(old - 1, 0))
    if name.startswith("timestamp"):
        choices += [(old + YEARS_146_NS) & top, max(old - 86400 * 10**9, 0), old // 2]
    if name in ("packet_size", "content_size"):
        choices += [old * 2, old // 2, old + 8, max(old - 8, 0), old - old % 64 - 64]
    return rng.choice(choices) & top


def _mutate_stream(rng: random.Random, pristine: dict[str, bytes]) -> Case:
    files = dict(pristine)
    target = rng.choice(STREAMS)
    data = files[target]
    packets = _packets(data) or [0]
    kind = rng.choice(["bits", "header-bits", "bytes", "field", "field", "truncate", "event"])
    if kind == "bits":
        data = _flip_bits(rng, data, rng.randint(1, 16), (0, len(data)))
    elif kind == "header-bits":
        at = rng.choice(packets)
        data = _flip_bits(rng, data, rng.randint(1, 4), (at, at + 88))
    elif kind == "bytes":
        at = rng.randrange(len(data))
        data = data[:at] + rng.randbytes(rng.randint(1, 1024)) + data[at + rng.randint(1, 1024) :]
        data = data[: len(pristine[target])]
        kind = f"bytes@{at}"
    elif kind.startswith("field"):
        name = rng.choice(list(FIELDS))
        offset, fmt = FIELDS[name]
        at = rng.choice(packets) + offset
        old = struct.unpack_from(fmt, data, at)[0]
        out = bytearray(data)
        struct.pack_into(fmt, out, at, _extreme(rng, old, fmt, name))
        data = bytes(out)
        kind = f"field:{name}@{at}"
    elif kind == "truncate":
        at = rng.randrange(len(data))
        data = data[:at]
        kind = f"truncate@{at}"
    else:  # an extended event header with a random timestamp somewhere in a packet
        at = rng.choice(packets) + 84 + rng.randrange(0, 2000)
        raw = bytes([31]) + rng.randbytes(4) + rng.randbytes(8)
        data = data[:at] + raw + data[at + len(raw) :]
        kind = f"event@{at}"
    files[target] = data
    return Case(f"{target}:{kind}", files)


def _mutate_metadata(rng: random.Random, pristine: dict[str, bytes]) -> Case:
    files = dict(pristine)
    text = files["metadata"]
    kind = rng.choice(["bits", "delete", "number", "duplicate", "truncate"])
    if kind == "bits":
        text = _flip_bits(rng, text, rng.randint(1, 8), (0, len(text)))
    elif kind == "delete":
        at = rng.randrange(len(text))
        text = text[:at] + text[at + rng.randint(1, 64) :]
    elif kind == "number":
        digits = [i for i, c in enumerate(text) if chr(c).isdigit()]
        at = rng.choice(digits)
        end = at
        while end < len(text) and chr(text[end]).isdigit():
            end += 1
        new = rng.choice([b"0", b"1", b"3", b"64", b"65", b"18446744073709551616", b"4294967295"])
        text = text[:at] + new + text[end:]
        kind = f"number@{at}={new.decode()}"
    elif kind == "duplicate":
        lines = text.split(b"\n")
        i = rng.randrange(len(lines))
        lines.insert(i, lines[rng.randrange(len(lines))])
        text = b"\n".join(lines)
    else:
        text = text[: rng.randrange(len(text))]
    files["metadata"] = text
    return Case(f"metadata:{kind}", files)


def _mutate_cache(rng: random.Random, pristine: dict[str, bytes], cache: bytes) -> Case:
    kind = rng.choice(["bits", "bytes", "truncate"])
    if kind == "bits":
        data = _flip_bits(rng, cache, rng.randint(1, 16), (0, len(cache)))
    elif kind == "bytes":
        at = rng.randrange(len(cache))
        data = cache[:at] + rng.randbytes(rng.randint(1, 256)) + cache[at + rng.randint(1, 256) :]
    else:
        data = cache[: rng.randrange(len(cache))]
    return Case(f"cache:{kind}", dict(pristine), cache=data)


def _mutate_folder(rng: random.Random, pristine: dict[str, bytes]) -> Case:
    files = dict(pristine)
    kind = rng.choice(["readme", "empty-stream", "sparse", "garbage-stream"])
    if kind == "readme":
        files["README.txt"] = b"notes about this trace\n"
    elif kind == "empty-stream":
        files[rng.choice(STREAMS)] = b""
    elif kind == "garbage-stream":
        files["channel0_9"] = rng.randbytes(rng.randint(1, 8192))
    else:

        def sparse(trace: Path) -> None:
            with (trace / "channel0_9").open("wb") as handle:
                handle.truncate(2 << 30)

        return Case("folder:sparse-2GB", files, extra=sparse)
    return Case(f"folder:{kind}", files)


def _run(args: list[str]) -> tuple[int, str, str, str]:
    """main(args) in-process: (status, stdout, stderr, escaped exception or "")."""
    out, err = io.StringIO(), io.StringIO()
    escaped = ""
    status = -1
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(args)
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
        except BaseException as crash:  # a traceback the user would see
            escaped = f"{type(crash).__name__}: {crash}"[:300]
    return status, out.getvalue(), err.getvalue(), escaped


def _check(
    case: Case, args: list[str], ref: dict[str, int], outcome: Outcome
) -> dict[str, Any] | None:
    start = time.monotonic()
    status, stdout, stderr, escaped = _run(args)
    took = time.monotonic() - start
    outcome.runs += 1
    outcome.by_status[status] = outcome.by_status.get(status, 0) + 1
    where = f"{case.name} | {' '.join(a for a in args if not a.startswith('/'))}"
    problems = []
    if escaped:
        problems.append(f"traceback {escaped}")
    if status not in (0, 2, 3):
        problems.append(f"status {status}: {stderr.strip()[-300:]}")
    if "Traceback" in stderr:
        problems.append("traceback on stderr")
    if status in (2, 3) and not (stderr.startswith("w2a-tui: ") and stderr.count("\n") == 1):
        problems.append(f"not one sentence: {stderr[-300:]!r}")
    if took > SLOW_S:
        problems.append(f"took {took:.0f} s")
    report: dict[str, Any] | None = None
    if status == 0 and "--json" in args:
        report = json.loads(stdout)
        problems += _figures(report, ref, args[0])
        outcome.warned += bool(report.get("warnings"))
    outcome.failures += [f"{where}: {p}" for p in problems]
    return report


def _figures(report: dict[str, Any], ref: dict[str, int], command: str) -> list[str]:
    warned = bool(report.get("warnings"))
    problems = []
    if command == "info":
        if report["duration_ns"] > ref["duration"] * ALLOWED_SPANS and not warned:
            problems.append(f"duration {report['duration_ns']} > {ref['duration']} unwarned")
        if not 0 <= report["duration_ns"] < 1 << 63:
            problems.append(f"duration {report['duration_ns']}")
        if report["discarded_events"] >= 1 << 40:
            problems.append(f"{report['discarded_events']} discarded events")
        return problems
    span = report["last_ns"] - report["first_ns"]
    if span > ref["span"] * ALLOWED_SPANS and not warned:
        problems.append(f"span {span} > {ref['span']} unwarned")
    if not 0 <= span < 1 << 63:
        problems.append(f"span {span}")
    for vm in report["vms"]:
        for vcpu in vm["vcpus"]:
            total = sum(vcpu["time_by_state_ns"].values())
            if vcpu["span_ns"] > span or total > span or total < 0:
                problems.append(f"vCPU {vcpu['vcpu']}: total {total} over a {span} ns span")
    return problems


def _as_process(trace: Path, case: Case, outcome: Outcome) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "info", "--json", str(trace)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "W2A_READER"},
    )
    outcome.runs += 1
    if done.returncode not in (0, 2, 3) or "Traceback" in done.stderr:
        outcome.failures.append(
            f"{case.name} | info (process): status {done.returncode}: {done.stderr[-300:]}"
        )


def _lay_out(trace: Path, case: Case) -> None:
    if trace.exists():
        shutil.rmtree(trace)
    trace.mkdir()
    for name, data in case.files.items():
        (trace / name).write_bytes(data)
    cache = trace.parent / f"{trace.name}{CACHE_SUFFIX}"
    for leftover in trace.parent.glob(f"{trace.name}*{CACHE_SUFFIX}*"):
        leftover.unlink()
    if case.cache is not None:
        cache.write_bytes(case.cache)
    if case.extra is not None:
        case.extra(trace)


def fuzz(workdir: Path, cases: int, seed: int) -> Outcome:
    rng = random.Random(seed)
    pristine = {n: (SAMPLE_TRACE / n).read_bytes() for n in ("metadata", *STREAMS)}
    trace = workdir / "fuzzed"
    _lay_out(trace, Case("pristine", pristine))
    status, stdout, _, _ = _run(["info", "--json", str(trace)])
    assert status == 0
    info = json.loads(stdout)
    status, stdout, _, _ = _run(["analyze", "--json", str(trace)])  # writes the cache
    assert status == 0
    analysis = json.loads(stdout)
    ref = {"duration": info["duration_ns"], "span": analysis["last_ns"] - analysis["first_ns"]}
    caches = list(workdir.glob(f"fuzzed*{CACHE_SUFFIX}"))
    assert len(caches) == 1, caches
    cache = caches[0].read_bytes()
    outcome = Outcome()
    for index in range(cases):
        roll = rng.random()
        if roll < 0.6:
            case = _mutate_stream(rng, pristine)
        elif roll < 0.8:
            case = _mutate_metadata(rng, pristine)
        elif roll < 0.93:
            case = _mutate_cache(rng, pristine, cache)
        else:
            case = _mutate_folder(rng, pristine)
        _lay_out(trace, case)
        outcome.tried += 1
        path = str(trace)
        if case.cache is not None:
            _check(case, ["analyze", "--json", path], ref, outcome)
            _check(case, ["export", "--format", "json", path], ref, outcome)
        else:
            _check(case, ["info", "--json", path], ref, outcome)
            _check(case, ["analyze", "--no-cache", "--json", path], ref, outcome)
            _check(case, ["export", "--no-cache", "--format", "csv", path], ref, outcome)
        if index % 10 == 0:
            _as_process(trace, case, outcome)
    return outcome


def test_fuzzed_traces_and_caches_are_handled(tmp_path: Path) -> None:
    outcome = fuzz(tmp_path, CASES, SEED)
    failed_cases = {f.split(" | ")[0] for f in outcome.failures}
    summary = (
        f"fuzz seed {SEED}: {outcome.tried} cases, {outcome.runs} runs, statuses "
        f"{dict(sorted(outcome.by_status.items()))}, {outcome.warned} JSON reports with "
        f"warnings; {outcome.tried - len(failed_cases)} handled, {len(failed_cases)} not"
    )
    print(summary)
    assert not outcome.failures, summary + "\n" + "\n".join(outcome.failures[:40])
