"""The text of tracefs's `trace` file (or `trace-cmd report` output), plain, .xz or .gz.

A line is `COMM-TID [ (TGID)] [CPU] [FLAGS] SECONDS.FRACTION: EVENT: TEXT`, TEXT being the
event's print format: mostly `field=value`, but the KVM events print sentences
(`vcpu 0 reason HLT rip 0x...`, `apicid 1 vec 66 (Fixed|edge)`) and `trace-cmd report`'s
scheduler plugin prints `prev:tid [prio] S ==> next:tid [prio]`. Each known event has a
parser here that gives back the same values the binary record holds: sched_switch's
`prev_state` letters become the kernel's report bits (`R` 0, `S` 1, `D` 2, `R+` 0x100 ...),
KVM exit reasons their VMX/SVM numbers, delivery modes their APIC_DM values. Timestamps
are as printed (µs by default, ns with `trace-cmd report -t`).
"""

from __future__ import annotations

import gzip
import io
import lzma
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

from w2a_tui.analysis.tables import SVM_EXIT_CODES, VMX_EXIT_REASONS
from w2a_tui.errors import BadTraceError
from w2a_tui.events import EventKind, kind_of
from w2a_tui.model import TraceMeta
from w2a_tui.trace.ftrace.source import TEXT_DECODER, FtraceSource, process_tuple, saved_tgids
from w2a_tui.trace.port import PortDecoder

_STATEDUMP: Final = int(EventKind.STATEDUMP_PROCESS_STATE)
_LINE: Final = re.compile(
    r"\s*(?P<comm>.*?)-(?P<tid>\d+)\s+(?:\(\s*(?P<tgid>[-\d]+)\)\s+)?\[(?P<cpu>\d+)\]"
    r"\s+(?:[\w.]{4,6}\s+)?(?P<sec>\d+)(?:\.(?P<frac>\d+))?:\s+(?P<name>[\w:]+):\s*(?P<rest>.*)"
)
_LOST: Final = re.compile(
    r"CPU:\s*(\d+) \[(?:LOST (\d+) EVENTS|(\d+) EVENTS DROPPED|EVENTS DROPPED)\]"
)
_ENTRIES: Final = re.compile(r"entries-in-buffer/entries-written:\s*(\d+)/(\d+)")

# sched_switch prev_state letters -> the kernel's TASK_REPORT bits (4.14+), `+` = preempted.
_STATE_BITS: Final = {
    "R": 0,
    "S": 0x1,
    "D": 0x2,
    "T": 0x4,
    "t": 0x8,
    "X": 0x10,
    "Z": 0x20,
    "P": 0x40,
    "I": 0x80,
    "K": 0x0,
    "W": 0x0,
    "N": 0x0,
}
PREEMPTED: Final = 0x100
# kvm_apic_accept_irq delivery modes (APIC_DM_* values) and trigger modes.
_DELIVERY: Final = {
    "Fixed": 0x000,
    "LowPrio": 0x100,
    "SMI": 0x200,
    "Res3": 0x300,
    "NMI": 0x400,
    "INIT": 0x500,
    "SIPI": 0x600,
    "ExtINT": 0x700,
}
_VMX_BY_NAME: Final = {name: code for code, name in VMX_EXIT_REASONS.items()}
# SVM names: the kernel prints lowercase ones (a few of its own: `io`, `interrupt`),
# trace-cmd's kvm plugin `EXIT_*` ones.
_SVM_BY_NAME: Final = {
    **{name.lower(): code for code, name in SVM_EXIT_CODES.items()},
    **{f"exit_{name.lower()}": code for code, name in SVM_EXIT_CODES.items()},
    "io": 0x07B,
    "interrupt": 0x060,
}
_ISA_VMX: Final = 1
_ISA_SVM: Final = 2


def prev_state_value(text: str) -> int:
    """`S` -> 1, `D|K` -> 2, `R+` -> 0x100, a number -> itself."""
    text = text.strip()
    if not text:
        return -1
    if text[0].isdigit() or text.startswith("-") or text.startswith("0x"):
        try:
            return int(text, 0)
        except ValueError:
            return -1
    if text.startswith("R+"):
        return PREEMPTED
    value = 0
    for letter in text.replace("|", "").rstrip("+"):
        value |= _STATE_BITS.get(letter, 0)
    return value


