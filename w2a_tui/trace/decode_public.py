"""The reference decoder: babeltrace2's public Python API only.

Slow (tens of thousands of events/s) but obviously right; the tests check the native
decoder against it on every real trace, and `W2A_READER=public` selects it at run time.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from w2a_tui.trace._bt import load_bt2
from w2a_tui.trace.plan import COMMON_CONTEXT, PAYLOAD_SCOPE, ClassPlan, make_plan
from w2a_tui.trace.port import PortDecoder


class PublicPortDecoder(PortDecoder):
    def __init__(self, wanted: Collection[int] | None, counting: bool) -> None:
        super().__init__(wanted, counting)
        self._plans: dict[tuple[int, int], ClassPlan] = {}
        bt2 = load_bt2()
        self._event_type = bt2._EventMessageConst
        self._packet_type = bt2._PacketBeginningMessageConst
        self._discarded_type = bt2._DiscardedEventsMessageConst

    def pull(self, iterator: Any, budget: int) -> None:
        seen = 0
        while seen < budget:
            try:
                msg = next(iterator)
            except StopIteration:
                self.done = True
                return
            if type(msg) is self._event_type:
                seen += 1
                self._on_event(msg)
            elif type(msg) is self._packet_type:
                context = msg.packet.context_field
                cpu = context.get("cpu_id") if context is not None else None
                self.set_cpu(int(cpu) if cpu is not None else -1)
            elif type(msg) is self._discarded_type:
                stream_class = msg.stream.cls
                if stream_class.discarded_events_have_default_clock_snapshots:
                    begin = msg.beginning_default_clock_snapshot.ns_from_origin
                    end = msg.end_default_clock_snapshot.ns_from_origin
                else:
                    begin = end = -1
                self.lost_tuple(msg.count or 0, begin, end)

    def _on_event(self, msg: Any) -> None:
        event = msg.event
        ts = msg.default_clock_snapshot.ns_from_origin
        self.events += 1
        if self.first_ts < 0:
            self.first_ts = ts
        self.last_ts = ts
        event_class = event.cls
        key = (event_class.stream_class.id, event_class.id)
        plan = self._plans.get(key)
        if plan is None:
            payload = event.payload_field
            context = event.common_context_field
            plan = make_plan(
                event.name,
                list(payload.keys()) if payload is not None else [],
                list(context.keys()) if context is not None else [],
                self.wanted,
            )
            self._plans[key] = plan
        payload_values = list(event.payload_field.values()) if plan.cpu >= 0 or plan.payload else []
        cpu = int(payload_values[plan.cpu]) if plan.cpu >= 0 and self.cpu < 0 else self.cpu
        if self.counting:
            self.name_counts[plan.name] = self.name_counts.get(plan.name, 0) + 1
            self.cpu_counts[cpu] = self.cpu_counts.get(cpu, 0) + 1
            if cpu >= 0:
                self.cpus.add(cpu)
            return
        if not plan.wanted:
            return
        context_values = (
            list(event.common_context_field.values())
            if event.common_context_field is not None
            else []
        )
        scopes = {COMMON_CONTEXT: context_values, PAYLOAD_SCOPE: payload_values}

        def value(where: tuple[int, int], default: int | str) -> Any:
            scope, index = where
            return _plain(scopes[scope][index]) if scope >= 0 else default

        fields = [
            _plain(payload_values[i]) if i >= 0 else d
            for i, d in zip(plan.payload, plan.defaults, strict=True)
        ]
        self.out.append(
            (
                ts,
                cpu,
                plan.kind,
                value(plan.tid, -1),
                value(plan.pid, -1),
                value(plan.procname, ""),
                *fields,
            )
        )


def _plain(field: Any) -> int | str:
    """An int or str from a bt2 field object (strings stay strings, numbers become int)."""
    if isinstance(field, str):
        return field
    if _is_byte_array(field):
        # A comm written as uint8[16] without a text encoding: text up to the first NUL,
        # as a CTF char array would decode.
        raw = bytes(int(element) for element in field)
        return raw.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
    try:
        return int(field)
    except TypeError:
        return str(field)


def _is_byte_array(field: Any) -> bool:
    bt2 = load_bt2()
    if not isinstance(field, bt2._ArrayFieldConst):
        return False
    element = field.cls.element_field_class
    return (
        isinstance(element, bt2._UnsignedIntegerFieldClassConst) and element.field_value_range == 8
    )
