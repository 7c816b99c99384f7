"""End to end against ground truth: every simulator scenario is generated small (0.3 s),
read back through the CTF reader, analysed, exported, and compared with OUT.truth.csv.

Agreement is time-weighted over the truth's span of each lane: the fraction of time where
our state equals the truth's; for the truth's waits, also how often our `source` and our
wait reason match. The whole file takes a few seconds (17 small traces).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from w2a_tui.analysis.rows import EXPORT_COLUMNS, export_rows
from w2a_tui.cli import main
from w2a_tui.commands.export import write_csv
from w2a_tui.pipeline import analyze_trace
from w2a_tui.sim.scenarios import SCENARIOS

# (start, end, state, source) per (vm_pid, vcpu)
Lanes = dict[tuple[int, int], list[tuple[int, int, str, str]]]

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


@dataclass
class Agreement:
    state: float
    source: float  # over the truth's waits
    reason: float  # over the truth's waits
    covered: float  # fraction of the truth's time our lanes cover
    claimed: float = 1.0  # state agreement over the time we do not call `unknown`


def _lanes_from_csv(text: str) -> Lanes:
    lanes: Lanes = defaultdict(list)
    for row in csv.DictReader(io.StringIO(text)):
        start, end = int(row["start_ns"]), int(row["end_ns"])
        if end > start:  # zero-length rows carry no time
            key = (int(row["vm_pid"]), int(row["vcpu"]))
            lanes[key].append((start, end, row["state"], row["source"]))
    for rows in lanes.values():
        rows.sort()
    return lanes


def agreement(truth: Lanes, ours: Lanes) -> Agreement:
    """Sweep both lanes' intervals together and weigh every overlap by its duration."""
    total = same = waits = same_source = same_reason = covered = unknown = 0
    for key, truth_rows in truth.items():
        our_rows = ours.get(key, [])
        j = 0
        for start, end, state, source in truth_rows:
            total += end - start
            while j < len(our_rows) and our_rows[j][1] <= start:
                j += 1
            k = j
            while k < len(our_rows) and our_rows[k][0] < end:
                o_start, o_end, o_state, o_source = our_rows[k]
                overlap = min(end, o_end) - max(start, o_start)
                if overlap > 0:
                    covered += overlap
                    unknown += overlap if o_state == "unknown" and state != "unknown" else 0
                    same += overlap if o_state == state else 0
                    if state.startswith("wait_"):
                        waits += overlap
                        same_source += overlap if o_source == source else 0
                        same_reason += overlap if o_state == state else 0
                k += 1
    return Agreement(
        state=same / total if total else 1.0,
        source=same_source / waits if waits else 1.0,
        reason=same_reason / waits if waits else 1.0,
        covered=covered / total if total else 1.0,
        claimed=same / (total - unknown) if total > unknown else 1.0,
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
    truth, ours = _lanes_from_csv(truth_text), _lanes_from_csv(ours_text)
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
