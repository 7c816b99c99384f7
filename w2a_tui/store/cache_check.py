"""Checks of a cache file's content before anything is built from it.

A cache is data from disk, not trusted code: its checksums catch accidents, not a file
written on purpose. Everything the store, the TUI and the exports rely on is checked here,
so that a crafted cache is refused (and the trace analysed again) instead of crashing a
query or being shown:

- the JSON header: every key of the expected type, nothing else (which also bounds how
  deep it nests), integers within int64;
- the array directory: the expected arrays, each with its expected dtype (little-endian
  integers), dimensions and a place inside the payload;
- the columns: lane offsets, starts in time order within each lane, states and evidence
  ids in range, the per-state index (`gkey`, `group_off`) and the checkpoint rows exactly
  what the columns imply.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from w2a_tui.model import N_STATES, TraceMeta, VmInfo
from w2a_tui.store.build import block_sums
from w2a_tui.store.evidence_table import INT_FIELDS, STR_FIELDS

_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1
_TIME_LIMIT: Final = 2**62  # durations and their sums stay inside int64
_SIGNED: Final = frozenset({"|i1", "<i2", "<i4", "<i8"})
_UNSIGNED: Final = frozenset({"|u1", "<u2", "<u4", "<u8"})

# name -> (allowed dtypes, number of dimensions)
ARRAYS: Final[Mapping[str, tuple[frozenset[str], int]]] = {
    "store.lane_off": (frozenset({"<i8"}), 1),
    "store.starts": (frozenset({"<i8"}), 1),
    "store.states": (frozenset({"|u1"}), 1),
    "store.exits": (_SIGNED, 1),
    "store.evidence": (_SIGNED, 1),
    "store.gkey": (frozenset({"<i4", "<i8"}), 1),
    "store.checkpoints": (frozenset({"<i8"}), 2),
    "store.group_off": (frozenset({"<i8"}), 2),
    "evidence.source": (frozenset({"|u1"}), 1),
    **{f"evidence.{name}": (_SIGNED, 1) for name in INT_FIELDS},
    **{f"evidence.{name}": (_UNSIGNED, 1) for name in STR_FIELDS},
}


class CacheInvalid(Exception):
    """The file is not a valid, current cache of this trace (the message says why)."""


# ------------------------------------------------------------------ JSON header


def _fail(where: str, what: str) -> typing.NoReturn:
    raise CacheInvalid(f"{where}: {what}")


def _int(value: object, where: str) -> int:
    if type(value) is not int or not _I64_MIN <= value <= _I64_MAX:
        _fail(where, "not a 64-bit integer")
    return value


def _str(value: object, where: str) -> str:
    if type(value) is not str:
        _fail(where, "not a string")
    return value


def _list(value: object, where: str) -> list[Any]:
    if type(value) is not list:
        _fail(where, "not a list")
    return value


def _dict(
    value: object, where: str, keys: AbstractSet[str], optional: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    if type(value) is not dict:
        _fail(where, "not an object")
    have = set(value)
    if not keys - optional <= have <= keys:
        _fail(where, f"keys {sorted(have)} instead of {sorted(keys)}")
    return value


def _typed(value: object, hint: Any, where: str) -> None:
    """`value` (from JSON) matches the annotation `hint`: bool, int (IntEnum too), float,
    str, None, list[X], tuple[X, ...], dict[str, X] and unions of those. A type this
    checker does not know is refused (the round-trip tests then say which field)."""
    origin = typing.get_origin(hint)
    if origin in (list, tuple):
        item = typing.get_args(hint)[0]
        for i, x in enumerate(_list(value, where)):
            _typed(x, item, f"{where}[{i}]")
    elif origin is dict:
        if type(value) is not dict:
            _fail(where, "not an object")
        _, item = typing.get_args(hint)
        for key, x in value.items():
            _typed(x, item, f"{where}.{key}")
    elif origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                _typed(value, arm, where)
            except CacheInvalid:
                continue
            return
        _fail(where, f"not a {hint!r}")
    elif hint is type(None):
        if value is not None:
            _fail(where, "not null")
    elif hint is bool:
        if type(value) is not bool:
            _fail(where, "not a boolean")
    elif hint is int or (isinstance(hint, type) and issubclass(hint, int)):
        _int(value, where)
    elif hint is str:
        _str(value, where)
    elif hint is float:
        if type(value) not in (int, float):
            _fail(where, "not a number")
    else:
        _fail(where, f"unchecked type {hint!r}")


def _dataclass_fields(cls: type, value: object, where: str) -> dict[str, Any]:
    """A JSON object holding a dataclass' fields, each of its annotated type."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    required = {
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    names = {f.name for f in fields}
    obj = _dict(value, where, names, names - required)
    for key, x in obj.items():
        _typed(x, hints[key], f"{where}.{key}")
    return obj


