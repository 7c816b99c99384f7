"""End to end against ground truth: every simulator scenario is generated small (0.3 s),
read back through the CTF reader, analysed, exported, and compared with OUT.truth.csv.

Agreement is time-weighted over the truth's span of each lane: the fraction of time where
our state equals the truth's; for the truth's waits, also how often our `source` and our
wait reason match. The whole file takes a few seconds (17 small traces).
"""

from __future__ import annotations

import csv
import io
from itertools import pairwise
from pathlib import Path

import pytest

from tests.support.agreement import Lanes, agreement, lanes_from_csv
from w2a_tui.analysis.rows import EXPORT_COLUMNS, export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv
from w2a_tui.pipeline import analyze_trace
from w2a_tui.sim.scenarios import SCENARIOS

# The only scenario whose trace lacks evidence by construction: 8-17 % of the events are
# really missing (discarded packets), so the states there cannot be recovered. The analysis
# shows `unknown` where the loss hides the state (7-17 % of the time) and is right on
# 98.1-99.7 % of the time it claims a state (seeds 1-8; before resynchronisation: 82-93 %).
# Overall agreement, unknown counted as wrong, seeds 1-8: 82-93 %; seed 3, used here: 85 %.
NO_EVIDENCE_FLOOR = {"lost": 0.80}
CLAIMED_FLOOR = {"lost": 0.975}

# State changes no event sequence can justify (a thread gets into the guest only from the
# hypervisor on a pCPU; only a sleeping thread is woken; a state never follows itself).
_OFF_CPU = {"preempted", "ready", "blocked"} | {
    f"wait_{r}" for r in ("timer", "task", "disk", "net", "unknown")
}
IMPOSSIBLE = (
    {(a, "guest") for a in _OFF_CPU}
    | {
        ("guest", "ready"),
        ("hypervisor", "ready"),
        ("preempted", "ready"),
        ("ready", "blocked"),
        ("preempted", "blocked"),
    }
    | {("ready", w) for w in _OFF_CPU if w.startswith("wait_")}
)


def _generate(tmp_path: Path, scenario: str, seed: int = 3) -> Path:
    out = tmp_path / scenario
    status = main(
        ["generate", str(out), "--scenario", scenario, "--seconds", "0.3", "--seed", str(seed)]
    )
    assert status == 0
    return out


def _export_csv(trace: Path) -> str:
    buffer = io.StringIO()
    write_csv(export_rows(analyze_trace(trace)), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_states_agree_with_ground_truth(tmp_path: Path, scenario: str) -> None:
    trace = _generate(tmp_path, scenario)
    ours_text = _export_csv(trace)
    truth_text = Path(f"{trace}.truth.csv").read_text()
    assert ours_text.splitlines()[0] == truth_text.splitlines()[0] == ",".join(EXPORT_COLUMNS)
    truth, ours = lanes_from_csv(truth_text), lanes_from_csv(ours_text)
    assert sorted(ours) == sorted(truth), "same VMs and vCPUs"
    result = agreement(truth, ours)
    floor = NO_EVIDENCE_FLOOR.get(scenario, 0.99)
    print(f"{scenario}: {result}")
    assert result.covered == pytest.approx(1.0)
    assert result.state >= floor
    assert result.claimed >= CLAIMED_FLOOR.get(scenario, 0.99)
    assert _impossible_transitions(ours) == []
    assert result.source >= floor
    assert result.reason >= floor


def _impossible_transitions(lanes: Lanes) -> list[tuple[tuple[int, int], int, str, str]]:
    found = []
    for key, rows in lanes.items():
        for (_, _, a, _), (start, _, b, _) in pairwise(rows):
            if a == b or (a, b) in IMPOSSIBLE:
                found.append((key, start, a, b))
    return found


def test_impossible_transitions_are_detected() -> None:
    lanes: Lanes = {(1, 0): [(0, 5, "wait_timer", "none"), (5, 9, "guest", "")]}
    assert _impossible_transitions(lanes) == [((1, 0), 5, "wait_timer", "guest")]


def test_agreement_measure_detects_a_wrong_state() -> None:
    truth: Lanes = {(1, 0): [(0, 100, "guest", ""), (100, 200, "wait_timer", "inj_virq")]}
    ours: Lanes = {(1, 0): [(0, 150, "guest", ""), (150, 200, "wait_task", "inj_virq")]}
    result = agreement(truth, ours)
    assert result.state == pytest.approx(0.5)
    assert result.source == pytest.approx(0.5)
    assert result.reason == 0.0


@pytest.mark.parametrize("scenario", ["two-vms", "late-start", "mid-guest"])
def test_every_column_matches_the_truth_rows(tmp_path: Path, scenario: str) -> None:
    """Beyond states: vm name, tid, source, vector, waker, exit reason and next_comm too.
    late-start also checks the VM name of a QEMU started (and renamed) during the trace."""
    trace = _generate(tmp_path, scenario, seed=5)
    ours = {tuple(r) for r in csv.reader(io.StringIO(_export_csv(trace)))}
    truth = [
        tuple(r)
        for r in csv.reader(io.StringIO(Path(f"{trace}.truth.csv").read_text()))
        if r[4] != r[5]
    ]
    matching = sum(1 for row in truth if row in ours)
    assert matching / len(truth) >= 0.99


def test_lost_events_warning_counts_the_unknown_stretches_it_caused(tmp_path: Path) -> None:
    """The warning's count is what the export shows: every `unknown` past a lane's head."""
    trace = _generate(tmp_path, "lost")
    rows = list(csv.DictReader(io.StringIO(_export_csv(trace))))
    heads = {(r["vm_pid"], r["vcpu"]) for r in rows}
    unknown = sum(1 for r in rows if r["state"] == "unknown") - len(heads)
    warnings = analyze_trace(trace).warnings
    assert unknown > 0
    assert any(f"{unknown} vCPU interval(s)" in w for w in warnings), warnings
