"""Find the CTF trace directories behind a user-given path, and reject what cannot work.

A CTF trace is a directory holding a `metadata` file and one file per data stream. Users
give either that directory, a file inside it, or a folder above it (an LTTng session output
such as `~/lttng-traces/NAME/` with `kernel/` under it). Everything here is plain file
system work, done before babeltrace2 sees the path, so that the common mistakes get a
precise sentence instead of a library error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from w2a_tui.errors import BadTraceError

# How many levels below the given folder trace directories are searched: enough for
# ~/lttng-traces/ (NAME/kernel/, two levels) and a folder of sessions (three), not so many
# that a big shared folder (/tmp) is walked into unrelated trees. UST traces
# (NAME/ust/uid/1000/64-bit/) lie deeper, and W2A reads kernel traces only.
MAX_DEPTH = 3
# The largest metadata file read (LTTng kernel traces: about 0.5 MB; babeltrace2 needs
# minutes to parse tens of MB).
MAX_METADATA_BYTES = 16 << 20
_CTF_TEXT_MAGIC = b"/* CTF"
_CTF_PACKET_MAGICS = (b"\x57\x1d\xd1\x75", b"\x75\xd1\x1d\x57")
_WHAT_TO_GIVE = (
    "give a CTF trace directory (the folder holding a `metadata` file), an LTTng "
    "session folder such as ~/lttng-traces/NAME/, a trace-cmd trace.dat, or the text "
    "of /sys/kernel/tracing/trace (plain, .xz or .gz)"
)


def find_trace_dirs(path: str | os.PathLike[str], warnings: list[str] | None = None) -> list[Path]:
    """The CTF trace directories at or under `path`, sorted; BadTraceError if none. A
    subfolder that cannot be listed is skipped, with a sentence added to `warnings`."""
    root = Path(path).expanduser()
    if not root.exists() and not root.is_symlink():
        raise BadTraceError(f"{root} does not exist; {_WHAT_TO_GIVE}.")
    if root.is_file():
        if root.name == "metadata":
            root = root.parent
        else:
            raise BadTraceError(
                f"{root} is a file, not a trace directory, a trace.dat nor ftrace text; "
                f"{_WHAT_TO_GIVE}."
            )
    if not root.is_dir():
        raise BadTraceError(f"{root} is not a directory; {_WHAT_TO_GIVE}.")
    try:
        found = _walk(root, warnings if warnings is not None else [])
    except PermissionError as err:
        raise BadTraceError(f"{err.filename} cannot be listed (permission denied).") from err
    if not found:
        what = (
            "is empty"
            if not any(root.iterdir())
            else f"holds no CTF trace (no `metadata` file in it or up to {MAX_DEPTH} levels below)"
        )
        raise BadTraceError(f"{root} {what}; {_WHAT_TO_GIVE}.")
    for trace_dir in found:
        check_trace_files(trace_dir)
    return found


def _walk(root: Path, warnings: list[str]) -> list[Path]:
    found: list[Path] = []
    base_depth = len(root.parts)

    def skip(err: OSError) -> None:
        if Path(str(err.filename)) == root:
            raise err
        warnings.append(
            f"{err.filename} was skipped: it cannot be listed ({err.strerror}); a trace "
            "inside it is not read."
        )

    for current, dirs, files in os.walk(root, onerror=skip):
        here = Path(current)
        if "metadata" in files:
            found.append(here)
            dirs.clear()  # a trace's own subfolders (index/) hold no other trace
            continue
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirs.clear()
        dirs.sort()
    return sorted(found)


def check_trace_files(trace_dir: Path) -> None:
    """Reject a trace directory whose metadata is not CTF or whose stream files cannot be
    opened (dangling symlink, FIFO, permission), before babeltrace2 would skip or hang on it.
    """
    metadata = trace_dir / "metadata"
    _check_regular_readable(metadata, "metadata file")
    size = metadata.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise BadTraceError(
            f"metadata file {metadata} is {size / 2**20:.0f} MB, more than the "
            f"{MAX_METADATA_BYTES >> 20} MB a CTF trace's metadata may take here (a kernel "
            "trace's is well under 1 MB); the trace is damaged or not a trace."
        )
    with metadata.open("rb") as handle:
        head = handle.read(6)
    if not (head.startswith(_CTF_TEXT_MAGIC) or head[:4] in _CTF_PACKET_MAGICS):
        raise BadTraceError(
            f"{metadata} is not CTF metadata (it starts with neither `/* CTF` nor the CTF "
            "packet magic); the trace is corrupt or this is not a CTF trace."
        )
    for entry in sorted(trace_dir.iterdir()):
        if entry.name == "metadata" or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            continue  # index/ and the like: not data streams
        _check_regular_readable(entry, "stream file")


def empty_stream_warnings(trace_dir: Path) -> list[str]:
    """One sentence per 0-byte stream file. babeltrace2 reads past them silently, but
    LTTng writes at least one packet per stream, so an empty file means a copy or a
    recording that was cut: that stream's events are missing, and the user must know."""
    warnings = []
    for entry in sorted(trace_dir.iterdir()):
        if entry.name == "metadata" or entry.name.startswith(".") or not entry.is_file():
            continue
        if entry.stat().st_size == 0:
            warnings.append(
                f"Stream file {entry} is empty (0 bytes): the events it should hold are "
                "missing; copy the trace again if the copy was cut short."
            )
    return warnings


def _check_regular_readable(path: Path, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as err:
        if path.is_symlink():
            raise BadTraceError(
                f"{what} {path} is unreadable: it is a symbolic link to a missing file "
                f"({os.readlink(path)}); copy the trace again without broken links."
            ) from err
        raise BadTraceError(f"{what} {path} is missing; copy the trace again.") from err
    except OSError as err:
        raise BadTraceError(f"{what} {path} is unreadable ({err.strerror}).") from err
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise BadTraceError(
            f"{what} {path} is unreadable: it is {kind}; a CTF trace holds regular files only."
        )
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise BadTraceError(
            f"{what} {path} is unreadable ({err.strerror}); fix its permissions."
        ) from err
