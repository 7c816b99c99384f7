"""The cache against a hostile or unlucky file system (issue 15): planted symlinks, folders
open to every user, leftovers of a killed writer, content changes that keep size and
mtime, crafted caches with valid checksums, a cache truncated while in use. Each damage is
written here from the bundled sample."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.cache_forge import repack, unpack
from tests.support.paths import REPO_ROOT, SAMPLE_TRACE
from w2a_tui.model import AnalysisResult
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore, cache

VICTIM = b"precious bytes that belong to somebody else\n"


@pytest.fixture(autouse=True)
def private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    cache._told.clear()
    return xdg / "w2a-tui"


@pytest.fixture(scope="module")
def analysed() -> AnalysisResult:
    return analyze_trace(SAMPLE_TRACE)


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    """A copy of the sample in a folder of its own (mode 0755)."""
    folder = tmp_path / "traces"
    folder.mkdir()
    folder.chmod(0o755)
    return Path(shutil.copytree(SAMPLE_TRACE, folder / "sample"))


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.write_bytes(VICTIM)
    return path


def beside(trace: Path) -> Path:
    return trace.parent / f"{trace.name}.w2a-cache"


def plant_symlinks(folder: Path, final_name: str, target: Path, pids: range) -> int:
    """A symlink at the final name and at every name the old writer would have used."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / final_name).symlink_to(target)
    for pid in pids:
        (folder / f".{final_name}.tmp-{pid}").symlink_to(target)
    return len(pids) + 1


# ------------------------------------------------------------------ writing


def test_planted_symlinks_are_never_written_through(
    trace: Path, victim: Path, private_xdg: Path, analysed: AnalysisResult
) -> None:
    pid = os.getpid()
    around = range(max(pid - 200, 1), pid + 200)
    planted = plant_symlinks(trace.parent, beside(trace).name, victim, around)
    xdg_final = cache._xdg_path(trace.resolve())
    planted += plant_symlinks(private_xdg, xdg_final.name, victim, around)
    assert planted == 2 * (len(around) + 1)
    store = StateStore.from_result(analysed)
    path = cache.save_store(trace, store)
    assert path == beside(trace)
    assert victim.read_bytes() == VICTIM
    assert path.is_file() and not path.is_symlink()  # the link was replaced, not followed
    assert cache.load_store(trace) is not None
    assert victim.read_bytes() == VICTIM


