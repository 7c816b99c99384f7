"""The W2A analysis: decoded events -> per-vCPU state intervals with evidence (no reader,
no UI). See docs/vcpu-states.md for the contract it implements.

The state machine is imported on first use of one of these names, not with the package:
the TUI uses small parts of the analysis (tables, pCPU looks) and opens a cached trace
without the machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from w2a_tui.analysis.machine import NEEDED_KINDS, Analyzer, analyze_events

__all__ = ["NEEDED_KINDS", "Analyzer", "analyze_events"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from w2a_tui.analysis import machine

        return getattr(machine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
