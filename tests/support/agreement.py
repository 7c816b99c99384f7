"""The agreement measure of analysis against ground truth: both sides as lanes of
(start, end, state, source), compared time-weighted."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

# (start, end, state, source) per (vm_pid, vcpu)
Lanes = dict[tuple[int, int], list[tuple[int, int, str, str]]]


@dataclass
class Agreement:
    state: float
    source: float  # over the truth's waits
    reason: float  # over the truth's waits
    covered: float  # fraction of the truth's time our lanes cover
    claimed: float = 1.0  # state agreement over the time we do not call `unknown`


def lanes_from_csv(text: str) -> Lanes:
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
