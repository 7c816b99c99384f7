"""The W2A analysis: decoded events -> per-vCPU state intervals with evidence (no reader,
no UI). See docs/vcpu-states.md for the contract it implements."""

from __future__ import annotations

from w2a_tui.analysis.machine import NEEDED_KINDS, Analyzer, analyze_events

__all__ = ["NEEDED_KINDS", "Analyzer", "analyze_events"]
