"""A KVM host simulator that writes real LTTng-shaped CTF traces and their ground truth."""

from __future__ import annotations

from w2a_tui.sim.generate import Summary, generate, truth_paths
from w2a_tui.sim.scenarios import SCENARIOS, Scenario, get_scenario, with_overrides

__all__ = [
    "SCENARIOS",
    "Scenario",
    "Summary",
    "generate",
    "get_scenario",
    "truth_paths",
    "with_overrides",
]