def _int(text: str) -> int:
    try:
        return int(text, 0) if text.startswith(("0x", "-0x")) else int(text)
    except ValueError:
        return -1


def _pairs(rest: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for token in rest.split():
        key, sep, value = token.partition("=")
        if sep:
            out[key] = value
    return out


_SWITCH: Final = re.compile(
    r"prev_comm=(.*) prev_pid=(-?\d+) prev_prio=(-?\d+) prev_state=(\S+) ==> "
    r"next_comm=(.*) next_pid=(-?\d+) next_prio=(-?\d+)"
)
_SWITCH_PLUGIN: Final = re.compile(r"(.*):(-?\d+) \[(-?\d+)\] (\S+) ==> (.*):(-?\d+) \[(-?\d+)\]")
_WAKE: Final = re.compile(r"comm=(.*) pid=(-?\d+) prio=(-?\d+)(?: success=\d+)? target_cpu=(\d+)")
_WAKE_PLUGIN: Final = re.compile(r"(.*):(-?\d+) \[(-?\d+)\](?: success=\d+)? CPU:(\d+)")
_FORK: Final = re.compile(r"comm=(.*) pid=(-?\d+) child_comm=(.*) child_pid=(-?\d+)")
_EXEC: Final = re.compile(r"filename=(.*) pid=(-?\d+) old_pid=(-?\d+)")
_EXIT: Final = re.compile(r"comm=(.*) pid=(-?\d+) prio=(-?\d+)")
_IRQ_ENTRY: Final = re.compile(r"irq=(-?\d+) name=(.*)")
_VEC: Final = re.compile(r"vec=(\d+)")
_KVM_ENTRY: Final = re.compile(r"vcpu (\d+)")
_KVM_EXIT: Final = re.compile(r"(?:vcpu (\d+) )?reason (\S+)")
_INJ: Final = re.compile(r"(IRQ|Soft/INTR|irq) (0x[0-9a-fA-F]+|\d+)")
_ACCEPT: Final = re.compile(r"apicid ([0-9a-fA-F]+) vec (\d+) \((\w+)\|(\w+)\)")
_USEREXIT: Final = re.compile(r"reason (\S+) \((-?\d+)\)")
# `reason restart (4)`: the number is -errno (EINTR), the run's reason KVM_EXIT_INTR.
_KVM_EXIT_INTR: Final = 10
_VCPU_WAKEUP: Final = re.compile(r"(wait|poll) time (\d+) ns")
_HALT_POLL: Final = re.compile(r"vcpu (\d+): halt_poll_ns (\d+)")
_PIO: Final = re.compile(r"pio_(read|write) at 0x([0-9a-fA-F]+)")
_RQ_SECTOR: Final = re.compile(r"\) (\d+) \+ ")

Payload = tuple[Any, ...]


def _switch(rest: str) -> Payload | None:
    m = _SWITCH.match(rest) or _SWITCH_PLUGIN.match(rest)
    if m is None:
        return None
    return (m[1], int(m[2]), prev_state_value(m[4]), m[5], int(m[6]))


def _wake(rest: str) -> Payload | None:
    m = _WAKE.match(rest) or _WAKE_PLUGIN.match(rest)
    return None if m is None else (m[1], int(m[2]), int(m[4]))


def _fork(rest: str) -> Payload | None:
    m = _FORK.match(rest)
    return None if m is None else (m[1], int(m[2]), -1, m[3], int(m[4]), -1)


def _exec(rest: str) -> Payload | None:
    m = _EXEC.match(rest)
    return None if m is None else (m[1], int(m[2]))


def _exit(rest: str) -> Payload | None:
    m = _EXIT.match(rest)
    return None if m is None else (m[1], int(m[2]))


def _irq_entry(rest: str) -> Payload | None:
    m = _IRQ_ENTRY.match(rest)
    return None if m is None else (int(m[1]), m[2])


def _irq_exit(rest: str) -> Payload | None:
    return (_int(_pairs(rest).get("irq", "-1")),)


def _softirq(rest: str) -> Payload | None:
    m = _VEC.match(rest)
    return None if m is None else (int(m[1]),)


def _hrtimer_entry(rest: str) -> Payload | None:
    pairs = _pairs(rest)
    function = pairs.get("function", "")
    return (_hex(pairs.get("hrtimer", "")), _int(function) if function[:2] == "0x" else -1)


def _hrtimer_exit(rest: str) -> Payload | None:
    return (_hex(_pairs(rest).get("hrtimer", "")),)


def _hex(text: str) -> int:
    try:
        return int(text, 16)
    except ValueError:
        return -1


def _kvm_entry(rest: str) -> Payload | None:
    m = _KVM_ENTRY.match(rest)
    if m is not None:
        return (int(m[1]),)
    return (_int(_pairs(rest).get("vcpu_id", "-1")),)


def _kvm_exit(rest: str) -> Payload | None:
    m = _KVM_EXIT.match(rest)
    if m is None:
        pairs = _pairs(rest)  # a print format of `field=value`s
        if "exit_reason" not in pairs:
            return None
        return tuple(_int(pairs.get(k, "-1")) for k in ("exit_reason", "isa", "vcpu_id"))
    vcpu = int(m[1]) if m[1] is not None else -1
    name = m[2]
    if name in _VMX_BY_NAME:
        return (_VMX_BY_NAME[name], _ISA_VMX, vcpu)
    if name.lower() in _SVM_BY_NAME:
        return (_SVM_BY_NAME[name.lower()], _ISA_SVM, vcpu)
    return (_int(name), -1, vcpu)


def _inj(rest: str) -> Payload | None:
    m = _INJ.search(rest)
    if m is None:
        pairs = _pairs(rest)
        vector = pairs.get("irq", pairs.get("vector"))
        return None if vector is None else (_int(vector), _int(pairs.get("soft", "-1")))
    # 4.19-5.x print `irq N` (no soft field); 6.x `IRQ 0xN` / `Soft/INTR 0xN`.
    return (int(m[2], 0), -1 if m[1] == "irq" else int(m[1].startswith("Soft")))


def _accept(rest: str) -> Payload | None:
    m = _ACCEPT.match(rest)
    if m is None:
        pairs = _pairs(rest)
        if "apicid" not in pairs or "vec" not in pairs:
            return None
        return tuple(_int(pairs.get(k, "-1")) for k in ("apicid", "vec", "dm", "tm"))
    return (int(m[1], 16), int(m[2]), _DELIVERY.get(m[3], -1), 1 if m[4] == "level" else 0)


def _userspace_exit(rest: str) -> Payload | None:
    m = _USEREXIT.match(rest)
    if m is None:
        return (_int(_pairs(rest).get("reason", "-1")),)
    if m[1] in ("restart", "error"):  # the number printed is -errno, not the reason
        return (_KVM_EXIT_INTR if m[1] == "restart" else -1,)
    return (int(m[2]),)


def _vcpu_wakeup(rest: str) -> Payload | None:
    m = _VCPU_WAKEUP.match(rest)
    return None if m is None else (int(m[2]), 1 if m[1] == "wait" else 0)


def _halt_poll(rest: str) -> Payload | None:
    m = _HALT_POLL.match(rest)
    return None if m is None else (int(m[1]), int(m[2]))


def _pio(rest: str) -> Payload | None:
    m = _PIO.match(rest)
    return None if m is None else (1 if m[1] == "write" else 0, int(m[2], 16))


def _rq_complete(rest: str) -> Payload | None:
    m = _RQ_SECTOR.search(rest)
    return (int(m[1]) if m is not None else -1,)


def _receive_skb(rest: str) -> Payload | None:
    return (_int(_pairs(rest).get("len", "-1")),)


_PARSERS: Final[dict[EventKind, Callable[[str], Payload | None]]] = {
    EventKind.SCHED_SWITCH: _switch,
    EventKind.SCHED_WAKING: _wake,
    EventKind.SCHED_WAKEUP: _wake,
    EventKind.SCHED_WAKEUP_NEW: _wake,
    EventKind.SCHED_PROCESS_FORK: _fork,
    EventKind.SCHED_PROCESS_EXEC: _exec,
    EventKind.SCHED_PROCESS_EXIT: _exit,
    EventKind.IRQ_HANDLER_ENTRY: _irq_entry,
    EventKind.IRQ_HANDLER_EXIT: _irq_exit,
    EventKind.SOFTIRQ_ENTRY: _softirq,
    EventKind.SOFTIRQ_EXIT: _softirq,
    EventKind.HRTIMER_EXPIRE_ENTRY: _hrtimer_entry,
    EventKind.HRTIMER_EXPIRE_EXIT: _hrtimer_exit,
    EventKind.KVM_ENTRY: _kvm_entry,
    EventKind.KVM_EXIT: _kvm_exit,
    EventKind.KVM_INJ_VIRQ: _inj,
    EventKind.KVM_APIC_ACCEPT_IRQ: _accept,
    EventKind.KVM_USERSPACE_EXIT: _userspace_exit,
    EventKind.KVM_VCPU_WAKEUP: _vcpu_wakeup,
    EventKind.KVM_HALT_POLL_NS: _halt_poll,
    EventKind.KVM_PIO: _pio,
    EventKind.BLOCK_RQ_COMPLETE: _rq_complete,
    EventKind.NETIF_RECEIVE_SKB: _receive_skb,
}


def open_text(path: Path) -> IO[str]:
    """The trace text, decompressed when the name ends in .xz / .gz."""
    name = path.name.lower()
    if name.endswith(".xz"):
        return io.TextIOWrapper(lzma.open(path, "rb"), errors="replace")
    if name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), errors="replace")
    return path.open(errors="replace")


