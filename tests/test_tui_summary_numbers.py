"""The summary's numbers (issue 12.3) are `analyze`'s: totals computed from the store
equal `compute_totals` of the same analysis, VM by VM, vCPU by vCPU; over a range they
add up to the range and agree with the whole trace when the range is the whole trace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static

from w2a_tui.analysis.totals import Totals, VmTotals, compute_totals, totals_to_json
from w2a_tui.model import State
from w2a_tui.sim import generate, get_scenario, with_overrides
from w2a_tui.store import StateStore
from w2a_tui.store.range_totals import range_totals
from w2a_tui.tui.app import W2AApp
from w2a_tui.tui.screens.summary import SummaryScreen
from w2a_tui.tui.widgets.timeline import Timeline


def _json(store: StateStore, vms: list[VmTotals]) -> dict[str, Any]:
    totals = Totals(vms, store.meta.first_ns, store.meta.last_ns, list(store.warnings))
    return totals_to_json(totals)


def _same_as_analyze(store: StateStore) -> None:
    expected = totals_to_json(compute_totals(store.to_result()))
    got = _json(store, range_totals(store))
    assert got == expected


def test_whole_trace_totals_equal_analyze_on_the_sample(sample_store: StateStore) -> None:
    store = sample_store
    _same_as_analyze(store)
    vms = range_totals(store)
    assert any(vm.top_preemptors for vm in vms)  # the sample's batch01 is preempted
    assert all(vm.verdict for vm in vms)


@pytest.mark.parametrize("scenario", ["preempt", "lost", "mixed"])
def test_whole_trace_totals_equal_analyze_on_generated_traces(
    tmp_path: Path, scenario: str
) -> None:
    from w2a_tui.pipeline import load_store

    trace = tmp_path / scenario
    generate(trace, with_overrides(get_scenario(scenario), seconds=0.1, seed=5))
    store, _ = load_store(str(trace), use_cache=False)
    _same_as_analyze(store)


def test_a_range_counts_only_its_time(sample_store: StateStore) -> None:
    store = sample_store
    mid = (store.start_ns + store.end_ns) // 2
    t0, t1 = mid - 50_000_000, mid + 50_000_000
    vms = range_totals(store, t0=t0, t1=t1)
    for vm in vms:
        for v in vm.vcpus:
            known = sum(v.time_by_state.values())
            assert known == v.span_ns <= t1 - t0
    whole = range_totals(store, t0=store.start_ns, t1=store.end_ns)
    assert [vm.time_by_state for vm in whole] == [vm.time_by_state for vm in range_totals(store)]


def test_one_vm_only(sample_store: StateStore) -> None:
    store = sample_store
    pid = store.vms[1].pid
    vms = range_totals(store, store.lanes_of_vm(pid))
    assert [vm.pid for vm in vms] == [pid]
    assert vms[0].time_by_state[State.GUEST.label] > 0


# --- in the TUI: `t` shows these numbers; with a selection, those of the range -------------


def _shown(widget: Static, width: int = 120) -> str:
    console = Console(width=width, record=True)
    console.print(widget.content)
    return console.export_text()


async def test_t_shows_each_vcpus_share_of_every_state_and_the_verdicts(
    sample_store: StateStore,
) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        shown = _shown(screen.query_one("#summary-bars", Static))
        lines = shown.splitlines()
        for vm in compute_totals(store.to_result()).vms:
            at = next(i for i, line in enumerate(lines) if vm.verdict in line)
            for v in vm.vcpus:
                row = next(line for line in lines[at:] if line.startswith(f"vCPU {v.vcpu} "))
                guest = v.time_by_state["guest"] / v.span_ns
                preempt = v.time_by_state["preempted"] / v.span_ns
                assert row.split()[-6:-3:2] == [f"{100 * guest:.1f}", f"{100 * preempt:.1f}"]
        assert "preempted by" in shown


async def test_t_on_a_selection_summarises_that_range_only(sample_store: StateStore) -> None:
    store = sample_store
    app = W2AApp(store=store, mono=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("w", "w", "space", *["right"] * 20, "v")
        await pilot.pause()
        tl = app.screen.query_one(Timeline)
        selection = tl.selection
        assert selection is not None and selection[1] > selection[0]
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen) and screen.window == selection
        title = str(screen.query_one("#summary-title", Static).render())
        assert "from 0.000000s to" in title
        shown = _shown(screen.query_one("#summary-bars", Static), 100)
        vm = range_totals(store, store.lanes_of_vm(store.vms[0].pid), *selection)[0]
        assert vm.verdict in shown
        assert all(w.start + w.duration > selection[0] for w in screen.longest)
        assert all(w.start < selection[1] for w in screen.longest)


async def test_long_vm_names_at_80_columns_keep_the_vcpu_numbers_and_bars(
    tmp_path: Path,
) -> None:
    """QEMU without -name: every VM is `qemu-system-x86 [pid]`."""
    from w2a_tui.pipeline import load_store

    trace = tmp_path / "old-names"
    generate(trace, with_overrides(get_scenario("two-vms"), seconds=0.05, seed=2))
    store, _ = load_store(str(trace), use_cache=False)
    for vm in store.vms:
        vm.name = "qemu-system-x86"
    app = W2AApp(store=store, mono=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        shown = _shown(screen.query_one("#summary-bars", Static), 80)
        rows = [line for line in shown.splitlines() if re.match(r"vCPU \d", line)]
        assert len(rows) == len(store.lanes)
        for line in rows:
            assert len(line.rstrip()) <= 80
            assert "guest" not in line and "%" not in line
            assert line.split()[1].isdigit()
        assert f"qemu-system-x86 [{store.vms[0].pid}]" in shown
