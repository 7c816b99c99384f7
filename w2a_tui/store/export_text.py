"""The contract's CSV and JSON exports written straight from a store's columns.

`analysis.rows.export_rows` builds one Python tuple per interval and `csv.writer` formats
it: about 0.3 M rows/s. Here a block of rows is assembled with numpy, without a Python
object per row. Every row is a header (the lane's cells, then start and end) and a tail
(state, source, vector, waker, exit reason, next thread). The text of a block is a byte
matrix, one line per interval, with a mask of the bytes that count; the masked bytes,
read line by line, are the block's text.

- start and end: right-aligned decimal digits, four per table lookup; the end column is
  the start column shifted by one row, so each timestamp is formatted once;
- the tail of an interval without evidence cells (guest and hypervisor time, about nine
  rows in ten) depends on its state and exit reason only: each distinct pair is formatted
  once, with the standard `csv` / `json` spelling, and gathered by a table lookup;
- the tail of the other rows is assembled cell by cell from the evidence table's columns.

Strings (VM and thread names, labels) are encoded once each, by `csv` and `json`
themselves, so quoting and escaping are theirs. The output is byte for byte what
`write_csv` / `write_json` of `export_rows` produce (tests/test_export_columns.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.analysis.finish import placeholder_name
from w2a_tui.analysis.rows import _SHOWS_EXIT, _SHOWS_WAKER, EXPORT_COLUMNS
from w2a_tui.model import N_STATES, WAIT_STATES, Source, State
from w2a_tui.store.store import StateStore

# Rows formatted at once: big enough for numpy to pay, small enough to stay in cache.
BLOCK_ROWS: Final = 1 << 15

U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
# A cell of every row of a block: its bytes (right-aligned or padded) and which count.
Piece = tuple[U8, Bools]

# "0000".."9999" as one uint32 each, in memory order: four digits per lookup.
_QUADS: Final = np.frombuffer(
    "".join(f"{i:04d}" for i in range(10_000)).encode(), dtype=np.uint32
).copy()
_POWERS: Final = np.array([10**k for k in range(1, 19)], dtype=np.int64)

_WAIT: Final = np.isin(np.arange(N_STATES), [int(s) for s in WAIT_STATES])
_SHOWS_EXIT_MASK: Final = np.isin(np.arange(N_STATES), [int(s) for s in _SHOWS_EXIT])
_SHOWS_WAKER_MASK: Final = np.isin(np.arange(N_STATES), [int(s) for s in _SHOWS_WAKER])
# States whose evidence fills cells: waits, blocked, ready, preempted.
_EVIDENCE_CELLS: Final = _WAIT | _SHOWS_WAKER_MASK | (np.arange(N_STATES) == State.PREEMPTED)
# Tail tables are indexed by state * (largest exit reason + 2) + exit reason + 1; past this
# many entries (absurd exit reasons) every tail is assembled cell by cell.
_MAX_TAIL_KEYS: Final = 1 << 22


def _ints(values: npt.NDArray[Any], present: Bools | None = None) -> Piece:
    """Decimal text of integers, `str(int)`'s spelling; empty where not `present`."""
    v = values.astype(np.int64, copy=False)
    n = len(v)
    negative = v < 0
    has_sign = bool(negative.any())
    magnitude = np.abs(v) if has_sign else v
    width = len(str(int(magnitude.max()))) if n else 1
    quads = -(-width // 4)
    digits = np.empty((n, quads), dtype=np.uint32)
    rest = magnitude
    for k in range(quads - 1, -1, -1):
        rest, low = np.divmod(rest, 10_000)
        digits[:, k] = _QUADS[low]
    text: U8 = digits.view(np.uint8).reshape(n, quads * 4)
    count = np.searchsorted(_POWERS, magnitude, side="right") + 1
    valid = np.arange(quads * 4) >= (quads * 4 - count)[:, None]
    if has_sign:
        sign = np.full((n, 1), ord("-"), dtype=np.uint8)
        text = np.concatenate([sign, text], axis=1)
        valid = np.concatenate([negative[:, None], valid], axis=1)
    if present is not None:
        valid &= present[:, None]
    return text, valid


class _Strings:
    """Encoded strings as a padded byte matrix, gathered by index."""

    def __init__(self, encoded: Sequence[bytes]) -> None:
        width = max((len(s) for s in encoded), default=0) or 1
        self.table = np.zeros((len(encoded) or 1, width), dtype=np.uint8)
        for i, s in enumerate(encoded):
            self.table[i, : len(s)] = np.frombuffer(s, dtype=np.uint8)
        self.lengths = np.array([len(s) for s in encoded] or [0], dtype=np.int64)
        self.columns = np.arange(width)

    def __call__(self, ids: npt.NDArray[Any]) -> Piece:
        return self.table[ids], self.columns < self.lengths[ids][:, None]


def _literal(text: bytes, n: int) -> Piece:
    row = np.frombuffer(text, dtype=np.uint8)
    return np.broadcast_to(row, (n, len(row))), np.broadcast_to(True, (n, len(row)))


def _csv_cell(text: str) -> bytes:
    """How `csv.writer` writes this string as one cell of a longer row."""
    if not text:
        return b""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text, ""])
    return buffer.getvalue()[: -len(",\n")].encode("utf-8", "surrogateescape")


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def json_text(value: object) -> str:
    """`json.dumps` keeping non-ASCII as is, but lone surrogates (undecodable bytes kept
    by `surrogateescape`) as `\\udcXX` escapes: the file stays valid UTF-8."""
    text = json.dumps(value, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _json_cell(text: str) -> bytes:
    """How `write_json` writes this string: null when empty."""
    return json_text(text or None).encode()


class _Spelling:
    """One format: how cells are spelled and what goes between them.

    A row is `header(lane) start mid end` and a tail: the cells state .. next_comm, each
    preceded by its separator, then `line_end`."""

    def __init__(
        self,
        cell: Any,
        empty_int: bytes,
        mid: bytes,
        separators: Sequence[bytes],
        line_end: bytes,
    ) -> None:
        self.cell = cell
        self.empty_int = empty_int
        self.mid = mid
        self.separators = separators  # before each of the 7 tail cells
        self.line_end = line_end

    def tail(self, cells: Sequence[bytes]) -> bytes:
        return b"".join(s + c for s, c in zip(self.separators, cells, strict=True)) + self.line_end


CSV: Final = _Spelling(_csv_cell, b"", b",", [b","] * 7, b"\n")
JSON: Final = _Spelling(
    _json_cell,
    b"null",
    b', "end_ns": ',
    [f', "{name}": '.encode() for name in EXPORT_COLUMNS[6:]],
    b"},\n  ",
)


class _Writer:
    """Formats one store's rows in blocks, in one spelling."""

    def __init__(self, store: StateStore, spelling: _Spelling) -> None:
        self.store = store
        self.sp = spelling
        cell = spelling.cell
        self.labels = _Strings([cell(State(s).label) for s in range(N_STATES)])
        self.sources = _Strings([cell(Source(s).label) for s in range(max(Source) + 1)])
        # Evidence strings shifted by one: index 0 is the empty cell.
        self.strings = _Strings([cell(""), *(cell(s) for s in store.evidence_table.strings)])
        table = store.evidence_table.columns()
        if len(store.evidence_table) == 0:  # gathers below index row 0 of every column
            table = {name: np.zeros(1, dtype=col.dtype) for name, col in table.items()}
        self.evidence = table
        exits = store.columns()["exits"]
        self.exit_base = (int(exits.max()) if len(exits) else 0) + 2
        lowest = int(exits.min()) if len(exits) else 0
        self.use_tails = N_STATES * self.exit_base <= _MAX_TAIL_KEYS and lowest >= -1
        # The lookup table exists only when it is small: an absurd exit reason (a damaged
        # trace) must not ask for gigabytes.
        self.tail_ids = np.full(N_STATES * self.exit_base if self.use_tails else 0, -1, np.int64)
        self.tail_texts: list[bytes] = []
        self.tails = _Strings([])
        self._text = np.empty(0, dtype=np.uint8)
        self._valid = np.empty(0, dtype=np.bool_)

    # ---------------------------------------------------------------- the tails

    def _plain_tail(self, state: int, exit_reason: int) -> bytes:
        """The tail of a row without evidence cells."""
        sp = self.sp
        cell = sp.cell
        shows_exit = _SHOWS_EXIT_MASK[state] and exit_reason >= 0
        return sp.tail(
            [
                cell(State(state).label),
                cell("none" if _WAIT[state] else ""),
                sp.empty_int,
                sp.empty_int,
                cell(""),
                str(exit_reason).encode() if shows_exit else sp.empty_int,
                cell(""),
            ]
        )

    def _plain_tails(self, states: U8, exits: I64) -> Piece:
        keys = states.astype(np.int64) * self.exit_base + exits + 1
        ids = self.tail_ids[keys]
        if (ids < 0).any():
            for key in np.unique(keys[ids < 0]).tolist():
                state, exit_reason = divmod(key, self.exit_base)
                self.tail_ids[key] = len(self.tail_texts)
                self.tail_texts.append(self._plain_tail(state, exit_reason - 1))
            self.tails = _Strings(self.tail_texts)
            ids = self.tail_ids[keys]
        return self.tails(ids)

    def _ints_cell(self, values: I64, present: Bools) -> Piece:
        text, valid = _ints(values, present)
        if not self.sp.empty_int:
            return text, valid
        empty = np.frombuffer(self.sp.empty_int, dtype=np.uint8)
        n, k = len(text), len(empty)
        return (
            np.concatenate([np.broadcast_to(empty, (n, k)), text], axis=1),
            np.concatenate([np.broadcast_to(~present[:, None], (n, k)), valid], axis=1),
        )

    def _evidence_tails(self, states: U8, exits: I64, eids: I64) -> Piece:
        """Tails assembled cell by cell (`eids` may be -1: no evidence)."""
        n = len(states)
        has = eids >= 0
        at = np.where(has, eids, 0)
        ev = self.evidence
        wait = _WAIT[states]
        source = np.where(wait, np.where(has, ev["source"][at], int(Source.NONE)), 0)
        vector = ev["vector"][at].astype(np.int64)
        waker_tid = ev["waker_tid"][at].astype(np.int64)
        shows_waker = _SHOWS_WAKER_MASK[states] & has & (waker_tid >= 0)
        waker_comm = np.where(shows_waker, ev["waker_comm"][at].astype(np.int64) + 1, 0)
        preempted = (states == int(State.PREEMPTED)) & has
        next_comm = np.where(preempted, ev["next_comm"][at].astype(np.int64) + 1, 0)
        cells = [
            self.labels(states),
            self.sources(source),
            self._ints_cell(vector, wait & has & (vector >= 0)),
            self._ints_cell(waker_tid, shows_waker),
            self.strings(waker_comm),
            self._ints_cell(exits, _SHOWS_EXIT_MASK[states] & (exits >= 0)),
            self.strings(next_comm),
        ]
        pieces: list[Piece] = []
        for separator, piece in zip(self.sp.separators, cells, strict=True):
            pieces += [_literal(separator, n), piece]
        pieces.append(_literal(self.sp.line_end, n))
        return _join(pieces)

    # ---------------------------------------------------------------- the rows

    def block(self, lane: int, a: int, b: int, header: bytes) -> str:
        """The text of rows a..b-1 of one lane."""
        view = self.store._view(lane)
        n = b - a
        states = view.states[a:b]
        exits = view.exits[a:b].astype(np.int64)
        eids = view.evidence[a:b].astype(np.int64)
        # starts of rows a..b, then the end of row b-1: the end column is the start column
        # shifted by one row, formatted once.
        edges = np.empty(n + 1, dtype=np.int64)
        edges[:n] = view.starts[a:b]
        edges[n] = view.starts[b] if b < view.n else view.end
        digits, digits_valid = _ints(edges)
        if self.use_tails:
            tail = self._plain_tails(states, exits)
            rich = np.flatnonzero((eids >= 0) & _EVIDENCE_CELLS[states])
            rich_tail = self._evidence_tails(states[rich], exits[rich], eids[rich])
        else:
            tail = self._evidence_tails(states, exits, eids)
            rich = np.zeros(0, dtype=np.int64)
            rich_tail = tail
        pieces: list[Piece] = [
            _literal(header, n),
            (digits[:-1], digits_valid[:-1]),
            _literal(self.sp.mid, n),
            (digits[1:], digits_valid[1:]),
        ]
        head = sum(p[0].shape[1] for p in pieces)
        width = head + max(tail[0].shape[1], rich_tail[0].shape[1])
        text, valid = self._matrices(n, width)
        _place(text, valid, [*pieces, tail])
        valid[:, head + tail[0].shape[1] :] = False
        if len(rich):
            w = rich_tail[0].shape[1]
            text[rich, head : head + w] = rich_tail[0]
            valid[rich, head:] = False
            valid[rich, head : head + w] = rich_tail[1]
        # Bytes that were not UTF-8 in the trace come back as `surrogateescape` keeps them.
        return codecs.utf_8_decode(text[valid].data, "surrogateescape")[0]

    def _matrices(self, n: int, width: int) -> tuple[U8, Bools]:
        """(text, valid) of a block, over buffers kept from block to block: fresh multi-MB
        arrays per block cost a page fault per 4 KiB (a third of the time, in the kernel)."""
        if self._text.size < n * width:
            self._text = np.empty(n * width, dtype=np.uint8)
            self._valid = np.empty(n * width, dtype=np.bool_)
        return (
            self._text[: n * width].reshape(n, width),
            self._valid[: n * width].reshape(n, width),
        )

    def blocks(self, block_rows: int) -> Iterator[str]:
        for lane, info in enumerate(self.store.lanes):
            header = self.header(info.vm_pid, info.vcpu, info.tid)
            for a in range(0, info.n_intervals, block_rows):
                yield self.block(lane, a, min(a + block_rows, info.n_intervals), header)

    def header(self, vm_pid: int, vcpu: int, tid: int) -> bytes:
        names = {vm.pid: vm.name for vm in self.store.vms}
        name = names.get(vm_pid, "")
        name = "" if name == placeholder_name(vm_pid) else name
        if self.sp is CSV:
            return b"%d,%s,%d,%d," % (vm_pid, _csv_cell(name), vcpu, tid)
        return b'{"vm_pid": %d, "vm_name": %s, "vcpu": %d, "tid": %d, "start_ns": ' % (
            vm_pid,
            _json_cell(name),
            vcpu,
            tid,
        )


def _place(text: U8, valid: Bools, pieces: list[Piece]) -> None:
    """Pieces side by side from the first column of `text` / `valid`."""
    at = 0
    for t, v in pieces:
        w = t.shape[1]
        text[:, at : at + w] = t
        valid[:, at : at + w] = v
        at += w


def _join(pieces: list[Piece]) -> Piece:
    """Pieces side by side (one wider piece)."""
    n = len(pieces[0][0])
    width = sum(p[0].shape[1] for p in pieces)
    text = np.empty((n, width), dtype=np.uint8)
    valid = np.empty((n, width), dtype=np.bool_)
    _place(text, valid, pieces)
    return text, valid


def write_csv_columns(store: StateStore, out: IO[str], *, block_rows: int = BLOCK_ROWS) -> None:
    """`write_csv(export_rows(result), out)` for the store of that result."""
    out.write(",".join(EXPORT_COLUMNS) + "\n")
    for text in _Writer(store, CSV).blocks(block_rows):
        out.write(text)


def write_json_columns(
    store: StateStore,
    out: IO[str],
    warnings: Sequence[str] = (),
    *,
    block_rows: int = BLOCK_ROWS,
) -> None:
    """`write_json(export_rows(result), out, warnings)` for the store of that result."""
    out.write('{"warnings": ')
    out.write(json_text(list(warnings)))
    out.write(',\n "intervals": [')
    # Each row ends with `},\n  `: the first is preceded by "\n  ", and the last one's
    # `,\n  ` becomes the closing "\n ]}\n".
    pending = ""
    for text in _Writer(store, JSON).blocks(block_rows):
        out.write(pending or "\n  ")
        pending = text
    if pending:
        out.write(pending[: -len(",\n  ")])
    out.write("\n ]}\n")
