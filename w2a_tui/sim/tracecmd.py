"""Write a simulated trace as trace-cmd's `trace.dat` (file format 6), the ftrace twin of its CTF.

The twin holds exactly the events of the CTF trace, as a trace-cmd recording of the same
host would: the CTF is read back (our reader), and every event becomes the ftrace record
of the same tracepoint with the kernel's own names and layouts (`sched_switch.prev_pid`,
`softirq_entry`, `kvm_exit` with or without `vcpu_id`, `kvm_inj_virq` with `irq` or
`vector`), in per-CPU ring-buffer pages of 4 KiB with time deltas, time extends and
lost-event counts where the CTF packets discarded events. What ftrace has no room for is
left out as on a real host: LTTng's statedump and the pid (tgid) context; `common_pid`
is the thread id. Raw timestamps count from boot; an OFFSET option shifts them to the
CTF's clock origin, so `trace-cmd report` and w2a-tui print the CTF's own times.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from w2a_tui.errors import W2AError
from w2a_tui.events import P0, Event, EventKind
from w2a_tui.sim.generate import Summary
from w2a_tui.sim.scenarios import Scenario
from w2a_tui.trace.source import open_trace

PAGE_SIZE: Final = 4096
_PAGE_HEADER: Final = 16
_MISSING_EVENTS: Final = 1 << 31
_MISSING_STORED: Final = 1 << 30
_DELTA_LIMIT: Final = 1 << 27
_TIME_EXTEND: Final = 30

_HEADER_PAGE: Final = (
    "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
    "\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
    "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
    f"\tfield: char data;\toffset:16;\tsize:{PAGE_SIZE - _PAGE_HEADER};\tsigned:0;\n"
)
_HEADER_EVENT: Final = (
    "# compressed entry header\n"
    "\ttype_len    :    5 bits\n"
    "\ttime_delta  :   27 bits\n"
    "\tarray       :   32 bits\n\n"
    "\tpadding     : type == 29\n"
    "\ttime_extend : type == 30\n"
    "\ttime_stamp : type == 31\n"
    "\tdata max type_len  == 28\n"
)

# A field: (name, C type, size, signed, source). Source: a payload slot of the event tuple
# (int), or a constant (str starting with "=": "=120"), or "ts" (the event's time).
FieldSpec = tuple[str, str, int, bool, int | str]
_STR: Final = -1  # size of a __data_loc string field (4 bytes in the record)

_WAKE: Final[tuple[FieldSpec, ...]] = (
    ("comm", "char comm[16]", 16, False, 0),
    ("pid", "pid_t", 4, True, 1),
    ("prio", "int", 4, True, "=120"),
    ("target_cpu", "int", 4, True, 2),
)


@dataclass(frozen=True, slots=True)
class FtraceEvent:
    system: str
    name: str
    fields: tuple[FieldSpec, ...]
    print_fmt: str


def _event(system: str, name: str, fields: tuple[FieldSpec, ...]) -> FtraceEvent:
    parts, args = [], []
    for field_name, ctype, size, _signed, _source in fields:
        if size == _STR:
            parts.append(f"{field_name}=%s")
            args.append(f"__get_str({field_name})")
        elif ctype.startswith("char "):
            parts.append(f"{field_name}=%s")
            args.append(f"REC->{field_name}")
        elif ctype in ("void *", "unsigned long"):
            parts.append(f"{field_name}=0x%lx")
            args.append(f"(unsigned long)REC->{field_name}")
        else:
            parts.append(f"{field_name}=%lld")
            args.append(f"(long long)REC->{field_name}")
    fmt = '"' + " ".join(parts) + '"' + "".join(f", {a}" for a in args)
    return FtraceEvent(system, name, fields, fmt)


def ftrace_events(kernel: str) -> dict[int, FtraceEvent]:
    """The ftrace events of a simulated kernel generation (`new`, `old`, `6.8`)."""
    exit_fields: tuple[FieldSpec, ...] = (
        ("exit_reason", "unsigned int", 4, False, 0),
        ("guest_rip", "unsigned long", 8, False, "=0"),
        ("isa", "u32", 4, False, 1),
        ("info1", "u64", 8, False, "=0"),
        ("info2", "u64", 8, False, "=0"),
    )
    if kernel != "old":
        exit_fields += (
            ("intr_info", "u32", 4, False, "=0"),
            ("error_code", "u32", 4, False, "=0"),
            ("vcpu_id", "unsigned int", 4, False, 2),
        )
    entry_fields: tuple[FieldSpec, ...] = (("vcpu_id", "unsigned int", 4, False, 0),)
    if kernel != "old":
        entry_fields += (("rip", "unsigned long", 8, False, "=0"),)
    inj: tuple[FieldSpec, ...] = (("irq", "unsigned int", 4, False, 0),)
    if kernel == "6.8":
        inj = (
            ("vector", "u32", 4, False, 0),
            ("soft", "bool", 1, False, 1),
            ("reinjected", "bool", 1, False, "=0"),
        )
    comm16 = "char {}[16]"
    events = {
        EventKind.SCHED_SWITCH: _event(
            "sched",
            "sched_switch",
            (
                ("prev_comm", comm16.format("prev_comm"), 16, False, 0),
                ("prev_pid", "pid_t", 4, True, 1),
                ("prev_prio", "int", 4, True, "=120"),
                ("prev_state", "long", 8, True, 2),
                ("next_comm", comm16.format("next_comm"), 16, False, 3),
                ("next_pid", "pid_t", 4, True, 4),
                ("next_prio", "int", 4, True, "=120"),
            ),
        ),
        EventKind.SCHED_WAKING: _event("sched", "sched_waking", _WAKE),
        EventKind.SCHED_WAKEUP: _event("sched", "sched_wakeup", _WAKE),
        EventKind.SCHED_WAKEUP_NEW: _event("sched", "sched_wakeup_new", _WAKE),
        EventKind.SCHED_PROCESS_FORK: _event(
            "sched",
            "sched_process_fork",
            (
                ("parent_comm", comm16.format("parent_comm"), 16, False, 0),
                ("parent_pid", "pid_t", 4, True, 1),
                ("child_comm", comm16.format("child_comm"), 16, False, 3),
                ("child_pid", "pid_t", 4, True, 4),
            ),
        ),
        EventKind.SCHED_PROCESS_EXEC: _event(
            "sched",
            "sched_process_exec",
            (
                ("filename", "__data_loc char[]", _STR, False, 0),
                ("pid", "pid_t", 4, True, 1),
                ("old_pid", "pid_t", 4, True, 1),
            ),
        ),
        EventKind.SCHED_PROCESS_EXIT: _event(
            "sched",
            "sched_process_exit",
            (
                ("comm", comm16.format("comm"), 16, False, 0),
                ("pid", "pid_t", 4, True, 1),
                ("prio", "int", 4, True, "=120"),
            ),
        ),
        EventKind.IRQ_HANDLER_ENTRY: _event(
            "irq",
            "irq_handler_entry",
            (("irq", "int", 4, True, 0), ("name", "__data_loc char[]", _STR, False, 1)),
        ),
        EventKind.IRQ_HANDLER_EXIT: _event(
            "irq", "irq_handler_exit", (("irq", "int", 4, True, 0), ("ret", "int", 4, True, "=1"))
        ),
        EventKind.SOFTIRQ_ENTRY: _event(
            "irq", "softirq_entry", (("vec", "unsigned int", 4, False, 0),)
        ),
        EventKind.SOFTIRQ_EXIT: _event(
            "irq", "softirq_exit", (("vec", "unsigned int", 4, False, 0),)
        ),
        EventKind.HRTIMER_EXPIRE_ENTRY: _event(
            "timer",
            "hrtimer_expire_entry",
            (
                ("hrtimer", "void *", 8, False, 0),
                ("now", "s64", 8, True, "ts"),
                ("function", "void *", 8, False, 1),
            ),
        ),
        EventKind.HRTIMER_EXPIRE_EXIT: _event(
            "timer", "hrtimer_expire_exit", (("hrtimer", "void *", 8, False, 0),)
        ),
        EventKind.KVM_ENTRY: _event("kvm", "kvm_entry", entry_fields),
        EventKind.KVM_EXIT: _event("kvm", "kvm_exit", exit_fields),
        EventKind.KVM_INJ_VIRQ: _event("kvm", "kvm_inj_virq", inj),
        EventKind.KVM_APIC_ACCEPT_IRQ: _event(
            "kvm",
            "kvm_apic_accept_irq",
            (
                ("apicid", "__u32", 4, False, 0),
                ("dm", "__u16", 2, False, 2),
                ("tm", "__u16", 2, False, 3),
                ("vec", "__u8", 1, False, 1),
            ),
        ),
        EventKind.KVM_USERSPACE_EXIT: _event(
            "kvm",
            "kvm_userspace_exit",
            (("reason", "__u32", 4, False, 0), ("errno", "int", 4, True, "=0")),
        ),
    }
    return {int(kind): event for kind, event in events.items()}


@dataclass(slots=True)
class _Layout:
    """An event's id, format file text and record packer."""

    event_id: int
    event: FtraceEvent
    fixed: struct.Struct  # common header + fixed fields (data_loc as u32)
    format_text: str


