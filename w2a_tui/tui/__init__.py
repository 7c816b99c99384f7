"""The terminal UI: the only package allowed to import Textual."""

from __future__ import annotations
