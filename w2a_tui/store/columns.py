"""Small numpy helpers shared by the store and the cache: narrow integer columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# Signed dtypes tried in order when narrowing a column; -1 must stay representable.
_SIGNED = (np.int8, np.int16, np.int32, np.int64)


def narrow_signed(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The same integers in the smallest signed dtype that holds them (memory is the
    store's budget: exit reasons and evidence ids rarely need more than 16 or 32 bits)."""
    if values.size == 0:
        return values.astype(np.int8)
    lo, hi = int(values.min()), int(values.max())
    for dtype in _SIGNED:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values.astype(dtype, copy=False)
    raise ValueError("integer column does not fit in int64")


def narrow_unsigned_index(size: int) -> type[np.unsignedinteger[Any]]:
    """The smallest unsigned dtype able to index `size` items."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if size <= np.iinfo(dtype).max + 1:
            return dtype
    return np.uint64
