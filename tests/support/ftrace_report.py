"""`trace-cmd report` (Debian's trace-cmd, the reference) parsed into comparable events."""

from __future__ import annotations

import re
import subprocess
from bisect import bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<sec>\d+)\.(?P<ns>\d{9}):"
    r"\s+(?P<name>[\w:]+):\s?(?P<rest>.*)$"
)


def report_raw(path: Path) -> Iterator[tuple[int, int, str, int, str]]:
    """(ts ns, cpu, event name, common_pid, raw field text) per event of
    `trace-cmd report -R -t`."""
    proc = subprocess.Popen(
        ["trace-cmd", "report", "-R", "-t", "-i", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = _LINE.match(line.rstrip("\n"))
        if match is None:
            continue
        ts = int(match["sec"]) * 1_000_000_000 + int(match["ns"])
        yield ts, int(match["cpu"]), match["name"], int(match["pid"]), match["rest"]
    proc.wait()
    assert proc.returncode == 0, f"trace-cmd report failed on {path}"


def split_fields(rest: str, names: list[str]) -> dict[str, str]:
    """`a=1 b=x y c=3` with the known field names in order -> {a: "1", b: "x y", c: "3"}."""
    out: dict[str, str] = {}
    pos = 0
    for i, name in enumerate(names):
        key = f"{name}="
        start = rest.find(key, pos)
        if start < 0:
            continue
        value_start = start + len(key)
        end = len(rest)
        for later in names[i + 1 :]:
            found = rest.find(f" {later}=", value_start)
            if found >= 0:
                end = found
                break
        out[name] = rest[value_start:end].strip()
        pos = end
    return out


def symbol_of(table: tuple[list[int], list[str]], address: int) -> str:
    """The kallsyms name covering `address` (trace-cmd prints `%ps` fields so)."""
    addresses, names = table
    index = bisect_right(addresses, address) - 1
    return names[index] if index >= 0 else ""


def same_value(ours: Any, text: str, symbols: tuple[list[int], list[str]] | None = None) -> bool:
    """Does our decoded value print as trace-cmd's raw text?"""
    if isinstance(ours, bytes):
        return text.startswith("ARRAY[") or ours.hex() in text.replace(" ", "") or not ours
    if isinstance(ours, str):
        return ours == text or ours.strip() == text.strip()
    text = text.strip()
    try:
        value = int(text, 16) if text.lower().startswith(("0x", "-0x")) else int(text)
    except ValueError:
        return symbols is not None and symbol_of(symbols, ours) == text
    if value == ours:
        return True
    # -R still applies the print format's casts, e.g. `(u8)icr_low`.
    if any(value == ours & mask for mask in (0xFF, 0xFFFF, 0xFFFFFFFF)):
        return True
    # trace-cmd prints some signed fields as unsigned (and longs as hex): compare bits.
    difference = int(value - ours)
    return difference % (1 << 64) == 0 or difference % (1 << 32) == 0