def text_target(path: Path) -> Path | None:
    """`path` when it is ftrace text (a header or an event line in its first lines)."""
    if not path.is_file():
        return None
    try:
        with open_text(path) as handle:
            head = handle.read(16384)
    except (OSError, EOFError, lzma.LZMAError, UnicodeError):
        return None
    for line in head.splitlines()[:64]:
        if line.startswith("# tracer:") or _LINE.match(line):
            return path
    return None


class TextPort(PortDecoder):
    """The one stream of a text trace (already merged in time by the kernel or trace-cmd)."""

    def __init__(
        self,
        path: Path,
        wanted: frozenset[int] | None,
        counting: bool,
        tgids: dict[int, int] | None = None,
    ) -> None:
        super().__init__(wanted, counting)
        self._handle = open_text(path)
        self._path = path
        self.tgids: dict[int, int] = dict(tgids or {})
        self.has_tgid = False
        self.lines = 0
        self.bad_lines = 0
        self.overwritten = 0
        self._kinds: dict[str, int] = {}
        self._named: set[int] = set()
        self._lost: dict[int, int] = {}  # CPU -> events dropped, until its next event
        self._cpu_last: dict[int, int] = {}
        self._true_last = -1

    def pull(self, iterator: Any = None, budget: int = 16384) -> None:
        match_line = _LINE.match
        out = self.out
        counts = self.name_counts
        cpu_counts = self.cpu_counts
        wanted = self.wanted
        kinds = self._kinds
        named = self._named
        snapshot = wanted is None or _STATEDUMP in wanted
        seen = 0
        handle = self._handle
        try:
            while seen < budget:
                line = handle.readline()
                if not line:
                    self.last_ts = max(self.last_ts, self._true_last)
                    for cpu, count in self._lost.items():  # lost at the very end
                        self.set_cpu(cpu)
                        self.lost_tuple(count, self._cpu_last.get(cpu, -1), self.last_ts)
                    self._lost.clear()
                    self.done = True
                    handle.close()
                    return
                self.lines += 1
                m = match_line(line)
                if m is None:
                    self._other_line(line)
                    continue
                seen += 1
                name = m["name"]
                counts[name] = counts.get(name, 0) + 1
                cpu = int(m["cpu"])
                cpu_counts[cpu] = cpu_counts.get(cpu, 0) + 1
                frac = m["frac"] or ""
                ts = int(m["sec"]) * 1_000_000_000 + int((frac + "000000000")[:9])
                if self._lost and cpu in self._lost:
                    self.set_cpu(cpu)
                    self.lost_tuple(self._lost.pop(cpu), self._cpu_last.get(cpu, -1), ts)
                self._cpu_last[cpu] = ts
                if cpu not in self.cpus:
                    self.cpus.add(cpu)
                if self.first_ts < 0:
                    self.first_ts = ts
                self.last_ts = ts
                self.events += 1
                tid = int(m["tid"])
                tgid_text = m["tgid"]
                if tgid_text is not None:
                    self.has_tgid = True
                    if tgid_text[-1].isdigit():
                        self.tgids[tid] = int(tgid_text)
                if self.counting:
                    continue
                if tid not in named and tid > 0:
                    named.add(tid)
                    comm = m["comm"].strip()
                    if snapshot and comm not in ("<...>", "<idle>"):
                        # The comm column is trace's saved_cmdlines snapshot: the same
                        # process table as trace.dat's, given when a thread first shows.
                        out.append(process_tuple(ts, tid, self.tgids.get(tid, -1), comm))
                kind = kinds.get(name)
                if kind is None:
                    known = kind_of(name)
                    kind = kinds[name] = int(known) if known is not None else -1
                if kind < 0 or (wanted is not None and kind not in wanted):
                    continue
                payload = _PARSERS[EventKind(kind)](m["rest"].rstrip("\n"))
                if payload is None:
                    self.bad_lines += 1
                    continue
                out.append(
                    (
                        ts,
                        cpu,
                        kind,
                        tid,
                        self.tgids.get(tid, -1),
                        "",  # the comm column is a snapshot: the analysis follows comms
                        *payload,
                    )
                )
            if not self.counting and self._cpu_last:
                # A later `EVENTS DROPPED` line of a CPU starts its LOST tuple at that CPU's
                # last event: nothing before the earliest of those may be released yet.
                self._true_last = self.last_ts
                self.last_ts = min(self._cpu_last.values())
        except (OSError, EOFError, lzma.LZMAError) as err:
            raise BadTraceError(
                f"{self._path} cannot be read to its end ({err}); the file is truncated or "
                "damaged, copy it again."
            ) from err

    def close(self) -> None:
        self._handle.close()

    def _other_line(self, line: str) -> None:
        lost = _LOST.search(line)
        if lost is not None:
            # Printed before the CPU's first event after the loss: the LOST tuple waits
            # for it, and covers the time since that CPU's previous event, as trace.dat's.
            cpu = int(lost[1])
            self._lost[cpu] = self._lost.get(cpu, 0) + int(lost[2] or lost[3] or 1)
            return
        entries = _ENTRIES.search(line)
        if entries is not None:
            self.overwritten = max(int(entries[2]) - int(entries[1]), 0)


