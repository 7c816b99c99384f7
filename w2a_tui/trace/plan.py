"""How to turn one event class into the tuples of `w2a_tui.events`, decided once per class.

Both decoders (the fast native one and the public-API reference) share this, so they agree
on names, kinds, field spellings and defaults by construction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from w2a_tui.events import PAYLOAD, EventKind, kind_of

# Where a value comes from: (scope, member index); scope -1 = absent.
COMMON_CONTEXT: Final = 0
PAYLOAD_SCOPE: Final = 1
ABSENT: Final = (-1, -1)

# Payload fields that hold text: their default is "" rather than -1.
STRING_FIELDS: Final = frozenset(
    {"prev_comm", "next_comm", "comm", "parent_comm", "child_comm", "filename", "name"}
)

# Context spellings: LTTng contexts (`pid`, `tid`, `procname` once bt2 strips the leading
# underscore), then perf's CTF converter, which puts them in the payload.
_TID_NAMES: Final = ("tid", "vtid")
_PID_NAMES: Final = ("pid", "vpid")
_PERF_TID: Final = "perf_tid"
_PERF_PID: Final = "perf_pid"
_PERF_CPU: Final = "perf_cpu"


@dataclass(frozen=True, slots=True)
class ClassPlan:
    """What to read from events of one class."""

    name: str
    kind: int  # EventKind value, or -1 for events the analysis does not know
    wanted: bool  # decode into tuples (False: only counted)
    payload: tuple[int, ...]  # payload member index per PAYLOAD field, -1 when missing
    defaults: tuple[int | str, ...]  # value used when the index is -1
    tid: tuple[int, int]
    pid: tuple[int, int]
    procname: tuple[int, int]
    cpu: int  # payload index of a per-event CPU field (perf), -1: use the packet's cpu_id


def make_plan(
    name: str,
    payload_names: Sequence[str],
    context_names: Sequence[str],
    wanted: Collection[int] | None,
) -> ClassPlan:
    """The plan for an event class named `name` with these payload / common-context members."""
    kind_enum = kind_of(name)
    kind = int(kind_enum) if kind_enum is not None else -1
    is_wanted = kind_enum is not None and (wanted is None or kind in wanted)
    payload_index = {n: i for i, n in enumerate(payload_names)}
    indexes: list[int] = []
    defaults: list[int | str] = []
    if kind_enum is not None:
        for spellings in PAYLOAD[kind_enum]:
            index = next((payload_index[s] for s in spellings if s in payload_index), -1)
            indexes.append(index)
            defaults.append("" if spellings[0] in STRING_FIELDS else -1)
    context_index = {n: i for i, n in enumerate(context_names)}
    return ClassPlan(
        name=name,
        kind=kind,
        wanted=is_wanted,
        payload=tuple(indexes),
        defaults=tuple(defaults),
        tid=_locate(_TID_NAMES, context_index, _PERF_TID, payload_index),
        pid=_locate(_PID_NAMES, context_index, _PERF_PID, payload_index),
        procname=_locate(("procname",), context_index, "", payload_index),
        cpu=payload_index.get(_PERF_CPU, -1),
    )


def _locate(
    context_spellings: Sequence[str],
    context_index: dict[str, int],
    payload_name: str,
    payload_index: dict[str, int],
) -> tuple[int, int]:
    for spelling in context_spellings:
        if spelling in context_index:
            return (COMMON_CONTEXT, context_index[spelling])
    if payload_name and payload_name in payload_index:
        return (PAYLOAD_SCOPE, payload_index[payload_name])
    return ABSENT


def wanted_set(kinds: Collection[EventKind] | None) -> frozenset[int] | None:
    return None if kinds is None else frozenset(int(k) for k in kinds)
