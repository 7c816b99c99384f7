"""Work arrays for the per-frame edge computation, reused from frame to frame.

A frame of 64 lanes x 200 columns needs half a dozen temporaries of ~1.6 MB. On the
virtual machines this tool runs on, a fresh array that size costs more in page faults
(~1 ms) than all the arithmetic done on it, so the store keeps one set per frame shape and
hands it to one caller at a time (a second, concurrent caller gets a private set).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import N_STATES

# Below this many edges fresh arrays are small and cheap: not worth keeping.
SHARE_FROM_EDGES: Final = 1024


class EdgeScratch:
    """Temporaries for `edges` column edges, each resolved over `every` intervals."""

    __slots__ = ("before", "cells", "edges", "every", "spent", "step")

    def __init__(self, edges: int, every: int) -> None:
        self.edges = edges
        self.every = every
        self.before: npt.NDArray[np.int64] = np.empty((edges, N_STATES), dtype=np.int64)
        self.spent: npt.NDArray[np.int64] = np.empty((edges, every), dtype=np.int64)
        self.cells: npt.NDArray[np.int64] = np.empty((edges, every), dtype=np.int64)
        self.step: npt.NDArray[np.int64] = np.arange(every + 1, dtype=np.int64)


class ScratchPool:
    """One shared `EdgeScratch`, lent to one caller at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: EdgeScratch | None = None

    @contextmanager
    def lend(self, edges: int, every: int) -> Iterator[EdgeScratch]:
        """Work arrays for this shape, valid until the `with` block ends."""
        if edges < SHARE_FROM_EDGES or not self._lock.acquire(blocking=False):
            yield EdgeScratch(edges, every)
            return
        try:
            shared = self._shared
            if shared is None or shared.edges != edges or shared.every != every:
                shared = self._shared = EdgeScratch(edges, every)
            yield shared
        finally:
            self._lock.release()
