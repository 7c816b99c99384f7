"""Small KVM-host-like CTF traces written by babeltrace2's own writer (`sink.ctf.fs`).

The traces the analysis is judged on may come from a simulator we never saw, writing CTF
through babeltrace2 rather than like lttng-modules. This module builds such traces in
several layouts (packet contexts with or without `cpu_id`, common contexts or none, clocks
at 1 GHz or not, discarded events, integer widths, strings or byte arrays for `comm`,
enumerations) so that the reader tests can check that the fast decoder reads them exactly
like babeltrace2, or declines them.

A `Layout` says how to write; `write_trace(path, layout)` writes the same deterministic
event sequence (a few hundred events on a few CPUs) in that layout.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bt2


@dataclass(frozen=True)
class Layout:
    """How the trace is written. Defaults: the LTTng way (cpu_id in packets, pid/tid/procname
    common context, 1 GHz clock)."""

    cpus: int = 3
    events: int = 300  # events in total, all streams together
    seed: int = 1
    cpu_id: bool = True  # packet context member `cpu_id` (else: no CPU anywhere)
    stream_names: bool = True  # streams named channel0_<cpu> (the file names follow)
    single_stream: bool = False  # every event in one stream (no per-CPU streams)
    common_context: bool = True  # pid/tid/procname event common context
    frequency: int = 1_000_000_000
    offset_s: int = 1_600_000_000
    offset_cycles: int = 12_345
    origin_is_unix_epoch: bool = True
    discarded: bool = False  # the stream class supports discarded events (with clock)
    discarded_packets: bool = False  # ... and discarded packets (packet sequence numbers)
    events_per_packet: int = 40
    comm_as_array: bool = False  # comm fields as uint8[16] instead of strings
    # Odd widths: 5-bit vcpu_id, 13-bit exit_reason, signed 20-bit tids... (sink.ctf.fs
    # 2.0.4 aborts on signed 24/48-bit integers, so none of those).
    narrow_ints: bool = False
    enums: bool = False  # exit_reason and prev_state as enumerations
    # Fields the analysis does not read: real, bool, dynamic array (sink.ctf.fs 2.0.4
    # fails on variants).
    extra_fields: bool = False
    big_packet_context: bool = False  # extra packet context members before/after cpu_id
    ticks_per_event: int = 997  # average clock cycles between events
    extra: dict[str, Any] = field(default_factory=dict)


COMMS = ("qemu-system-x86", "CPU 0/KVM", "CPU 1/KVM", "swapper/1", "kworker/u8:2", "vhost-4242")


def _event_sequence(
    layout: Layout,
) -> list[tuple[int, int, str, dict[str, Any], tuple[int, int, str]]]:
    """(cycles, cpu, event name, payload, (pid, tid, procname)) in time order."""
    rng = random.Random(layout.seed)
    names = (
        "kvm_x86_entry",
        "kvm_x86_exit",
        "kvm_x86_inj_virq",
        "kvm_x86_apic_accept_irq",
        "sched_switch",
        "sched_waking",
        "lttng_statedump_process_state",
        "timer_hrtimer_expire_entry",
        "timer_hrtimer_expire_exit",
        "irq_handler_entry",
        "syscall_entry_ioctl",  # unknown to the analysis: decoded only to be skipped
    )
    out = []
    cycles = 1_000
    for _ in range(layout.events):
        cycles += rng.randint(1, 2 * layout.ticks_per_event)
        cpu = rng.randrange(layout.cpus)
        name = rng.choice(names)
        tid = rng.choice((4242, 4243, 4244, 0, 77))
        comm = rng.choice(COMMS)
        payload: dict[str, Any] = {
            "vcpu_id": rng.randrange(4),
            "exit_reason": rng.choice((1, 12, 30, 32, 48)),
            "guest_rip": rng.getrandbits(64),
            "isa": 1,
            "info1": rng.getrandbits(64),
            "info2": rng.getrandbits(32),
            "irq": rng.randrange(256),
            "soft": rng.randrange(2),
            "apicid": rng.randrange(8),
            "vec": rng.randrange(256),
            "dm": rng.randrange(8),
            "tm": rng.randrange(2),
            "prev_comm": comm,
            "prev_tid": tid,
            "prev_prio": 120,
            "prev_state": rng.choice((0, 1, 2, 1024)),
            "next_comm": rng.choice(COMMS),
            "next_tid": rng.choice((4242, 0, 77)),
            "next_prio": -rng.randrange(100),
            "comm": comm,
            "tid": tid,
            "prio": 120,
            "target_cpu": rng.randrange(layout.cpus),
            "pid": 4242,
            "ppid": 1,
            "name": comm,
            "type": 0,
            "mode": 5,
            "submode": 0,
            "status": rng.choice((2, 5)),
            "ns_level": 0,
            "cpu": rng.randrange(layout.cpus),
            "hrtimer": rng.getrandbits(64),
            "now": rng.getrandbits(63),
            "function": rng.getrandbits(64),
            "fd": rng.randrange(64),
            "cmd": rng.getrandbits(32),
            "arg": rng.getrandbits(64),
            "ratio": rng.random(),
            "flag": rng.random() < 0.5,
            "tags": [rng.randrange(1 << 16) for _ in range(3)],
            "choice": rng.randrange(2),
        }
        out.append((cycles, cpu, name, payload, (4242, tid, comm)))
    return out


class _Spec:
    """Field classes and event classes for one layout, built inside the source component."""

    def __init__(self, component: Any, layout: Layout) -> None:
        self.layout = layout
        tc = component._create_trace_class()
        self.trace_class = tc
        self.clock = component._create_clock_class(
            frequency=layout.frequency,
            name="monotonic",
            offset=bt2.ClockClassOffset(layout.offset_s, layout.offset_cycles),
            origin_is_unix_epoch=layout.origin_is_unix_epoch,
        )
        packet_context = None
        members: list[tuple[str, Any]] = []
        if layout.big_packet_context:
            members.append(("flags", tc.create_unsigned_integer_field_class(3)))
        if layout.cpu_id:
            members.append(("cpu_id", tc.create_unsigned_integer_field_class(32)))
        if layout.big_packet_context:
            members.append(("label", tc.create_string_field_class()))
            members.append(("pad", tc.create_signed_integer_field_class(64)))
        if members:
            packet_context = tc.create_structure_field_class()
            for name, fc in members:
                packet_context.append_member(name, fc)
        common = None
        if layout.common_context:
            common = tc.create_structure_field_class()
            common.append_member("pid", tc.create_signed_integer_field_class(32))
            common.append_member("tid", tc.create_signed_integer_field_class(32))
            common.append_member("procname", self._comm())
        self.stream_class = tc.create_stream_class(
            default_clock_class=self.clock,
            supports_packets=True,
            packets_have_beginning_default_clock_snapshot=True,
            packets_have_end_default_clock_snapshot=True,
            supports_discarded_events=layout.discarded,
            discarded_events_have_default_clock_snapshots=layout.discarded,
            supports_discarded_packets=layout.discarded_packets,
            discarded_packets_have_default_clock_snapshots=layout.discarded_packets,
            packet_context_field_class=packet_context,
            event_common_context_field_class=common,
        )
        self.event_classes: dict[str, Any] = {}
        self.fields: dict[str, list[str]] = {}
        for name, fields in self._payloads().items():
            payload = tc.create_structure_field_class()
            for member, fc in fields:
                payload.append_member(member, fc)
            self.event_classes[name] = self.stream_class.create_event_class(
                name=name, payload_field_class=payload
            )
            self.fields[name] = [m for m, _ in fields]

    def _u(self, bits: int) -> Any:
        return self.trace_class.create_unsigned_integer_field_class(bits)

    def _s(self, bits: int) -> Any:
        return self.trace_class.create_signed_integer_field_class(bits)

    def _comm(self) -> Any:
        tc = self.trace_class
        if self.layout.comm_as_array:
            return tc.create_static_array_field_class(self._u(8), 16)
        return tc.create_string_field_class()

    def _payloads(self) -> dict[str, list[tuple[str, Any]]]:
        narrow = self.layout.narrow_ints
        u, s, tc = self._u, self._s, self.trace_class
        exit_reason: Any = u(13 if narrow else 32)
        prev_state: Any = s(64)
        if self.layout.enums:
            exit_reason = tc.create_unsigned_enumeration_field_class(32)
            for label, value in (("EXTERNAL_INTERRUPT", 1), ("HLT", 12), ("IO", 30), ("MSR", 32)):
                exit_reason.add_mapping(label, bt2.UnsignedIntegerRangeSet([value]))
            exit_reason.add_mapping("EPT", bt2.UnsignedIntegerRangeSet([(40, 49)]))
            prev_state = tc.create_signed_enumeration_field_class(64)
            prev_state.add_mapping("R", bt2.SignedIntegerRangeSet([0]))
            prev_state.add_mapping("S", bt2.SignedIntegerRangeSet([1]))
            prev_state.add_mapping("D", bt2.SignedIntegerRangeSet([2]))
        payloads: dict[str, list[tuple[str, Any]]] = {
            "kvm_x86_entry": [("vcpu_id", u(5) if narrow else u(32))],
            "kvm_x86_exit": [
                ("exit_reason", exit_reason),
                ("guest_rip", u(64)),
                ("isa", u(3) if narrow else u(32)),
                ("info1", u(64)),
                ("info2", u(33) if narrow else u(64)),
                ("vcpu_id", u(5) if narrow else u(32)),
            ],
            "kvm_x86_inj_virq": [
                ("irq", u(9) if narrow else u(32)),
                ("soft", u(1) if narrow else u(8)),
            ],
            "kvm_x86_apic_accept_irq": [
                ("apicid", u(32)),
                ("dm", u(3) if narrow else u(16)),
                ("tm", u(1) if narrow else u(8)),
                ("vec", u(8)),
            ],
            "sched_switch": [
                ("prev_comm", self._comm()),
                ("prev_tid", s(20) if narrow else s(32)),
                ("prev_prio", s(32)),
                ("prev_state", prev_state),
                ("next_comm", self._comm()),
                ("next_tid", s(20) if narrow else s(32)),
                ("next_prio", s(7) if narrow else s(32)),
            ],
            "sched_waking": [
                ("comm", self._comm()),
                ("tid", s(32)),
                ("prio", s(32)),
                ("target_cpu", s(32)),
            ],
            "lttng_statedump_process_state": [
                ("tid", s(32)),
                ("pid", s(32)),
                ("ppid", s(32)),
                ("name", self._comm()),
                ("type", s(32)),
                ("mode", s(32)),
                ("submode", s(32)),
                ("status", s(32)),
                ("ns_level", u(32)),
                ("cpu", s(32)),
            ],
            "timer_hrtimer_expire_entry": [
                ("hrtimer", u(64)),
                ("now", s(64)),
                ("function", u(64)),
            ],
            "timer_hrtimer_expire_exit": [("hrtimer", u(64))],
            "irq_handler_entry": [("irq", s(32)), ("name", tc.create_string_field_class())],
            "syscall_entry_ioctl": [("fd", u(32)), ("cmd", u(32)), ("arg", u(64))],
        }
        if self.layout.extra_fields:
            payloads["syscall_entry_ioctl"] += self._extra_fields()
            payloads["kvm_x86_entry"] += self._extra_fields()
        return payloads

    def _extra_fields(self) -> list[tuple[str, Any]]:
        tc = self.trace_class
        tags_length = self._u(8)
        return [
            ("ratio", tc.create_double_precision_real_field_class()),
            ("flag", tc.create_bool_field_class()),
            ("ntags", tags_length),
            ("tags", tc.create_dynamic_array_field_class(self._u(16), tags_length)),
        ]


def _set_payload(event: Any, names: list[str], values: dict[str, Any], comm_array: bool) -> None:
    payload = event.payload_field
    for name in names:
        value: Any = values.get(name)
        member = payload[name]
        if (
            name in ("prev_comm", "next_comm", "comm", "name")
            and comm_array
            and not isinstance(member, bt2._StringField)
        ):
            raw = value.encode()[:15].ljust(16, b"\x00")
            member.value = list(raw)
        elif name == "ntags":
            member.value = len(values["tags"])
        elif name == "tags":
            member.length = len(value)
            member.value = value
        elif name in ("vcpu_id",) and isinstance(value, int):
            member.value = value & ((1 << member.cls.field_value_range) - 1)
        else:
            if isinstance(member, bt2._IntegerField):
                bits = member.cls.field_value_range
                if isinstance(member, bt2._SignedIntegerField):
                    value = max(min(value, (1 << (bits - 1)) - 1), -(1 << (bits - 1)))
                else:
                    value &= (1 << bits) - 1
            member.value = value


# bt2 has no type information: its classes are Any to mypy.
class _Iterator(bt2._UserMessageIterator):  # type: ignore[misc]
    def __init__(self, config: Any, port: Any) -> None:
        spec, layout = port.user_data
        self._messages = _messages(self, spec, layout)

    def __next__(self) -> Any:
        return next(self._messages)


class _Source(bt2._UserSourceComponent, message_iterator_class=_Iterator):  # type: ignore[misc, call-arg]
    def __init__(self, config: Any, params: Any, layout: Any) -> None:
        self._add_output_port("out", (_Spec(self, layout), layout))


def _messages(it: Any, spec: _Spec, layout: Layout) -> Any:
    """Every message of the trace, in time order across streams.

    Packets are planned first: a discarded-events message must span from the previous
    packet's end to the next packet's end, which `sink.ctf.fs` checks."""
    trace = spec.trace_class()
    nstreams = 1 if layout.single_stream else layout.cpus
    streams = []
    for index in range(nstreams):
        name = f"channel0_{index}" if layout.stream_names else None
        streams.append(trace.create_stream(spec.stream_class, name=name))
    events = _event_sequence(layout)
    start, final = events[0][0] - 10, events[-1][0] + 1
    per_stream: list[list[Any]] = [[] for _ in range(nstreams)]
    for event in events:
        per_stream[0 if layout.single_stream else event[1]].append(event)
    # (time, rank, stream, what, data): at equal times, packet ends come first, then
    # discarded events/packets, then packet beginnings, then events.
    items: list[tuple[int, int, int, str, Any]] = []
    for index, stream_events in enumerate(per_stream):
        chunks = [
            stream_events[i : i + layout.events_per_packet]
            for i in range(0, len(stream_events), layout.events_per_packet)
        ] or [[]]
        begin = start
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            end = final if last else chunks[number + 1][0][0] - 1
            if number and layout.discarded and number % 2 == 0:
                items.append((begin, 1, index, "lost", (3 * number, begin, end)))
            if number and layout.discarded_packets and number % 3 == 0:
                items.append((begin, 1, index, "lost_packets", (2, begin, begin)))
            items.append((begin, 2, index, "begin", (number, end)))
            items.extend((e[0], 3, index, "event", e) for e in chunk)
            items.append((end, 0, index, "end", None))
            begin = end
    items.sort(key=lambda item: item[:3])
    packets: list[Any] = [None] * nstreams
    for stream in streams:
        yield it._create_stream_beginning_message(stream)
    for at, _, index, what, data in items:
        if what == "begin":
            packet = streams[index].create_packet()
            context = packet.context_field
            if context is not None:
                if layout.cpu_id:
                    context["cpu_id"] = index
                if layout.big_packet_context:
                    context["flags"] = 5
                    context["label"] = f"stream {index}"
                    context["pad"] = -index
            packets[index] = packet
            yield it._create_packet_beginning_message(packet, at)
        elif what == "end":
            yield it._create_packet_end_message(packets[index], at)
        elif what == "lost":
            count, begin, end = data
            yield it._create_discarded_events_message(streams[index], count, begin, end)
        elif what == "lost_packets":
            count, begin, end = data
            yield it._create_discarded_packets_message(streams[index], count, begin, end)
        else:
            yield _event_message(it, spec, layout, packets[index], data)
    for stream in streams:
        yield it._create_stream_end_message(stream)


def _event_message(it: Any, spec: _Spec, layout: Layout, packet: Any, data: Any) -> Any:
    cycles, _, name, values, (pid, tid, comm) = data
    message = it._create_event_message(spec.event_classes[name], packet, cycles)
    event = message.event
    if layout.common_context:
        context = event.common_context_field
        context["pid"] = pid
        context["tid"] = tid
        if layout.comm_as_array:
            context["procname"] = list(comm.encode()[:15].ljust(16, b"\x00"))
        else:
            context["procname"] = comm
    _set_payload(event, spec.fields[name], values, layout.comm_as_array)
    return message


def write_trace(path: Path, layout: Layout) -> Path:
    """Write the layout's trace into directory `path` (created) through `sink.ctf.fs`."""
    graph = bt2.Graph()
    source = graph.add_component(_Source, "source", obj=layout)
    sink_class = bt2.find_plugin("ctf").sink_component_classes["fs"]
    sink = graph.add_component(
        sink_class,
        "sink",
        params={"path": str(path), "assume-single-trace": True, "quiet": True},
        logging_level=bt2.LoggingLevel.WARNING,
    )
    graph.connect_ports(source.output_ports["out"], sink.input_ports["in"])
    graph.run()
    return path
