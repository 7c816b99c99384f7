"""The one place that imports babeltrace2's Python bindings (`bt2`).

bt2 is not on PyPI: it comes from Debian's `python3-bt2`, so a missing module must become
one clear sentence, never an ImportError traceback.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, cast

from w2a_tui.errors import BadTraceError, MissingDependencyError

INSTALL_HINT = (
    "babeltrace2's Python bindings (module bt2) are missing: run "
    "`apt-get install -y python3-bt2 babeltrace2`, and create the virtualenv with "
    "--system-site-packages so that it sees them."
)


@functools.cache
def load_bt2() -> ModuleType:
    """Import bt2 once, or raise MissingDependencyError naming the install command."""
    try:
        import bt2
    except ImportError as err:
        raise MissingDependencyError(INSTALL_HINT) from err
    return cast(ModuleType, bt2)


def ctf_fs_class() -> Any:
    """The `source.ctf.fs` component class (babeltrace2's CTF directory reader)."""
    bt2 = load_bt2()
    try:
        return bt2.find_plugin("ctf").source_component_classes["fs"]
    except (AttributeError, KeyError, TypeError) as err:
        raise MissingDependencyError(
            "babeltrace2's `ctf` plugin is missing: run `apt-get install -y babeltrace2`."
        ) from err


def root_cause(err: BaseException) -> str:
    """The most specific message babeltrace2 attached to an error, on one line.

    bt2 errors list their causes from the component that failed (first) up to the caller;
    the first one says what is actually wrong with the data.
    """
    messages: list[str] = []
    try:
        for cause in err:  # type: ignore[attr-defined]
            text = str(getattr(cause, "message", "")).strip()
            if text:
                messages.append(text)
    except TypeError:
        pass
    text = messages[0] if messages else str(err).strip().splitlines()[0] if str(err) else ""
    text = " ".join(text.split())
    return text[:300].rstrip(" .:")


def bad_trace(what: str, err: BaseException) -> BadTraceError:
    """A BadTraceError saying `what` could not be read, with babeltrace2's reason."""
    cause = root_cause(err)
    suffix = f" (babeltrace2: {cause})" if cause else ""
    return BadTraceError(
        f"{what} is not a readable CTF trace{suffix}; check that the trace was copied "
        "completely, or record it again."
    )
