"""User-facing errors: one clear sentence and an exit status, never a traceback."""

from __future__ import annotations

# Exit statuses shared by every command.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_NO_KVM = 3


class W2AError(Exception):
    """An error the user can act on; the CLI prints `message` alone and exits `status`."""

    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BadTraceError(W2AError):
    """The path is not a readable CTF trace (missing, corrupt, truncated, unreadable)."""


class NoKvmActivityError(W2AError):
    """The trace is readable but holds no KVM vCPU activity to analyse."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_NO_KVM)


class MissingDependencyError(W2AError):
    """A system dependency (babeltrace2's Python bindings) is not installed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_FAILURE)
