"""Issue 13's figures, end to end through the command line, each against a baseline
measured in the same run (the machines here are shared and noisy: the ratios travel).

    .venv/bin/python benchmarks/speed_bench.py [--events 1000000,10000000] [--workers 0,1,2]
        [--traces DIR] [--repeat N] [--quick] [--no-stages] [--pure-python]

The 100 M-event figures: `--events 100000000 --workers 0,2 --repeat 1 --no-stages
--traces DIR` (generating that trace takes about 6 minutes and 5.3 GB, once).

For each size a `mixed` trace is generated (not timed; kept in --traces DIR to be reused,
else in a temporary folder), then, in separate processes (so each peak RSS is its own):

- `babeltrace2 TRACE -o dummy`: the baseline of a full analysis (events/s ratio >= 1 is
  the goal), and `analyze --no-cache --workers N` for each N: time, peak RSS, ratio;
- the decode stage alone for each N (every event decoded, nothing analysed): its 1 -> N
  scaling, and what the merge into time order and the analysis cost alone;
- from the cache: `analyze`, `export --format csv` (rows/s) and the TUI's first frame,
  against the start-up of a bare `python -c "import numpy"` (their floor).

Each time is the best of --repeat runs. --quick: one run on a 200 k-event trace.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGE = ROOT / "w2a_tui"
sys.path.insert(0, str(ROOT))

from w2a_tui.trace.fastctf.cwalk import PURE_PYTHON_ENV, enabled  # noqa: E402

# Events per simulated second of the `mixed` scenario.
MIXED_EVENTS_PER_S = 320_000

# From the snippet's first line (the interpreter's own start excluded, Textual's import
# included) to the first frame the main screen draws, and the process's CPU seconds until
# then: `_display` receives each frame once its widgets have rendered it (headless: it is
# not written). Polled with plain sleeps: a `pilot.pause()` would wait until the whole
# process is idle, so it would also wait for the work the app does after that frame (the
# pCPU lanes are read in a worker then), and it would force paints of its own.
FIRST_FRAME = """
import asyncio, sys, time
started = time.perf_counter()
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.main import MainScreen
from w2a_tui.tui.widgets.timeline import Timeline

painted = []

class App(W2AApp):
    def _display(self, screen, renderable):
        if renderable is not None and isinstance(screen, MainScreen) and not painted:
            painted.append((time.perf_counter() - started, time.process_time()))
        super()._display(screen, renderable)

async def main() -> None:
    app = App(sys.argv[1])
    async with app.run_test(size=(160, 50)):
        while not painted:
            await asyncio.sleep(0.002)
        app.screen.query_one(Timeline)
        print(*painted[0])
        app.exit(0)

