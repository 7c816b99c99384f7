"""babeltrace2 behind a process boundary: the calls that can abort run in a child first.

libbabeltrace2 2.0 aborts the whole process (SIGABRT) on some damaged traces: its
`babeltrace.trace-infos` query on a bad packet magic, an absurd packet size, an undeclared
stream id, a wrong byte order or a foreign file in the trace folder, and an assertion of its
CTF decoder on a packet whose timestamp_begin is all ones. An abort cannot be caught, and
in the TUI it would leave the terminal without echo. So before this process touches a trace
with bt2, a child process (`python -m w2a_tui.trace.isolate`) runs the same queries and a
complete counting pass over it; only when the child came back cleanly does the caller go on
in-process, with what the child reported. A crash of the child is one sentence.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from w2a_tui.errors import BadTraceError, W2AError

# Set in the child: it runs babeltrace2 in-process (it is the isolation).
CHILD_ENV = "W2A_BT2_CHILD"


def in_child() -> bool:
    return os.environ.get(CHILD_ENV) == "1"


def checked_describe(root: Path, directories: Sequence[Path], decoder: str) -> list[dict[str, Any]]:
    """What babeltrace2's queries say of every directory (`path`, metadata `text`, `ports`
    as name -> [begin_ns, end_ns]), once a child process has queried the trace and read it
    through `decoder` from end to end without crashing. BadTraceError otherwise.

    The verdict is remembered for unchanged files (same names, sizes, times, inodes): a
    second pass over the same trace (`info` then `analyze` in one process) pays once."""
    key = (decoder, str(root), tuple(_fingerprint(d) for d in directories))
    known = _VERDICTS.get(key)
    if known is None:
        try:
            known = _describe_in_child(root, directories, decoder)
        except W2AError as err:
            known = err
        _VERDICTS[key] = known
        while len(_VERDICTS) > 8:
            _VERDICTS.pop(next(iter(_VERDICTS)))
    if isinstance(known, W2AError):
        raise known.with_traceback(None)
    return known


_VERDICTS: dict[tuple[object, ...], list[dict[str, Any]] | W2AError] = {}


def _fingerprint(directory: Path) -> tuple[object, ...]:
    entries: list[object] = [str(directory)]
    try:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            info = entry.stat(follow_symlinks=True)
            entries.append((entry.name, info.st_size, info.st_mtime_ns, info.st_ino))
    except OSError:
        entries.append(object())  # unreadable: never reused
    return tuple(entries)


def _describe_in_child(
    root: Path, directories: Sequence[Path], decoder: str
) -> list[dict[str, Any]]:
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env[CHILD_ENV] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "w2a_tui.trace.isolate", decoder, str(root)]
    command += [str(d) for d in directories]
    done = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, env=env, check=False
    )
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    reply: dict[str, Any] = {}
    if lines:
        try:
            reply = json.loads(lines[-1])
        except ValueError:
            reply = {}
    if done.returncode == 0 and isinstance(reply.get("dirs"), list):
        return list(reply["dirs"])
    if isinstance(reply.get("error"), str):
        status = int(reply.get("status", 2))
        if status == 2:
            raise BadTraceError(reply["error"])
        raise W2AError(reply["error"], status)
    raise BadTraceError(_crash_sentence(root, done.returncode, done.stderr))


def _crash_sentence(root: Path, status: int, stderr: bytes) -> str:
    if status < 0:
        try:
            how = f"crashed ({signal.Signals(-status).name})"
        except ValueError:
            how = f"crashed (signal {-status})"
    else:
        how = f"failed (exit status {status})"
    detail = ""
    for line in stderr.decode("utf-8", "replace").splitlines():
        if "Assertion" in line or " F " in line or " E " in line:
            detail = " ".join(line.split())[-200:]
            break
    suffix = f" ({detail})" if detail else ""
    return (
        f"{root} is not a readable CTF trace: babeltrace2 {how} while reading it{suffix}; "
        "the trace is damaged: copy it again, or record it again."
    )


def main(argv: Sequence[str]) -> int:
    """The child: `isolate DECODER ROOT DIR...` prints one JSON line and exits 0, or prints
    {"error": sentence, "status": n} and exits 2 (or dies, which is the point)."""
    from w2a_tui.trace.source import open_described, read_dir

    decoder, root, *dirs = argv
    try:
        infos = [read_dir(Path(d)) for d in dirs]
        source = open_described(Path(root), infos, decoder)
        source.count_events()
    except W2AError as err:
        print(json.dumps({"error": err.message, "status": err.status}))
        return 2
    dirs_out = [
        {"path": str(i.path), "text": i.text, "ports": {k: list(v) for k, v in i.ports.items()}}
        for i in infos
    ]
    print(json.dumps({"dirs": dirs_out}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