class TextSource(FtraceSource):
    def __init__(self, path: Path, shown: Path | None = None) -> None:
        self.tgids, _ = saved_tgids(path)
        probe = TextPort(path, None, counting=True)
        probe.pull(None, 2048)  # the header, the first events: CPUs, tgid column, start
        probe._handle.close()
        meta = TraceMeta(
            path=str(shown or path),
            trace_dirs=[str(path)],
            tracer="ftrace (text)",
            cpus=sorted(probe.cpus),
            first_ns=max(probe.first_ts, 0),
            last_ns=max(probe.last_ts, 0),
            has_pid_tid=probe.has_tgid or bool(self.tgids),
        )
        if probe.overwritten:
            meta.warnings.append(
                f"The kernel overwrote {probe.overwritten} events before this text was read "
                "(entries-in-buffer < entries-written): the start of the trace is missing."
            )
        env = {"tracer_name": "ftrace", "trace_format": "text", "timestamps": "as printed"}
        super().__init__(path, meta, env, TEXT_DECODER)
        self._size = max(path.stat().st_size, 1)
        self._compressed = path.name.lower().endswith((".xz", ".gz"))

    def _ports(self, wanted: frozenset[int] | None, counting: bool) -> list[PortDecoder]:
        return [TextPort(self._path, wanted, counting, self.tgids)]

    def _fraction(self, ports: list[PortDecoder]) -> float:
        span = self.meta.last_ns - self.meta.first_ns
        port = ports[0]
        if port.done:
            return 1.0
        if span > 0 and self.meta.event_count:
            return (port.last_ts - self.meta.first_ns) / span
        return 0.0
