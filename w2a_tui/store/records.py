"""The small value types the store answers with (`Interval`, `LaneInfo`, `ColumnSummary`)
and keeps per lane (`LaneRecord`): plain frozen data, no numpy columns behind them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import Evidence, State

NO_DATA: Final = 255  # `ColumnSummary.dominant` of a column the lane does not cover

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval of one lane, `[start, end)` in ns; `exit_reason` -1 when none."""

    lane: int
    index: int
    start: int
    end: int
    state: State
    exit_reason: int
    evidence: Evidence | None

    @property
    def duration(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class LaneInfo:
    """Who a lane is: one vCPU of one VM."""

    index: int
    vm_pid: int
    vm_name: str
    vcpu: int
    tid: int
    comm: str
    n_intervals: int


@dataclass(frozen=True, slots=True)
class ColumnSummary:
    """A lane over `ncols` columns: `dominant[k]` is the state holding most of column k
    (lowest state value on ties, `NO_DATA` where the lane does not cover the column), and
    `time[k, s]` the ns spent in state s within column k."""

    dominant: U8
    time: I64


@dataclass(frozen=True, slots=True)
class LaneRecord:
    """What the store keeps about a lane besides its columns (round-tripped by the cache)."""

    vm_pid: int
    vcpu: int
    tid: int
    comm: str
    end_ns: int
    exit_counts: Mapping[int, int]