_HEADER_KEYS: Final = {
    "identity",
    "meta",
    "vms",
    "warnings",
    "lanes",
    "strings",
    "arrays",
    "payload_size",
    "checkpoint_every",
}
_LANE_KEYS: Final = {"vm_pid", "vcpu", "tid", "comm", "end_ns", "exit_counts"}
_ENTRY_KEYS: Final = {"offset", "dtype", "shape", "crc32"}


def check_header(header: object) -> dict[str, Any]:
    """The parsed JSON header, if every part of it has its expected type."""
    h = _dict(header, "header", set(_HEADER_KEYS))
    for i, entry in enumerate(_list(h["identity"], "identity")):
        row = _list(entry, f"identity[{i}]")
        if len(row) != 4:
            _fail(f"identity[{i}]", "not [name, size, mtime, digest]")
        _str(row[0], f"identity[{i}]")
        _int(row[1], f"identity[{i}]")
        _int(row[2], f"identity[{i}]")
        _str(row[3], f"identity[{i}]")
    _dataclass_fields(TraceMeta, h["meta"], "meta")
    for i, vm in enumerate(_list(h["vms"], "vms")):
        _dataclass_fields(VmInfo, vm, f"vms[{i}]")
    for key in ("warnings", "strings"):
        for i, text in enumerate(_list(h[key], key)):
            _str(text, f"{key}[{i}]")
    for i, lane in enumerate(_list(h["lanes"], "lanes")):
        where = f"lanes[{i}]"
        obj = _dict(lane, where, set(_LANE_KEYS))
        for key in ("vm_pid", "vcpu", "tid", "end_ns"):
            _int(obj[key], f"{where}.{key}")
        _str(obj["comm"], f"{where}.comm")
        for pair in _list(obj["exit_counts"], f"{where}.exit_counts"):
            if len(_list(pair, f"{where}.exit_counts")) != 2:
                _fail(f"{where}.exit_counts", "not [reason, count] pairs")
            _int(pair[0], f"{where}.exit_counts")
            _int(pair[1], f"{where}.exit_counts")
    payload = _int(h["payload_size"], "payload_size")
    _int(h["checkpoint_every"], "checkpoint_every")
    arrays = _dict(h["arrays"], "arrays", set(ARRAYS))
    for name, entry in arrays.items():
        _check_entry(name, entry, payload)
    return h


def _check_entry(name: str, entry: object, payload: int) -> None:
    obj = _dict(entry, f"arrays.{name}", set(_ENTRY_KEYS))
    dtypes, ndim = ARRAYS[name]
    if _str(obj["dtype"], name) not in dtypes:
        _fail(name, f"dtype {obj['dtype']!r} is not one of {sorted(dtypes)}")
    shape = [_int(x, name) for x in _list(obj["shape"], name)]
    if len(shape) != ndim or any(x < 0 for x in shape):
        _fail(name, f"shape {shape} is not {ndim}-dimensional")
    if ndim == 2 and shape[1] != N_STATES + (name == "store.group_off"):
        _fail(name, f"shape {shape} does not have one column per state")
    offset = _int(obj["offset"], name)
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(obj["dtype"]).itemsize
    if offset < 0 or offset + nbytes > payload:
        _fail(name, "lies outside the payload")
    _int(obj["crc32"], name)


# ------------------------------------------------------------------ columns


AnyInts = npt.NDArray[Any]