def _layout(event_id: int, event: FtraceEvent) -> _Layout:
    lines = [
        "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;",
        "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;",
        "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;",
        "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;",
        "",
    ]
    code = "<HBBi"
    pos = 8
    for name, ctype, size, signed, _source in event.fields:
        real = 4 if size == _STR else size
        align = 1 if ctype.startswith("char ") else min(real, 8)
        if pos % align:
            code += f"{align - pos % align}x"
            pos += align - pos % align
        declaration = ctype if ctype.startswith("char ") else f"{ctype} {name}"
        lines.append(f"\tfield:{declaration};\toffset:{pos};\tsize:{real};\tsigned:{int(signed)};")
        if size == _STR:
            code += "I"
        elif ctype.startswith("char "):
            code += f"{size}s"
        else:
            letter = {1: "b", 2: "h", 4: "i", 8: "q"}[size]
            code += letter if signed else letter.upper()
        pos += real
    text = (
        f"name: {event.name}\nID: {event_id}\nformat:\n"
        + "\n".join(lines)
        + f"\n\nprint fmt: {event.print_fmt}\n"
    )
    return _Layout(event_id, event, struct.Struct(code), text)


def _number(value: Any, size: int, signed: bool) -> int:
    number = int(value) if isinstance(value, int) else 0
    bits = size * 8
    number &= (1 << bits) - 1
    if signed and number >= 1 << (bits - 1):
        number -= 1 << bits
    return number


