"""The evidence table kept as columns: a list of millions of `Evidence` objects would cost
~200 bytes each, columns cost ~30 bytes and rebuild an `Evidence` only when asked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import Evidence, Source
from w2a_tui.store.columns import narrow_signed, narrow_unsigned_index

INT_FIELDS: Final = (
    "vector",
    "emitter_tid",
    "emitter_cpu",
    "waker_tid",
    "wakeup_ns",
    "waker_cpu",
    "next_tid",
)
STR_FIELDS: Final = ("emitter_comm", "emitter_context", "waker_comm", "waker_context", "next_comm")
COLUMNS: Final = ("source", *INT_FIELDS, *STR_FIELDS)


class EvidenceTable:
    """Columnar `list[Evidence]`: `table[i]` rebuilds the i-th `Evidence`.

    Strings are interned into `strings`; string columns hold indexes into it."""

    __slots__ = ("_columns", "_size", "strings")

    def __init__(self, columns: Mapping[str, npt.NDArray[Any]], strings: Sequence[str]) -> None:
        missing = [name for name in COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"evidence columns missing: {', '.join(missing)}")
        sizes = {len(columns[name]) for name in COLUMNS}
        if len(sizes) != 1:
            raise ValueError("evidence columns have different lengths")
        self._size = sizes.pop()
        self._columns = {name: columns[name] for name in COLUMNS}
        self.strings = list(strings)
        if self._size and len(self.strings):
            for name in STR_FIELDS:
                if int(self._columns[name].max()) >= len(self.strings):
                    raise ValueError(f"evidence column {name} points past the string table")
        elif self._size and not self.strings:
            raise ValueError("evidence rows without a string table")
        if self._size and int(self._columns["source"].max()) > max(Source):
            raise ValueError("evidence column source holds an unknown source")

    @classmethod
    def from_list(cls, evidence: Iterable[Evidence]) -> EvidenceTable:
        rows = list(evidence)
        columns: dict[str, npt.NDArray[Any]] = {
            "source": np.fromiter((int(e.source) for e in rows), np.uint8, len(rows))
        }
        for name in INT_FIELDS:
            values = np.fromiter((getattr(e, name) for e in rows), np.int64, len(rows))
            columns[name] = narrow_signed(values)
        interned: dict[str, int] = {"": 0}
        for name in STR_FIELDS:
            ids = [interned.setdefault(getattr(e, name), len(interned)) for e in rows]
            columns[name] = np.asarray(ids, dtype=np.int64)
        index_dtype = narrow_unsigned_index(len(interned))
        for name in STR_FIELDS:
            columns[name] = columns[name].astype(index_dtype)
        return cls(columns, list(interned))

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, i: int) -> Evidence:
        if not 0 <= i < self._size:
            raise IndexError(f"evidence {i} out of range")
        c = self._columns
        s = self.strings
        return Evidence(
            source=Source(int(c["source"][i])),
            vector=int(c["vector"][i]),
            emitter_tid=int(c["emitter_tid"][i]),
            emitter_comm=s[int(c["emitter_comm"][i])],
            emitter_context=s[int(c["emitter_context"][i])],
            emitter_cpu=int(c["emitter_cpu"][i]),
            waker_tid=int(c["waker_tid"][i]),
            waker_comm=s[int(c["waker_comm"][i])],
            waker_context=s[int(c["waker_context"][i])],
            wakeup_ns=int(c["wakeup_ns"][i]),
            waker_cpu=int(c["waker_cpu"][i]),
            next_tid=int(c["next_tid"][i]),
            next_comm=s[int(c["next_comm"][i])],
        )

    def to_list(self) -> list[Evidence]:
        """Every row as `Evidence` (vectorised column reads, one object per row)."""
        c = {name: self._columns[name].tolist() for name in COLUMNS}
        s = self.strings
        return [
            Evidence(
                source=Source(c["source"][i]),
                vector=c["vector"][i],
                emitter_tid=c["emitter_tid"][i],
                emitter_comm=s[c["emitter_comm"][i]],
                emitter_context=s[c["emitter_context"][i]],
                emitter_cpu=c["emitter_cpu"][i],
                waker_tid=c["waker_tid"][i],
                waker_comm=s[c["waker_comm"][i]],
                waker_context=s[c["waker_context"][i]],
                wakeup_ns=c["wakeup_ns"][i],
                waker_cpu=c["waker_cpu"][i],
                next_tid=c["next_tid"][i],
                next_comm=s[c["next_comm"][i]],
            )
            for i in range(self._size)
        ]

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """The raw columns (for the cache); do not modify them."""
        return dict(self._columns)

    @property
    def nbytes(self) -> int:
        return sum(int(a.nbytes) for a in self._columns.values()) + sum(
            len(x) + 49 for x in self.strings
        )
