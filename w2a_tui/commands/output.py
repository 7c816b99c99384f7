"""What every command that writes results shares: the warnings on stderr, an `-o` file
that never lands inside the trace being read, and one sentence when writing fails (a full
disk, a closed pipe) instead of a traceback."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from w2a_tui.errors import W2AError
from w2a_tui.printable import printable

# errno values that mean "the output could not be written", whoever wrote it (a closed
# pipe is not one: `w2a-tui export T | head` ends quietly).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


def print_warnings(warnings: Sequence[str], *, already_on_terminal: bool = False) -> None:
    """The analysis' warnings on stderr, one line each, so that results written to a
    file or a pipe never hide them. `already_on_terminal`: the command's own report shows
    them on the same terminal (no need to say them twice)."""
    if already_on_terminal:
        return
    for warning in warnings:
        print(f"w2a-tui: warning: {printable(warning)}", file=sys.stderr)


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def refuse_inside_trace(output: str, trace: str) -> None:
    """Writing results into the trace they come from would damage it (`-o T/metadata`)
    or add a file that readers then take for a stream."""
    target = Path(output).resolve()
    source = Path(trace).resolve()
    if _inside(target, source):
        raise W2AError(
            f"{output} is inside the trace {trace} being read: write the output elsewhere."
        )


def write_error(err: OSError, where: str) -> W2AError:
    """The sentence for a failed write to `where` (a path, or `standard output`)."""
    why = err.strerror or str(err)
    full = err.errno in (errno.ENOSPC, errno.EDQUOT)
    return W2AError(
        f"cannot write {where}: {why}; {'free some space or ' if full else ''}write somewhere else."
    )


@contextlib.contextmanager
def output_file(path: str | None, trace: str) -> Iterator[IO[str]]:
    """Standard output (`None` or `-`), or the file `path` opened for text. Refuses a
    folder and a path inside the trace; a write that fails (disk full) is one sentence,
    and a file this call created is removed rather than left half written. Names that
    were not UTF-8 in the trace (kept as `surrogateescape`) are written as their bytes."""
    if path is None or path == "-":
        if isinstance(sys.stdout, io.TextIOWrapper):  # undecodable bytes of names: exact
            sys.stdout.reconfigure(errors="surrogateescape")
        try:
            yield sys.stdout
            sys.stdout.flush()
        except OSError as err:
            if err.errno not in WRITE_ERRNOS:
                raise
            silence_stdout()
            raise write_error(err, "the standard output") from None
        return
    if not path:
        raise W2AError("-o is empty: give a file name, or - for the standard output.")
    refuse_inside_trace(path, trace)
    target = Path(path)
    if target.is_dir():
        raise W2AError(f"{path} is a directory: give -o a file name.")
    created = not target.exists()
    try:
        handle = target.open("w", newline="", encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise W2AError(
            f"cannot write {path}: {err.strerror or err}; choose another -o path."
        ) from err
    try:
        with handle:
            yield handle
    except OSError as err:
        if created and target.is_file():
            with contextlib.suppress(OSError):
                target.unlink()
        raise write_error(err, path) from None


def silence_stdout() -> None:
    """Point standard output at /dev/null: what is still buffered for a full disk or a
    closed pipe would otherwise fail again when the interpreter exits."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