def check_columns(
    store: Mapping[str, AnyInts],
    end_ns: AnyInts,
    n_evidence: int,
    every: int,
) -> None:
    """The store's columns are the ones `build_columns` would have made: every query of
    the store (and every figure shown) relies on it. `end_ns` holds each lane's end."""
    lane_off = store["lane_off"]
    n_lanes = len(end_ns)
    if len(lane_off) != n_lanes + 1 or (n_lanes + 1 and int(lane_off[0]) != 0):
        _fail("lane_off", "does not match the lanes")
    sizes = np.diff(lane_off)
    if np.any(sizes < 0) or int(lane_off[-1]) != len(store["starts"]):
        _fail("lane_off", "offsets are not increasing up to the number of rows")
    starts = store["starts"]
    states = store["states"]
    # Rows in time order within each lane (a step down is allowed only where a lane ends).
    steps_down = np.flatnonzero(np.less(starts[1:], starts[:-1])) + 1
    if not np.isin(steps_down, lane_off[1:-1]).all():
        _fail("starts", "intervals are not in time order")
    if len(starts) and (int(starts.min()) < -_TIME_LIMIT or int(end_ns.max()) > _TIME_LIMIT):
        _fail("starts", "times beyond what a trace can hold")
    nonempty = sizes > 0
    if np.any(end_ns[nonempty] < starts[lane_off[1:][nonempty] - 1]):
        _fail("end_ns", "a lane ends before its last interval starts")
    if len(states) and int(states.max()) >= N_STATES:
        _fail("states", f"state value {int(states.max())} is not a state")
    evidence = store["evidence"]
    if len(evidence) and (int(evidence.min()) < -1 or int(evidence.max()) >= n_evidence):
        _fail("evidence", "an evidence id lies outside the evidence table")
    _check_groups(store, sizes, end_ns, every)


def _check_groups(
    store: Mapping[str, AnyInts], sizes: AnyInts, end_ns: AnyInts, every: int
) -> None:
    """`gkey`, `group_off` and `checkpoints` checked lane by lane against what the
    lane's starts and states imply (see `_check_lane_groups`, `_check_lane_checkpoints`)."""
    lane_off = store["lane_off"]
    group_off = store["group_off"]
    if group_off.shape != (len(sizes), N_STATES + 1):
        _fail("group_off", "does not match the lanes")
    ck_rows = -(-sizes // every) + 1
    checkpoints = store["checkpoints"]
    if checkpoints.shape != (int(ck_rows.sum()), N_STATES):
        _fail("checkpoints", "do not match the lanes")
    ck = 0
    for lane, n in enumerate(sizes.tolist()):
        a = int(lane_off[lane])
        states = store["states"][a : a + n]
        shift = N_STATES * (a + lane)
        _check_lane_groups(lane, states, store["gkey"][a : a + n], group_off[lane], shift)
        m = int(ck_rows[lane])
        starts = store["starts"][a : a + n]
        _check_lane_checkpoints(
            lane, starts, states, int(end_ns[lane]), every, checkpoints[ck : ck + m]
        )
        ck += m


def _check_lane_groups(
    lane: int, states: AnyInts, gkey: AnyInts, group_off: AnyInts, shift: int
) -> None:
    """`gkey` and `group_off` are what `build._group_keys` makes of `states`, checked
    without sorting: position p of group s (`group_off[s] <= p < group_off[s + 1]`) holds
    `shift + s * (n + 1) + i` with `states[i] == s` and i rising within the group. Every
    group is then a subset, in time order, of its state's intervals, and as the groups
    hold n keys in all, each is all of them: the stable sort of the states by value."""
    n = len(states)
    # Compared, not subtracted first: differences of crafted values could wrap around.
    rising_off = np.all(group_off[1:] >= group_off[:-1])
    if int(group_off[0]) != 0 or int(group_off[-1]) != n or not rising_off:
        _fail("group_off", f"lane {lane} does not count its states")
    counts = np.diff(group_off)  # each in 0..n, n in all
    if not n:
        return
    group = np.repeat(np.arange(N_STATES, dtype=np.uint8), counts)
    key_of_first = shift + np.arange(N_STATES, dtype=np.int64) * (n + 1)
    index = np.subtract(gkey, np.repeat(key_of_first, counts), dtype=np.int64)
    if int(index.min()) < 0 or int(index.max()) >= n:
        _fail("gkey", f"lane {lane} is not grouped by state")
    rising = np.greater(index[1:], index[:-1])
    firsts = group_off[1:-1]
    rising[firsts[(firsts > 0) & (firsts < n)] - 1] = True  # a new group starts anew
    if not rising.all() or not np.array_equal(states[index], group):
        _fail("gkey", f"lane {lane} is not grouped by state")


def _check_lane_checkpoints(
    lane: int, starts: AnyInts, states: AnyInts, end_ns: int, every: int, rows: AnyInts
) -> None:
    """`rows` are what `build.checkpoint_rows` makes: the first is zero, and each differs
    from the next by the ns per state of the `every` intervals between them."""
    if np.any(rows[0]):
        _fail("checkpoints", f"lane {lane} does not add up")
    if not len(starts):
        return
    sums = np.zeros((len(rows) - 1, N_STATES), dtype=np.int64)
    block_sums(starts, states, end_ns, every, sums)
    if not np.array_equal(np.subtract(rows[1:], rows[:-1]), sums):
        _fail("checkpoints", f"lane {lane} does not add up")
