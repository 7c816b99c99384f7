"""A trace-cmd `trace.dat` (v6 or v7, zlib/zstd or uncompressed) as a `TraceSource`."""

from __future__ import annotations

import re
from pathlib import Path

from w2a_tui.errors import BadTraceError
from w2a_tui.events import Event, EventKind
from w2a_tui.model import TraceMeta
from w2a_tui.trace.ftrace.cpu import CpuDecoder
from w2a_tui.trace.ftrace.datfile import DatError, DatFile, is_dat, read_dat
from w2a_tui.trace.ftrace.decode import TuplePlan, tuple_plan
from w2a_tui.trace.ftrace.ringbuf import PageError, PageWalker
from w2a_tui.trace.ftrace.source import DAT_DECODER, FtraceSource, process_tuple
from w2a_tui.trace.port import PortDecoder

_STATEDUMP = int(EventKind.STATEDUMP_PROCESS_STATE)
_CPUSTAT = re.compile(r"^(overrun|dropped events|commit overrun):\s*(\d+)", re.M)


def saved_tgids(dat_path: Path) -> tuple[dict[int, int], Path | None]:
    """tid -> tgid from a copy of tracefs's `saved_tgids` (kept when the `record-tgid`
    option is on) beside the trace.dat: `<name>.saved_tgids` or `saved_tgids` in its
    folder, as `w2a-tui record` leaves it. trace.dat itself has no room for tgids."""
    for candidate in (
        dat_path.with_name(dat_path.name + ".saved_tgids"),
        dat_path.with_name("saved_tgids"),
    ):
        if not candidate.is_file():
            continue
        tgids: dict[int, int] = {}
        try:
            text = candidate.read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                tgids[int(parts[0])] = int(parts[1])
        if tgids:
            return tgids, candidate
    return {}, None


def dat_target(path: Path) -> Path | None:
    """The trace.dat behind `path`: the file itself, or `trace.dat` in a folder that holds
    no CTF trace; None when `path` is neither."""
    if path.is_file():
        return path if is_dat(path) else None
    candidate = path / "trace.dat"
    if path.is_dir() and not (path / "metadata").exists() and is_dat(candidate):
        return candidate
    return None


class DatSource(FtraceSource):
    def __init__(self, path: Path, shown: Path | None = None) -> None:
        try:
            dat = read_dat(path)
        except DatError as err:
            raise BadTraceError(
                f"{path} is not a readable trace.dat: {err}; record or extract it again "
                "with trace-cmd."
            ) from err
        except OSError as err:
            raise BadTraceError(f"{path} cannot be read ({err.strerror}).") from err
        self.dat = dat
        self.tgids, tgid_file = saved_tgids(path)
        self._plans: dict[int, TuplePlan] = {}
        for event_id, fmt in dat.formats.items():
            plan = tuple_plan(fmt, dat.endian)
            if plan is not None:
                self._plans[event_id] = plan
        self._walker = PageWalker(
            dat.endian, dat.page_header.commit_size, dat.page_size, dat.page_header.data_offset
        )
        words = dat.uname.split()
        host = words[1] if len(words) > 1 else ""
        kernel = words[2] if len(words) > 2 else ""
        version = dat.tracecmd_version.split()[0] if dat.tracecmd_version else ""
        tracer = f"trace-cmd {version}".strip() + f" (trace.dat v{dat.version}"
        tracer += f", {dat.compression})" if dat.compression != "none" else ")"
        cpus = sorted(c.cpu for c in dat.cpus if c.size > 0)
        meta = TraceMeta(
            path=str(shown or path),
            trace_dirs=[str(path)],
            hostname=host,
            tracer=tracer,
            kernel=kernel,
            cpus=cpus,
            has_pid_tid=bool(self.tgids),
            warnings=self._warnings(dat),
        )
        env = {
            "tracer_name": "trace-cmd",
            "trace_format": f"trace.dat v{dat.version}",
            "compression": dat.compression,
            "trace_clock": dat.clock or "local",
            "uname": dat.uname,
        }
        if tgid_file is not None:
            env["tgids"] = f"{len(self.tgids)} from {tgid_file.name}"
        if dat.tsc_mult:
            env["tsc2nsec"] = f"mult {dat.tsc_mult} shift {dat.tsc_shift}"
        super().__init__(path, meta, env, DAT_DECODER)
        self._page_totals = [dat.page_count(c) for c in dat.cpus]
        self.meta.first_ns = self._first_ns()
        self.meta.last_ns = self.meta.first_ns

    def _warnings(self, dat: DatFile) -> list[str]:
        warnings = []
        for stat in dat.cpustats:
            lost = sum(int(n) for what, n in _CPUSTAT.findall(stat) if what != "commit overrun")
            if lost:
                cpu = stat.split("\n", 1)[0].strip()
                warnings.append(
                    f"{cpu}: the kernel overwrote or dropped {lost} events before trace-cmd "
                    "read them (buffer too small); the start of that CPU's trace is missing."
                )
        if dat.instances:
            warnings.append(
                "Only the top tracing instance is read; instance(s) "
                + ", ".join(dat.instances)
                + " are left out."
            )
        return warnings

    def _first_ns(self) -> int:
        firsts = []
        to_ns = self.dat.to_ns()
        for data in self.dat.cpus:
            if data.size <= 0:
                continue
            try:
                for buf, start in self.dat.cpu_pages(data):
                    _, _, events = self._walker.events(buf, start)
                    if events:
                        ts = events[0][0]
                        firsts.append(ts if to_ns is None else to_ns(ts))
                        break
            except (PageError, IndexError, ValueError) as err:
                raise BadTraceError(
                    f"{self.dat.path}: CPU {data.cpu}'s first page cannot be read ({err}); "
                    "the trace.dat is damaged, copy it again."
                ) from err
        return min(firsts) if firsts else 0

    def _ports(self, wanted: frozenset[int] | None, counting: bool) -> list[PortDecoder]:
        ports: list[PortDecoder] = [
            CpuDecoder(self.dat, data, self._walker, self._plans, self.tgids, counting, wanted)
            for data in self.dat.cpus
        ]
        if ports and not counting and (wanted is None or _STATEDUMP in wanted):
            ports[0].out.extend(self._snapshot())
        return ports

    def _snapshot(self) -> list[Event]:
        """The process table trace-cmd saved (saved_cmdlines, and saved_tgids when kept), as
        statedump tuples at the trace's start: ftrace's counterpart of LTTng's statedump,
        without a state or a CPU (-1): it names threads and their processes, no more."""
        first = self.meta.first_ns
        tids = sorted(set(self.dat.cmdlines) | set(self.tgids))
        return [
            process_tuple(first, tid, self.tgids.get(tid, -1), self.dat.cmdlines.get(tid, ""))
            for tid in tids
            if tid > 0
        ]

    def _fraction(self, ports: list[PortDecoder]) -> float:
        total = sum(self._page_totals)
        done = sum(p.pages_done for p in ports if isinstance(p, CpuDecoder))
        return done / total if total else 1.0

    def _finish_counts(self, port: PortDecoder) -> None:
        if isinstance(port, CpuDecoder):
            port.finish_counts()