def test_analyze_with_planted_symlinks_leaves_the_target_alone(
    trace: Path, victim: Path, tmp_path: Path
) -> None:
    """End to end: `analyze` in a child whose pid we cannot know, symlinks at the final
    name and at the old temp names of a wide range of pids."""
    pid = os.getpid()
    plant_symlinks(trace.parent, beside(trace).name, victim, range(pid, pid + 3000))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    run = subprocess.run(
        [sys.executable, "-m", "w2a_tui", "analyze", str(trace)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert victim.read_bytes() == VICTIM
    assert beside(trace).is_file() and not beside(trace).is_symlink()


def test_a_symlink_at_the_cache_name_is_not_read(trace: Path, tmp_path: Path) -> None:
    """A cache reached through a symlink is not ours to trust: a miss, then replaced."""
    path = cache.save_store(trace, StateStore.from_result(analyze_trace(trace)))
    assert path is not None and cache.load_store(trace) is not None
    elsewhere = tmp_path / "elsewhere.w2a-cache"
    path.rename(elsewhere)
    path.symlink_to(elsewhere)
    assert cache.load_store(trace) is None


def test_a_fifo_at_the_cache_name_does_not_block(trace: Path, analysed: AnalysisResult) -> None:
    os.mkfifo(beside(trace))
    _, hit = cache.load_or_analyze(trace, lambda: analysed)
    assert not hit and beside(trace).is_file()
    assert cache.load_store(trace) is not None


@pytest.mark.parametrize("mode", [0o777, 0o757])
def test_a_folder_open_to_everyone_sends_the_cache_home(
    trace: Path,
    private_xdg: Path,
    analysed: AnalysisResult,
    mode: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A valid cache sits beside the trace, then the folder becomes world-writable: it is
    # no longer read (anyone could have put it there), and writes go to the user's folder.
    assert cache.save_store(trace, StateStore.from_result(analysed)) == beside(trace)
    trace.parent.chmod(mode)
    assert cache.load_store(trace) is None
    assert cache.cache_path_for(trace).parent == private_xdg
    for _ in range(2):
        path = cache.save_store(trace, StateStore.from_result(analysed))
        assert path is not None and path.parent == private_xdg
    err = capsys.readouterr().err
    assert err.count("writable by every user") == 1, err  # said once
    assert cache.load_store(trace) is not None


def test_a_sticky_world_writable_folder_is_fine(
    trace: Path, analysed: AnalysisResult, capsys: pytest.CaptureFixture[str]
) -> None:
    trace.parent.chmod(0o1777)
    assert cache.save_store(trace, StateStore.from_result(analysed)) == beside(trace)
    assert cache.load_store(trace) is not None
    assert capsys.readouterr().err == ""


def test_leftovers_of_a_killed_writer_are_removed(
    trace: Path, victim: Path, analysed: AnalysisResult
) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    prefix = f".{beside(trace).name}.tmp-"
    folder = trace.parent
    killed = folder / f"{prefix}{dead_pid}-0123abcd"
    old_style = folder / f"{prefix}{dead_pid}"
    ancient = folder / f"{prefix}{os.getppid()}-feedbeef"  # a live pid, but 2 h old
    running = folder / f"{prefix}{os.getppid()}-00c0ffee"  # a live writer: kept
    for path in (killed, old_style, ancient, running):
        path.write_bytes(b"half a cache")
    two_hours_ago = time.time() - 7200
    os.utime(ancient, (two_hours_ago, two_hours_ago))
    link = folder / f"{prefix}{dead_pid}-5ca1ab1e"
    link.symlink_to(victim)  # not a file of ours: left alone, never followed
    assert cache.save_store(trace, StateStore.from_result(analysed)) == beside(trace)
    assert not killed.exists() and not old_style.exists() and not ancient.exists()
    assert running.exists() and link.is_symlink() and victim.read_bytes() == VICTIM
    left = sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix))
    assert left == sorted([running.name, link.name])


KILLED_BEFORE_RENAME = """
import os, signal, sys
from w2a_tui.pipeline import analyze_trace
from w2a_tui.store import StateStore, cache
os.replace = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
cache.save_store(sys.argv[1], StateStore.from_result(analyze_trace(sys.argv[1])))
"""


def test_a_writer_really_killed_mid_write_leaves_a_leftover_that_goes(
    trace: Path, analysed: AnalysisResult, tmp_path: Path
) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_RENAME, str(trace)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr
    leftovers = list(trace.parent.glob(f".{beside(trace).name}.tmp-*"))
    assert len(leftovers) == 1 and not beside(trace).exists()
    assert leftovers[0].stat().st_mode & 0o777 == 0o600 and leftovers[0].stat().st_size > 0
    assert cache.save_store(trace, StateStore.from_result(analysed)) == beside(trace)
    assert not leftovers[0].exists()


def test_a_cache_owned_by_a_stranger_is_not_read(
    trace: Path, analysed: AnalysisResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache.save_store(trace, StateStore.from_result(analysed)) is not None
    stranger = os.stat(beside(trace)).st_uid + 4242
    monkeypatch.setattr(cache, "_trusted_uids", lambda _trace: {stranger})
    assert cache.load_store(trace) is None


def test_the_cache_file_is_private(trace: Path, analysed: AnalysisResult) -> None:
    path = cache.save_store(trace, StateStore.from_result(analysed))
    assert path is not None and path.stat().st_mode & 0o777 == 0o600


# ------------------------------------------------------------------ the key


def keep_times(path: Path, change: Callable[[bytearray], None]) -> None:
    """Rewrite a file in place (same size) and put its mtime back."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    change(data)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_a_stream_rewritten_with_the_same_size_and_mtime_misses(
    trace: Path, analysed: AnalysisResult
) -> None:
    cache.save_store(trace, StateStore.from_result(analysed))
    assert cache.load_store(trace) is not None

    def flip(data: bytearray) -> None:
        data[len(data) - 200] ^= 0xFF  # inside the last packet

    keep_times(trace / "channel0_2", flip)
    assert cache.load_store(trace) is None


def test_metadata_rewritten_with_the_same_size_and_mtime_misses(
    trace: Path, analysed: AnalysisResult
) -> None:
    cache.save_store(trace, StateStore.from_result(analysed))

    def rename_host(data: bytearray) -> None:
        at = data.find(b'hostname = "')
        assert at > 0
        data[at + 12] = ord("X") if data[at + 12] != ord("X") else ord("Y")

    keep_times(trace / "metadata", rename_host)
    assert cache.load_store(trace) is None


def test_the_key_reads_little_of_a_big_file(tmp_path: Path) -> None:
    """The content check is cheap: a 64 MiB stream costs 192 KiB of reading."""
    ctf = tmp_path / "t" / "k"
    ctf.mkdir(parents=True)
    (ctf / "metadata").write_bytes(b"/* CTF 1.8 */")
    big = ctf / "stream_0"
    with open(big, "wb") as f:
        f.truncate(64 * 2**20)
    read: list[int] = []
    real_pread = os.pread

    def counting(fd: int, n: int, offset: int) -> bytes:
        chunk = real_pread(fd, n, offset)
        read.append(len(chunk))
        return chunk

    with pytest.MonkeyPatch.context() as m:
        m.setattr(os, "pread", counting)
        identity = cache.trace_identity(tmp_path / "t")
    assert [row[0] for row in identity] == ["k/metadata", "k/stream_0"]
    assert sum(read) == 2 * 64 * 1024 + 16 * 4096 + len(b"/* CTF 1.8 */")


# ------------------------------------------------------------------ crafted caches


def deep_json(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def deep_but_parsable(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    nested: Any = "x"
    for _ in range(500):
        nested = [nested]
    header["warnings"] = [nested]
    return b""


def evidence_out_of_range(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    ev = arrays["store.evidence"]
    n = len(arrays["evidence.source"])
    ev[np.flatnonzero(ev >= 0)[0]] = min(n, np.iinfo(ev.dtype).max)
    return b""


def state_200(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    arrays["store.states"][3] = 200
    return b""


def first_ns_wrong_type(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["meta"]["first_ns"] = "0"
    return b""


def first_ns_too_big(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["meta"]["first_ns"] = 2**70
    return b""


def starts_out_of_order(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    starts = arrays["store.starts"]
    starts[5], starts[6] = starts[6], starts[5]
    return b""


def gkey_shuffled(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    gkey = arrays["store.gkey"]
    gkey[0], gkey[1] = gkey[1], gkey[0]
    return b""


def checkpoint_forged(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    arrays["store.checkpoints"][-1, 0] += 10**9  # one extra second of guest time
    return b""


def lane_ends_early(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["lanes"][0]["end_ns"] = 0
    return b""


def string_index_out_of_range(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["strings"] = header["strings"][:1]
    return b""


def comm_not_a_string(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["lanes"][0]["comm"] = {"a": 1}
    return b""


def array_outside_payload(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["arrays"]["store.starts"]["offset"] = header["payload_size"]
    arrays["store.starts"] = arrays["store.starts"][:0]
    return b""


def float_dtype(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["arrays"]["store.starts"]["dtype"] = "<f8"
    arrays["store.starts"] = arrays["store.starts"].view("<f8")
    return b""


def unknown_key(header: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    header["code"] = "__import__('os').system('true')"
    return b""


CRAFTED = [
    deep_json,
    deep_but_parsable,
    evidence_out_of_range,
    state_200,
    first_ns_wrong_type,
    first_ns_too_big,
    starts_out_of_order,
    gkey_shuffled,
    checkpoint_forged,
    lane_ends_early,
    string_index_out_of_range,
    comm_not_a_string,
    array_outside_payload,
    float_dtype,
    unknown_key,
]


@pytest.mark.parametrize("craft", CRAFTED, ids=lambda f: f.__name__)
def test_a_crafted_cache_is_rebuilt_not_trusted(
    trace: Path, analysed: AnalysisResult, craft: Callable[..., bytes]
) -> None:
    path = cache.save_store(trace, StateStore.from_result(analysed))
    assert path is not None
    header, arrays = unpack(path)
    body = craft(header, arrays)
    repack(path, header, arrays, body)
    assert cache.load_store(trace) is None
    _, hit = cache.load_or_analyze(trace, lambda: analysed)
    assert not hit
    reopened = cache.load_store(trace)
    assert reopened is not None
    assert reopened.to_result().lanes == StateStore.from_result(analysed).to_result().lanes


def test_an_untouched_repack_still_loads(trace: Path, analysed: AnalysisResult) -> None:
    """The forging helpers above are faithful: without an edit the cache is accepted."""
    path = cache.save_store(trace, StateStore.from_result(analysed))
    assert path is not None
    header, arrays = unpack(path)
    repack(path, header, arrays)
    assert cache.load_store(trace) is not None


@pytest.mark.parametrize("craft", [state_200, deep_json, first_ns_wrong_type])
def test_analyze_with_a_crafted_cache_exits_0(
    trace: Path, tmp_path: Path, craft: Callable[..., bytes]
) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    command = [sys.executable, "-m", "w2a_tui", "analyze", "--json", str(trace)]
    first = subprocess.run(command, capture_output=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert first.returncode == 0 and beside(trace).is_file()
    header, arrays = unpack(beside(trace))
    repack(beside(trace), header, arrays, craft(header, arrays))
    again = subprocess.run(command, capture_output=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and b"Traceback" not in again.stderr


# ------------------------------------------------------------------ truncated in use

TRUNCATE_WHILE_OPEN = """
import os, sys
from w2a_tui.store import cache
trace, path = sys.argv[1], sys.argv[2]
store = cache.load_store(trace)
assert store is not None
os.truncate(path, 0)  # what SIGBUSed a mapped cache
lanes = range(len(store.lanes))
summaries = store.column_summaries(lanes, store.start_ns, store.end_ns, 200)
total = sum(int(s.time.sum()) for s in summaries)
result = store.to_result()
print(total, sum(len(lane) for lane in result.lanes))
"""


def test_a_cache_truncated_while_open_does_not_kill_the_process(
    trace: Path, analysed: AnalysisResult, tmp_path: Path
) -> None:
    path = cache.save_store(trace, StateStore.from_result(analysed))
    assert path is not None
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    run = subprocess.run(
        [sys.executable, "-c", TRUNCATE_WHILE_OPEN, str(trace), str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert run.returncode == 0, (run.returncode, run.stderr)
    total, rows = map(int, run.stdout.split())
    assert rows == sum(len(lane) for lane in analysed.lanes) and total > 0
    assert path.stat().st_size == 0