asyncio.run(main())
"""


CPU: dict[str, float] = {"last": 0.0}  # CPU seconds of the last child (and its own children)


def run(cmd: Sequence[str], *, capture: bool = False) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout if captured) of one child process; its CPU
    seconds (user + system, with its own worker processes) in CPU["last"]. The peak is
    the largest of the child's and of each of its workers', not their sum."""
    started = time.perf_counter()
    child = subprocess.Popen(list(cmd), stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    out = child.stdout.read() if child.stdout is not None else b""
    _, status, usage = os.wait4(child.pid, 0)  # its own rusage: peak RSS of this child
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    CPU["last"] = usage.ru_utime + usage.ru_stime
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


def best(cmd: Sequence[str], repeat: int) -> tuple[float, float]:
    """Best wall time and the peak RSS of that run; its CPU seconds in CPU["best"]."""
    runs = []
    for _ in range(repeat):
        seconds, peak, _ = run(cmd)
        runs.append((seconds, peak, CPU["last"]))
    seconds, peak, CPU["best"] = min(runs)
    return seconds, peak


def w2a(*args: str) -> list[str]:
    return [sys.executable, "-m", "w2a_tui", *args]


def trace_for(events: int, folder: Path) -> Path:
    trace = folder / f"mixed-{events}"
    if not (trace / "metadata").exists() and not any(trace.glob("**/metadata")):
        seconds = max(0.05, events / MIXED_EVENTS_PER_S)
        print(f"generating {trace} (~{events:,} events, {seconds:.2f} simulated s) ...", flush=True)
        subprocess.run(w2a("generate", str(trace), "--seconds", f"{seconds:.3f}"), check=True)
    return trace


def count_events(trace: Path) -> int:
    from w2a_tui.trace import open_trace

    return open_trace(trace).count_events().total


def decode_stage(trace: Path, workers: int, repeat: int) -> dict[str, float]:
    """The decode stage alone, merge alone, analysis alone (a child process each run)."""
    code = (
        "import json, sys; from w2a_tui.trace.parallel import stage_times; "
        "print(json.dumps(stage_times(sys.argv[1], int(sys.argv[2]))))"
    )
    import json

    runs = [
        json.loads(run([sys.executable, "-c", code, str(trace), str(workers)], capture=True)[2])
        for _ in range(repeat)
    ]
    return {key: min(r[key] for r in runs) for key in runs[0]}


def bench(trace: Path, workers: list[int], repeat: int, stages_too: bool = True) -> None:
    events = count_events(trace)
    print(f"\n## {trace.name}: {events:,} events, {du_mib(trace):,.0f} MiB", flush=True)
    bt, _ = best(["babeltrace2", str(trace), "-o", "dummy"], repeat)
    bt_cpu = CPU["best"]
    print(
        f"babeltrace2 -o dummy           {bt:7.2f} s  {events / bt / 1e6:5.2f} M ev/s  "
        f"(CPU {bt_cpu:.2f} s)"
    )
    for n in workers:
        s, peak = best(w2a("analyze", str(trace), "--no-cache", "--workers", str(n)), repeat)
        print(
            f"analyze --no-cache, {n} worker{'s' if n != 1 else ' '} {s:7.2f} s  "
            f"{events / s / 1e6:5.2f} M ev/s  ratio to babeltrace2 {bt / s:4.2f}x  "
            f"peak RSS {peak:5.0f} MiB  "
            f"(CPU {CPU['best']:.2f} s, CPU ratio {bt_cpu / CPU['best']:.2f}x)"
        )
    stages = {n: decode_stage(trace, n, repeat) for n in workers} if stages_too else {}
    for n, t in stages.items():
        print(
            f"decode stage, {n} worker{'s' if n != 1 else ' '}        {t['decode']:7.2f} s  "
            f"{events / t['decode'] / 1e6:5.2f} M ev/s  "
            f"(busiest decoder's CPU {t['decode_cpu']:.2f} s; merge alone {t['merge']:.2f} s, "
            f"analysis alone {t['analysis']:.2f} s)"
        )
    for n, t in stages.items():
        parent, idle = t["pass_parent_cpu"], t["pass_idle_estimate"]
        plural = "s" if n != 1 else " "
        print(
            f"whole pass, {n} worker{plural}         CPU {parent:.2f} s here + "
            f"{t['pass_total_cpu'] - parent:.2f} s in workers; on idle cores about "
            f"{idle:.2f} s = {bt_cpu / idle:.2f}x babeltrace2's CPU "
            f"(analysis alone: {t['analysis_cpu']:.2f} s CPU)"
        )
    if 1 in stages and len(stages) > 1:
        for n, t in stages.items():
            if n > 1:
                scaling = stages[1]["decode"] / t["decode"]
                cpu_scaling = stages[1]["decode_cpu"] / t["decode_cpu"]
                print(
                    f"decode scaling 1 -> {n} workers   {scaling:5.2f}x wall, "
                    f"{cpu_scaling:5.2f}x by the busiest decoder's CPU (the idle-core figure)"
                )

    floor, _ = best([sys.executable, "-c", "import numpy"], repeat)
    run(w2a("analyze", str(trace)))  # analyse once more and write the cache
    s, peak = best(w2a("analyze", str(trace)), repeat)
    print(
        f"analyze from the cache         {s:7.2f} s  (target < 0.5 s; CPU {CPU['best']:.2f} s; "
        f"{s / floor:4.1f}x `python -c 'import numpy'` = {floor:.2f} s)  peak RSS {peak:.0f} MiB"
    )
    with tempfile.TemporaryDirectory(prefix="w2a-bench-") as tmp:
        out = Path(tmp) / "out.csv"
        s, peak = best(w2a("export", str(trace), "--format", "csv", "-o", str(out)), repeat)
        with out.open("rb") as f:
            rows = sum(1 for _ in f) - 1
    print(
        f"export --format csv            {s:7.2f} s  {rows / s / 1e6:5.2f} M rows/s "
        f"(target >= 2; by CPU {rows / CPU['best'] / 1e6:.2f}) {rows:,} rows  "
        f"peak RSS {peak:.0f} MiB"
    )
    frames = []
    for _ in range(repeat):
        out = run([sys.executable, "-c", FIRST_FRAME, str(trace)], capture=True)[2]
        shown, cpu = (float(x) for x in out.split())
        frames.append((shown, cpu))
    shown, cpu = min(frames)
    print(
        f"TUI first frame from the cache {shown:7.2f} s  (target < 0.5 s; CPU until then "
        f"{cpu:.2f} s, Textual's start included; {shown / floor:4.1f}x `python -c 'import "
        f"numpy'`)"
    )


def du_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000000,10000000", help="comma-separated sizes")
    parser.add_argument("--workers", default="0,1,2", help="worker counts (0: in one process)")
    parser.add_argument("--traces", type=Path, help="keep (and reuse) the traces here")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one run, 200 k events")
    parser.add_argument(
        "--no-stages",
        action="store_true",
        help="skip the decode/merge/analysis stage passes (for 100 M events: they take long)",
    )
    parser.add_argument(
        "--pure-python",
        action="store_true",
        help=f"read without the compiled walk ({PURE_PYTHON_ENV}=1), for comparison",
    )
    args = parser.parse_args()
    if args.pure_python:
        os.environ[PURE_PYTHON_ENV] = "1"
    # The modules' bytecode, as an installed package has it (PYTHONDONTWRITEBYTECODE, set
    # on some machines, would otherwise make every run compile every module again).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(PACKAGE)], check=True)
    sizes = [200_000] if args.quick else [int(x) for x in args.events.split(",")]
    repeat = 1 if args.quick else args.repeat
    workers = [int(x) for x in args.workers.split(",")]
    walk = "compiled walk" if enabled() else "pure Python (no compiled walk)"
    print(f"{os.cpu_count()} CPUs; reader: {walk}; best of {repeat} run(s) each")
    with tempfile.TemporaryDirectory(prefix="w2a-traces-") as tmp:
        folder = args.traces or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for events in sizes:
            bench(trace_for(events, folder), workers, repeat, not args.no_stages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