class _CpuPages:
    """One CPU's ring-buffer pages being filled."""

    def __init__(self) -> None:
        self.pages: list[bytes] = []
        self.data = bytearray()
        self.page_ts = -1
        self.last_ts = -1
        self.lost = 0

    def add(self, ts: int, record: bytes) -> None:
        length = (len(record) + 3) & ~3
        record = record.ljust(length, b"\0")
        if length <= 28 * 4:
            header = struct.pack("<I", length >> 2)
            body = header + record
        else:
            body = struct.pack("<II", 0, length + 4) + record
        delta = ts - self.last_ts if self.page_ts >= 0 else 0
        extend = b""
        if delta >= _DELTA_LIMIT:
            extend = struct.pack(
                "<II", _TIME_EXTEND | ((delta & (_DELTA_LIMIT - 1)) << 5), delta >> 27
            )
            delta = 0
        room = PAGE_SIZE - _PAGE_HEADER - (8 if self.lost else 0)
        if self.page_ts >= 0 and len(self.data) + len(extend) + len(body) > room:
            self.flush()
            delta, extend = 0, b""
        if self.page_ts < 0:
            self.page_ts = ts
            delta, extend = 0, b""
        first = struct.unpack_from("<I", body)[0] | (delta << 5)
        self.data += extend + struct.pack("<I", first) + body[4:]
        self.last_ts = ts

    def mark_lost(self, count: int) -> None:
        self.flush()
        self.lost += count

    def flush(self) -> None:
        if self.page_ts < 0 and not self.lost:
            return
        commit = len(self.data)
        tail = b""
        if self.lost:
            commit |= _MISSING_EVENTS | _MISSING_STORED
            tail = struct.pack("<Q", self.lost)
            self.lost = 0
        stamp = self.page_ts if self.page_ts >= 0 else max(self.last_ts, 0)
        page = struct.pack("<Qq", stamp, commit) + self.data + tail
        self.pages.append(page.ljust(PAGE_SIZE, b"\0"))
        self.data = bytearray()
        self.page_ts = -1


