"""The fast decoder: babeltrace2's SWIG layer (`bt2._native_bt`) with per-class caches.

This is babeltrace2's *internal* Python API: about 5x faster than the public objects
because it skips one wrapper object per message, event and field. It is isolated here,
selected by default, and checked against `decode_public` on every real trace by the tests.
Every call below is only made on objects whose type was checked first: a wrong call
crashes the interpreter instead of raising.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable, Collection
from typing import Any

from w2a_tui.errors import BadTraceError
from w2a_tui.trace._bt import load_bt2
from w2a_tui.trace.plan import COMMON_CONTEXT, PAYLOAD_SCOPE, ClassPlan, make_plan
from w2a_tui.trace.port import PortDecoder

Getter = Callable[[Any], Any]
# (scope, member index, getter or None, default) for one tuple position.
Reader = tuple[int, int, Getter | None, Any]


class _Native:
    """The SWIG functions and constants, bound once."""

    def __init__(self) -> None:
        load_bt2()
        # The compiled SWIG module itself: calling it skips one Python wrapper per call.
        n = importlib.import_module("bt2.native_bt")._native_bt
        self.utils = importlib.import_module("bt2.utils")
        self.get_range = n.bt2_self_component_port_input_get_msg_range
        # getattr: a dotted `__NAME` inside a class body would be name-mangled.
        self.status_ok = getattr(n, "__BT_FUNC_STATUS_OK")
        self.status_end = getattr(n, "__BT_FUNC_STATUS_END")
        self.status_again = getattr(n, "__BT_FUNC_STATUS_AGAIN")
        self.msg_type = n.message_get_type
        self.put = n.message_put_ref
        self.EVENT = n.MESSAGE_TYPE_EVENT
        self.PACKET_BEGINNING = n.MESSAGE_TYPE_PACKET_BEGINNING
        self.DISCARDED_EVENTS = n.MESSAGE_TYPE_DISCARDED_EVENTS
        self.STREAM_BEGINNING = n.MESSAGE_TYPE_STREAM_BEGINNING
        self.borrow_event = n.message_event_borrow_event_const
        self.borrow_class = n.event_borrow_class_const
        self.class_id = n.event_class_get_id
        self.class_name = n.event_class_get_name
        self.borrow_snapshot = n.message_event_borrow_default_clock_snapshot_const
        self.ns_from_origin = n.clock_snapshot_get_ns_from_origin
        self.borrow_payload = n.event_borrow_payload_field_const
        self.borrow_context = n.event_borrow_common_context_field_const
        self.member = n.field_structure_borrow_member_field_by_index_const
        self.member_by_name = n.field_structure_borrow_member_field_by_name_const
        self.get_signed = n.field_integer_signed_get_value
        self.get_unsigned = n.field_integer_unsigned_get_value
        self.get_string = n.field_string_get_value
        self.get_bool = n.field_bool_get_value
        self.stream_of_beginning = n.message_stream_beginning_borrow_stream_const
        self.stream_class = n.stream_borrow_class_const
        self.default_clock_class = n.stream_class_borrow_default_clock_class_const
        self.common_context_class = n.stream_class_borrow_event_common_context_field_class_const
        self.discarded_have_snapshots = n.stream_class_discarded_events_have_default_clock_snapshots
        self.packet_of_beginning = n.message_packet_beginning_borrow_packet_const
        self.packet_context = n.packet_borrow_context_field_const
        self.discarded_count = n.message_discarded_events_get_count
        self.discarded_begin = (
            n.message_discarded_events_borrow_beginning_default_clock_snapshot_const
        )
        self.discarded_end = n.message_discarded_events_borrow_end_default_clock_snapshot_const
        self.AVAILABLE = n.PROPERTY_AVAILABILITY_AVAILABLE
        self.payload_class = n.event_class_borrow_payload_field_class_const
        self.member_count = n.field_class_structure_get_member_count
        self.member_class_at = n.field_class_structure_borrow_member_by_index_const
        self.member_name = n.field_class_structure_member_get_name
        self.member_field_class = n.field_class_structure_member_borrow_field_class_const
        self.field_class_type = n.field_class_get_type
        self.type_is = n.field_class_type_is
        self.UNSIGNED = n.FIELD_CLASS_TYPE_UNSIGNED_INTEGER
        self.SIGNED = n.FIELD_CLASS_TYPE_SIGNED_INTEGER
        self.STRING = n.FIELD_CLASS_TYPE_STRING
        self.BOOL = n.FIELD_CLASS_TYPE_BOOL
        self.STRUCTURE = n.FIELD_CLASS_TYPE_STRUCTURE
        self.ARRAY = n.FIELD_CLASS_TYPE_ARRAY
        self.array_element_class = n.field_class_array_borrow_element_field_class_const
        self.value_range = n.field_class_integer_get_field_value_range
        self.array_length = n.field_array_get_length
        self.array_element = n.field_array_borrow_element_field_by_index_const

    def byte_text(self, array: Any) -> str:
        """A byte array (a `comm` written as uint8[16] without a text encoding) as text,
        like a CTF char array: up to the first NUL."""
        element, get = self.array_element, self.get_unsigned
        raw = bytes(get(element(array, i)) for i in range(self.array_length(array)))
        return raw.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")

    def _is_byte_array(self, kind: int, field_class: Any) -> bool:
        if not self.type_is(kind, self.ARRAY):
            return False
        element = self.array_element_class(field_class)
        element_kind = self.field_class_type(element)
        return bool(self.type_is(element_kind, self.UNSIGNED) and self.value_range(element) == 8)

    def members(self, struct_class: Any) -> list[tuple[str, Getter | None]]:
        """(name, value getter) of each member of a structure field class."""
        if struct_class is None or not self.type_is(
            self.field_class_type(struct_class), self.STRUCTURE
        ):
            return []
        result: list[tuple[str, Getter | None]] = []
        for i in range(self.member_count(struct_class)):
            member = self.member_class_at(struct_class, i)
            member_class = self.member_field_class(member)
            kind = self.field_class_type(member_class)
            getter: Getter | None
            if self.type_is(kind, self.UNSIGNED):
                getter = self.get_unsigned
            elif self.type_is(kind, self.SIGNED):
                getter = self.get_signed
            elif self.type_is(kind, self.STRING):
                getter = self.get_string
            elif self.type_is(kind, self.BOOL):
                getter = self.get_bool
            elif self._is_byte_array(kind, member_class):
                getter = self.byte_text
            else:
                getter = None  # arrays, reals, variants: not needed by the analysis
            result.append((self.member_name(member), getter))
        return result


_native: _Native | None = None


def native() -> _Native:
    global _native
    if _native is None:
        _native = _Native()
    return _native


class _ClassReaders:
    """A ClassPlan resolved to native getters."""

    __slots__ = ("cpu", "kind", "name", "needs_context", "plan", "readers")

    def __init__(
        self,
        plan: ClassPlan,
        payload_members: list[tuple[str, Getter | None]],
        context_members: list[tuple[str, Getter | None]],
    ) -> None:
        self.plan = plan
        self.name = plan.name
        self.kind = plan.kind

        def reader(where: tuple[int, int], default: Any) -> Reader:
            scope, index = where
            members = context_members if scope == COMMON_CONTEXT else payload_members
            getter = members[index][1] if scope >= 0 else None
            if getter is None:
                return (-1, -1, None, default)
            return (scope, index, getter, default)

        fields = [
            reader((PAYLOAD_SCOPE, i) if i >= 0 else (-1, -1), d)
            for i, d in zip(plan.payload, plan.defaults, strict=True)
        ]
        # Tuple positions 3.. in order: tid, pid, procname, payload fields.
        self.readers: tuple[Reader, ...] = (
            reader(plan.tid, -1),
            reader(plan.pid, -1),
            reader(plan.procname, ""),
            *fields,
        )
        self.cpu = reader((PAYLOAD_SCOPE, plan.cpu) if plan.cpu >= 0 else (-1, -1), -1)
        self.needs_context = any(r[0] == COMMON_CONTEXT for r in self.readers)


class NativePortDecoder(PortDecoder):
    def __init__(self, wanted: Collection[int] | None, counting: bool) -> None:
        super().__init__(wanted, counting)
        self._n = native()
        self._classes: dict[int, _ClassReaders] = {}
        self._context_members: list[tuple[str, Getter | None]] = []
        self._discarded_snapshots = False
        self._class_counts: dict[int, int] = {}
        self._packet_events = 0  # events of the current packet not yet added to cpu_counts

    # -- message ranges -------------------------------------------------------------

    def pull(self, iterator: Any, budget: int) -> None:
        n = self._n
        ptr = iterator._ptr
        seen = 0
        while seen < budget:
            status, msgs = n.get_range(ptr)
            if status == n.status_end:
                self.done = True
                break
            if status == n.status_again:
                continue
            if status != n.status_ok:
                n.utils._handle_func_status(status, "cannot read the next messages")
                raise BadTraceError("babeltrace2 stopped with an unknown status.")
            try:
                seen += self._count(msgs) if self.counting else self._decode(msgs)
            finally:
                deque(map(n.put, msgs), maxlen=0)
        if self.counting:
            self._flush_cpu_count()

    def _decode(self, msgs: list[Any]) -> int:
        n = self._n
        EVENT = n.EVENT
        msg_type, borrow_event, borrow_class, class_id = (
            n.msg_type,
            n.borrow_event,
            n.borrow_class,
            n.class_id,
        )
        snapshot, ns_from_origin = n.borrow_snapshot, n.ns_from_origin
        payload_of, context_of, member = n.borrow_payload, n.borrow_context, n.member
        classes = self._classes
        out = self.out
        cpu = self.cpu
        seen = 0
        last_event = None
        for m in msgs:
            if msg_type(m) != EVENT:
                self._other(m)
                cpu = self.cpu
                continue
            seen += 1
            last_event = m
            event = borrow_event(m)
            key = class_id(borrow_class(event))
            readers = classes.get(key) or self._readers(event, key)
            if readers.kind < 0 or not readers.plan.wanted:
                continue
            ts = ns_from_origin(snapshot(m))[1]
            payload = payload_of(event)
            context = context_of(event) if readers.needs_context else None
            values = [
                (getter(member(payload if scope else context, index)) if getter else default)
                for scope, index, getter, default in readers.readers
            ]
            event_cpu = cpu
            if cpu < 0 and readers.cpu[2] is not None:
                event_cpu = readers.cpu[2](member(payload, readers.cpu[1]))
            out.append((ts, event_cpu, readers.kind, *values))
        self._account(seen, msgs, last_event)
        return seen

    def _count(self, msgs: list[Any]) -> int:
        n = self._n
        EVENT = n.EVENT
        msg_type, borrow_event, borrow_class, class_id = (
            n.msg_type,
            n.borrow_event,
            n.borrow_class,
            n.class_id,
        )
        counts = self._class_counts
        seen = 0
        last_event = None
        per_event_cpu = self.cpu < 0
        for m in msgs:
            if msg_type(m) != EVENT:
                self._other(m)
                per_event_cpu = self.cpu < 0
                continue
            seen += 1
            self._packet_events += 1
            last_event = m
            event = borrow_event(m)
            key = class_id(borrow_class(event))
            count = counts.get(key)
            if count is None:
                if key not in self._classes:
                    self._readers(event, key)
                counts[key] = 1
            else:
                counts[key] = count + 1
            if per_event_cpu:
                self._count_event_cpu(event, key)
        self._account(seen, msgs, last_event)
        return seen

    def _count_event_cpu(self, event: Any, key: int) -> None:
        """perf traces: the CPU is a payload field of each event, not of the packet."""
        readers = self._classes.get(key) or self._readers(event, key)
        _, index, getter, _ = readers.cpu
        cpu = getter(self._n.member(self._n.borrow_payload(event), index)) if getter else -1
        self._packet_events -= 1
        self.cpu_counts[cpu] = self.cpu_counts.get(cpu, 0) + 1
        if cpu >= 0:
            self.cpus.add(cpu)

    def _account(self, seen: int, msgs: list[Any], last_event: Any) -> None:
        """Event total and first/last timestamps, from one clock read per message range."""
        if last_event is None:
            return
        n = self._n
        self.events += seen
        self.last_ts = n.ns_from_origin(n.borrow_snapshot(last_event))[1]
        if self.first_ts < 0:
            first = next(m for m in msgs if n.msg_type(m) == n.EVENT)
            self.first_ts = n.ns_from_origin(n.borrow_snapshot(first))[1]

    # -- non-event messages ---------------------------------------------------------

    def _other(self, m: Any) -> None:
        n = self._n
        kind = n.msg_type(m)
        if kind == n.PACKET_BEGINNING:
            self._flush_cpu_count()
            context = n.packet_context(n.packet_of_beginning(m))
            field = n.member_by_name(context, "cpu_id") if context is not None else None
            self.set_cpu(n.get_unsigned(field) if field is not None else -1)
        elif kind == n.DISCARDED_EVENTS:
            available, count = n.discarded_count(m)
            if available != n.AVAILABLE:
                count = 0
            if self._discarded_snapshots:
                begin = n.ns_from_origin(n.discarded_begin(m))[1]
                end = n.ns_from_origin(n.discarded_end(m))[1]
            else:
                begin = end = -1
            self.lost_tuple(count, begin, end)
        elif kind == n.STREAM_BEGINNING:
            stream_class = n.stream_class(n.stream_of_beginning(m))
            if n.default_clock_class(stream_class) is None:
                raise BadTraceError(
                    "a stream of this trace has no clock, so its events cannot be ordered "
                    "in time; W2A needs a timestamped kernel trace."
                )
            self._context_members = n.members(n.common_context_class(stream_class))
            self._discarded_snapshots = bool(n.discarded_have_snapshots(stream_class))

    def _flush_cpu_count(self) -> None:
        if self._packet_events:
            self.cpu_counts[self.cpu] = self.cpu_counts.get(self.cpu, 0) + self._packet_events
            self._packet_events = 0

    # -- per-class plans ------------------------------------------------------------

    def _readers(self, event: Any, key: int) -> _ClassReaders:
        n = self._n
        event_class = n.borrow_class(event)
        payload_members = n.members(n.payload_class(event_class))
        plan = make_plan(
            n.class_name(event_class),
            [name for name, _ in payload_members],
            [name for name, _ in self._context_members],
            self.wanted,
        )
        readers = _ClassReaders(plan, payload_members, self._context_members)
        self._classes[key] = readers
        return readers

    def finish(self) -> None:
        """Turn per-class counts into per-name counts (count mode)."""
        for key, count in self._class_counts.items():
            name = self._classes[key].name if key in self._classes else str(key)
            self.name_counts[name] = self.name_counts.get(name, 0) + count
