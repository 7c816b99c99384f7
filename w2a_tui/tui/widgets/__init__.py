"""Textual widgets of the app (the timeline)."""