class DatWriter:
    """Collects event tuples per CPU and writes a trace.dat v6."""

    def __init__(self, kernel: str, cpus: int, clock_offset: int, uname: str) -> None:
        events = ftrace_events(kernel)
        self._layouts = {
            kind: _layout(100 + i, event) for i, (kind, event) in enumerate(events.items())
        }
        self._cpus = [_CpuPages() for _ in range(cpus)]
        self._offset = clock_offset
        self._uname = uname
        self._current = [-1] * cpus  # thread running on each CPU
        self.comms: dict[int, str] = {}
        self.tgids: dict[int, int] = {}
        self.written = 0

    def feed(self, batch: Iterable[Event]) -> None:
        layouts = self._layouts
        for ev in batch:
            kind = ev[2]
            cpu = ev[1]
            if not 0 <= cpu < len(self._cpus):
                continue
            if kind == EventKind.LOST_EVENTS:
                self._cpus[cpu].mark_lost(int(ev[P0]))
                continue
            if kind == EventKind.STATEDUMP_PROCESS_STATE:
                tid, name, status, on_cpu = ev[P0], ev[P0 + 2], ev[P0 + 3], ev[P0 + 4]
                if ev[P0 + 1] >= 0:
                    self.tgids[tid] = ev[P0 + 1]
                if name:
                    self.comms.setdefault(tid, str(name))
                if status == 6 and 0 <= on_cpu < len(self._current):
                    self._current[on_cpu] = tid
                continue
            layout = layouts.get(kind)
            if layout is None:
                continue
            tid = ev[3] if ev[3] >= 0 else self._current[cpu]
            if ev[3] >= 0 and ev[4] >= 0:
                self.tgids[ev[3]] = ev[4]
            if kind == EventKind.SCHED_PROCESS_FORK and ev[P0 + 4] >= 0 and ev[P0 + 5] >= 0:
                self.tgids[ev[P0 + 4]] = ev[P0 + 5]
            if kind == EventKind.SCHED_SWITCH:
                self._current[cpu] = ev[P0 + 4]
                self.comms.setdefault(ev[P0 + 4], str(ev[P0 + 3]))
            if ev[5] and tid >= 0:
                self.comms.setdefault(tid, str(ev[5]))
            ts = ev[0] - self._offset
            self._cpus[cpu].add(ts, self._record(layout, ev, max(tid, 0), ts))
            self.written += 1

    def _record(self, layout: _Layout, ev: Event, tid: int, ts: int) -> bytes:
        values: list[Any] = [layout.event_id, 0, 0, tid]
        dynamic: list[bytes] = []
        for _name, ctype, size, signed, source in layout.event.fields:
            if source == "ts":
                value: Any = ts
            elif isinstance(source, str):
                value = int(source[1:])
            else:
                value = ev[P0 + source]
            if size == _STR:
                raw = str(value).encode() + b"\0"
                dynamic.append(raw)
                values.append(len(raw))  # patched below with the offset
            elif ctype.startswith("char "):
                values.append(str(value).encode()[: size - 1])
            else:
                values.append(_number(value, size, signed))
        if dynamic:
            offset = layout.fixed.size
            index = 4
            for _name, _ctype, size, _signed, _source in layout.event.fields:
                if size == _STR:
                    length = values[index]
                    values[index] = (length << 16) | offset
                    offset += length
                index += 1
        return layout.fixed.pack(*values) + b"".join(dynamic)

    def write_tgids(self, path: Path) -> None:
        """What tracefs's `saved_tgids` would hold with `record-tgid` on: `tid tgid`."""
        path.write_text("".join(f"{tid} {tgid}\n" for tid, tgid in sorted(self.tgids.items())))

    def write(self, path: Path) -> None:
        for cpu in self._cpus:
            cpu.flush()
        out = bytearray()
        out += b"\x17\x08Dtracing6\0" + b"\0" + bytes([8]) + struct.pack("<I", PAGE_SIZE)
        for label, text in (("header_page", _HEADER_PAGE), ("header_event", _HEADER_EVENT)):
            raw = text.encode()
            out += label.encode() + b"\0" + struct.pack("<Q", len(raw)) + raw
        out += struct.pack("<I", 0)  # no ftrace-internal formats
        systems: dict[str, list[bytes]] = {}
        for layout in self._layouts.values():
            systems.setdefault(layout.event.system, []).append(layout.format_text.encode())
        out += struct.pack("<I", len(systems))
        for system, texts in systems.items():
            out += system.encode() + b"\0" + struct.pack("<I", len(texts))
            for raw in texts:
                out += struct.pack("<Q", len(raw)) + raw
        out += struct.pack("<I", 0)  # kallsyms
        out += struct.pack("<I", 0)  # printk formats
        cmdlines = "".join(f"{tid} {comm}\n" for tid, comm in sorted(self.comms.items()) if tid > 0)
        out += struct.pack("<Q", len(cmdlines.encode())) + cmdlines.encode()
        out += struct.pack("<I", len(self._cpus))
        out += b"options  \0"
        for option, text in (
            (4, "[local] global counter uptime perf mono mono_raw boot x86-tsc\n"),
            (5, self._uname),
            (7, str(self._offset)),
        ):
            raw = text.encode() + b"\0"
            out += struct.pack("<HI", option, len(raw)) + raw
        out += struct.pack("<H", 0)
        out += b"flyrecord\0"
        table_at = len(out)
        out += bytes(16 * len(self._cpus))
        for index, cpu in enumerate(self._cpus):
            if len(out) % PAGE_SIZE:
                out += bytes(PAGE_SIZE - len(out) % PAGE_SIZE)
            start = len(out)
            for page in cpu.pages:
                out += page
            struct.pack_into("<QQ", out, table_at + 16 * index, start, len(out) - start)
        path.write_bytes(bytes(out))


