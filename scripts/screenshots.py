"""Regenerate screenshots/*.svg from traces/sample, driven by keys with the Textual pilot.

Deterministic: same trace, same keys, same terminal size, no clock in the UI.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--trace traces/sample]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from w2a_tui.pipeline import load_store  # noqa: E402
from w2a_tui.sim import generate, get_scenario, with_overrides  # noqa: E402
from w2a_tui.store import StateStore  # noqa: E402
from w2a_tui.tui.app import W2AApp  # noqa: E402

# name -> (terminal size, keys pressed before the shot).
SHOTS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "main": ((120, 36), ()),
    # Longest wait from the summary: cursor on it, zoomed so it shows, drill-down open.
    "drilldown": ((120, 36), ("t", "enter")),
    "summary": ((120, 36), ("t",)),
    # The longest disk waits of db01 (the second VM): summary, two VMs right, reason 3.
    "summary-disk-db01": ((100, 30), ("t", "right", "right", "3")),
    "drilldown-disk-db01": ((100, 30), ("t", "right", "right", "3", "enter")),
    # The same summary, of a selected range only (space, 20 cells right, v, t).
    "summary-selection": ((100, 30), ("w", "w", "space", *["right"] * 20, "v", "t")),
    # Who ran on each host CPU: vCPUs coloured by VM, host threads grey, irq marked.
    "pcpu": ((120, 36), ("p",)),
    # Zoomed in on a pCPU with the drill-down of what ran there.
    "pcpu-drilldown": ((120, 36), ("p", *["w"] * 6, *["down"] * 5, *["right"] * 30, "enter")),
    # `/disk >5ms` then L: the matches as a list, in time order.
    "search-results": ((120, 36), ("slash", *"disk >5ms", "enter", "L")),
    # Ctrl+P: every action by name, with its key.
    "command-palette": ((100, 30), ("ctrl+p", *"wait", "wait:300")),
    "help": ((120, 36), ("question_mark",)),
    "main-80x24": ((80, 24), ()),
}


async def shoot(
    store: StateStore,
    out: Path,
    name: str,
    size: tuple[int, int],
    keys: tuple[str, ...],
    mono: bool = False,
) -> Path:
    app = W2AApp(store=store, mono=mono)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for key in keys:
            if key.startswith("wait:"):  # let a worker (the palette's search) answer
                await pilot.pause(int(key.removeprefix("wait:")) / 1000)
                continue
            await pilot.press(key)
        await pilot.pause()
        path = out / f"{name}.svg"
        app.save_screenshot(str(path))
    return path


async def main_async(trace: str, out: Path) -> list[Path]:
    store, _ = load_store(trace)
    out.mkdir(parents=True, exist_ok=True)
    made = [await shoot(store, out, name, size, keys) for name, (size, keys) in SHOTS.items()]
    made.append(await shoot(store, out, "main-no-color", (100, 30), ("w",), mono=True))
    made.append(await shoot(lost_events_store(), out, "warnings-lost", (100, 30), ("!",)))
    pvm = pvm_store()
    made += [await shoot(pvm, out, name, size, keys) for name, (size, keys) in PVM_SHOTS.items()]
    return made


def lost_events_store() -> StateStore:
    """The simulator's `lost` scenario (seeded, so the same trace every time): the ⚠
    header marker and the `!` warnings list have something to show."""
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "lost"
        generate(trace, with_overrides(get_scenario("lost"), seconds=0.5, seed=1))
        store, _ = load_store(str(trace), use_cache=False)
    return store


# The real KVM host ftrace recording (a PVM host, so `running` instead of guest and
# hypervisor): its two vCPU lanes, and the drill-down of a disk and of a net wait with the
# delivery chain the device vector was learned from.
PVM_TRACE = ROOT / "tests" / "data" / "real-ftrace" / "pvm-minivm-2vcpu" / "trace.dat"
PVM_SHOTS: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {
    "pvm-lanes": ((120, 36), ()),
    "pvm-drilldown-disk": ((120, 36), ("slash", *"disk", "enter", "z", "enter")),
    "pvm-drilldown-net": ((120, 36), ("slash", *"net", "enter", "z", "enter")),
}


def pvm_store() -> StateStore:
    """The real trace, analysed afresh (a cache beside it would be written into the repo)."""
    store, _ = load_store(str(PVM_TRACE), use_cache=False)
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=str(ROOT / "traces" / "sample"))
    parser.add_argument("--out", default=str(ROOT / "screenshots"))
    args = parser.parse_args()
    for path in asyncio.run(main_async(args.trace, Path(args.out))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
