"""Recording a W2A trace on a host: what it has (LTTng, trace-cmd, tracefs), the exact
commands for each, and a tracefs recorder that needs nothing but the kernel.

The tracefs recorder works in its own instance (`instances/w2a-<pid>`): its own buffer,
clock and enabled events, so that it neither reads nor disturbs what others trace on the
top-level buffer. The only global switch it touches is `options/record-tgid` (the kernel
keeps it for all instances), set for the recording and put back afterwards.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from w2a_tui.errors import W2AError
from w2a_tui.trace.requirements import record_commands as lttng_commands

TRACEFS_ENV: Final = "W2A_TRACEFS"
TRACEFS_ROOTS: Final = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))
BUFFER_KB: Final = 65536  # per CPU: a busy KVM host writes tens of MB per second

# ftrace events W2A reads (system/name), then those that explain causes on hosts whose
# KVM does not emit entry/exit (kvm_vcpu_wakeup...) and the device paths (block, net).
W2A_EVENTS: Final = (
    "kvm/kvm_entry",
    "kvm/kvm_exit",
    "kvm/kvm_inj_virq",
    "kvm/kvm_apic_accept_irq",
    "kvm/kvm_userspace_exit",
    "kvm/kvm_vcpu_wakeup",
    "kvm/kvm_halt_poll_ns",
    "kvm/kvm_msi_set_irq",
    "sched/sched_switch",
    "sched/sched_waking",
    "sched/sched_wakeup",
    "sched/sched_wakeup_new",
    "sched/sched_process_fork",
    "sched/sched_process_exec",
    "sched/sched_process_exit",
    "task/task_newtask",
    "irq/irq_handler_entry",
    "irq/irq_handler_exit",
    "irq/softirq_entry",
    "irq/softirq_exit",
    "timer/hrtimer_expire_entry",
    "timer/hrtimer_expire_exit",
    "block/block_rq_complete",
    "net/netif_receive_skb",
)
SCHED_EVENTS: Final = tuple(e for e in W2A_EVENTS if e.startswith("sched/"))


def tracefs_root(override: str | None = None) -> Path | None:
    """The mounted tracefs: `override`, else $W2A_TRACEFS, else the usual mount points."""
    chosen = override or os.environ.get(TRACEFS_ENV)
    if chosen:
        path = Path(chosen)
        return path if (path / "trace").exists() else None
    for root in TRACEFS_ROOTS:
        if (root / "trace").exists():
            return root
    return None


def lttng_modules_loaded() -> bool:
    try:
        modules = Path("/proc/modules").read_text()
    except OSError:
        return False
    return any(line.startswith("lttng_tracer ") for line in modules.splitlines())


@dataclass(slots=True)
class Host:
    """What this host can record with, best first."""

    lttng: bool
    trace_cmd: bool
    tracefs: Path | None
    root: bool = field(default_factory=lambda: os.geteuid() == 0)

    @property
    def best(self) -> str:
        if self.lttng:
            return "lttng"
        if self.trace_cmd:
            return "trace-cmd"
        return "tracefs"


def probe_host(tracefs: str | None = None) -> Host:
    return Host(
        lttng=shutil.which("lttng") is not None and lttng_modules_loaded(),
        trace_cmd=shutil.which("trace-cmd") is not None,
        tracefs=tracefs_root(tracefs),
    )


def commands_for(via: str, out: Path, seconds: float, root: Path | None) -> list[str]:
    """The exact shell commands that record `seconds` of the full W2A event set to `out`."""
    secs = f"{seconds:g}"
    if via == "lttng":
        lines = lttng_commands()
        lines[0] = f"lttng create w2a --output={out}"
        return [line if not line.startswith("# ...") else f"sleep {secs}" for line in lines]
    tracefs = str(root or TRACEFS_ROOTS[0])
    if via == "trace-cmd":
        events = " ".join(f"-e {e.replace('/', ':')}" for e in W2A_EVENTS)
        return [
            f"mkdir -p {out}",
            f"trace-cmd record -b {BUFFER_KB} -C local -O record-tgid {events} "
            f"-o {out}/trace.dat sleep {secs}",
            f"cp {tracefs}/saved_tgids {out}/saved_tgids",
        ]
    inst = f"{tracefs}/instances/w2a"
    return [
        f"mkdir -p {out} {inst}",
        f"echo {BUFFER_KB} > {inst}/buffer_size_kb",
        f"echo local > {inst}/trace_clock",
        f"echo 1 > {tracefs}/options/record-tgid",
        f"for e in {' '.join(W2A_EVENTS)}; do "
        f"[ -e {inst}/events/$e/enable ] && echo 1 > {inst}/events/$e/enable; done",
        f"echo 1 > {inst}/tracing_on; sleep {secs}; echo 0 > {inst}/tracing_on",
        f"gzip -c {inst}/trace > {out}/trace.txt.gz",
        f"rmdir {inst}",
    ]


class RecordError(W2AError):
    """Recording is not possible here; the message says why in one sentence."""


@dataclass(slots=True)
class Recording:
    path: Path
    enabled: list[str]
    missing: list[str]


def record_tracefs(
    root: Path | None, out: Path, seconds: float, events: tuple[str, ...] = W2A_EVENTS
) -> Recording:
    """Record `seconds` of `events` through tracefs into `out/trace.txt.gz`."""
    if root is None:
        raise RecordError(
            "tracing is not available here: no tracefs is mounted (mount it with "
            "`mount -t tracefs nodev /sys/kernel/tracing`, or give --tracefs PATH)."
        )
    instance = root / "instances" / f"w2a-{os.getpid()}"
    try:
        instance.mkdir()
    except PermissionError as err:
        raise RecordError(
            f"tracing is not permitted: creating a tracefs instance under {root} was refused "
            f"({err.strerror}); run `w2a-tui record --run` as root."
        ) from None
    except OSError as err:
        raise RecordError(
            f"tracing is not possible: {root} refused a new tracing instance ({err.strerror})."
        ) from None
    tgid_option = root / "options" / "record-tgid"
    previous_tgid = _read(tgid_option)
    try:
        _write(instance / "buffer_size_kb", str(BUFFER_KB))
        _write(instance / "trace_clock", "local")
        if previous_tgid is not None:
            _write(tgid_option, "1")
        enabled, missing = [], []
        for event in events:
            switch = instance / "events" / event / "enable"
            if switch.exists():
                _write(switch, "1")
                enabled.append(event)
            else:
                missing.append(event)
        if not enabled:
            raise RecordError(f"none of the W2A events exist under {root}/events.")
        out.mkdir(parents=True, exist_ok=True)
        _write(instance / "tracing_on", "1")
        time.sleep(seconds)
        _write(instance / "tracing_on", "0")
        # The kernel's tid -> tgid map (record-tgid): read before the option goes back,
        # since turning it off empties the map. The text of an instance has no TGID column.
        tgids = _read(root / "saved_tgids")
        if tgids:
            (out / "saved_tgids").write_text(tgids + "\n")
        target = out / "trace.txt.gz"
        with (instance / "trace").open("rb") as src, gzip.open(target, "wb", 6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return Recording(target, enabled, missing)
    finally:
        if previous_tgid is not None:
            _write(tgid_option, previous_tgid, quiet=True)
        _remove_instance(instance)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _write(path: Path, value: str, quiet: bool = False) -> None:
    try:
        path.write_text(value + "\n")
    except OSError as err:
        if quiet:
            return
        raise RecordError(
            f"tracing is not permitted: writing {path} was refused ({err.strerror}); "
            "run `w2a-tui record --run` as root."
        ) from None


def _remove_instance(instance: Path) -> None:
    for _ in range(20):
        try:
            instance.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)  # readers of the instance's files may still hold it