def generate_dat(out: Path, sc: Scenario) -> tuple[Summary, int]:
    """Simulate `sc` as `generate` does, but write the folder `out` holding `trace.dat`
    and `saved_tgids`, as `w2a-tui record` leaves a trace-cmd recording (its CTF twin is
    made in a temporary folder and removed); truth files go beside `out`."""
    from w2a_tui.sim.generate import EPOCH_OF_BOOT_NS, generate, truth_paths
    from w2a_tui.sim.tracepoints import PROFILES

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise W2AError(f"'{out}' exists and is not empty; choose a new output folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".ctf-twin.", dir=out))
    except OSError as err:
        raise W2AError(f"cannot create '{out}': {err.strerror}.") from None
    try:
        ctf = scratch / "ctf"
        summary = generate(ctf, sc)
        profile = PROFILES[sc.kernel]
        uname = f"Linux kvm-host-sim {profile.kernel_release} x86_64"
        # Raw times since (about) boot; OFFSET brings them back to the CTF clock's origin.
        dat = out / "trace.dat"
        written = ctf_to_dat(ctf, dat, sc.kernel, EPOCH_OF_BOOT_NS, uname)
        for old, new in zip(truth_paths(ctf), truth_paths(out), strict=True):
            shutil.move(old, new)
        summary.truth_csv, summary.truth_json = truth_paths(out)
        summary.trace_dir = out
        summary.bytes = dat.stat().st_size
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return summary, written


def ctf_to_dat(
    ctf_dir: Path, out: Path, kernel: str, clock_offset: int, uname: str, tgids: bool = True
) -> int:
    """Write the trace.dat twin of the CTF trace at `ctf_dir` (and, with `tgids`, the
    `saved_tgids` beside it); returns the events written."""
    source = open_trace(ctf_dir)
    writer = DatWriter(kernel, max(source.meta.cpus, default=0) + 1, clock_offset, uname)
    for batch in source.iter_batches(None):
        writer.feed(batch)
    writer.write(out)
    if tgids:
        writer.write_tgids(out.with_name("saved_tgids"))
    return writer.written
