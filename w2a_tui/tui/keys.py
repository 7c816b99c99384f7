"""The main view's keymap, in one table: the bindings and the `?` help are built from it."""

from __future__ import annotations

from typing import Final, NamedTuple

from textual.binding import Binding, BindingType


class Key(NamedTuple):
    keys: str  # Textual key names, comma separated
    action: str
    shown: str  # how the help writes the keys
    help: str
    footer: str = ""  # footer label; empty: not in the footer


KEYMAP: Final[tuple[tuple[str, tuple[Key, ...]], ...]] = (
    (
        "Zoom and pan",
        (
            Key("w,plus,equals_sign", "zoom_in", "w + =", "zoom in around the cursor", "zoom"),
            Key("s,minus", "zoom_out", "s -", "zoom out around the cursor"),
            Key("a", "pan(-1)", "a", "pan left by a quarter window"),
            Key("d", "pan(1)", "d", "pan right by a quarter window"),
            Key("f", "fit", "f", "zoom to the selection, else fit all"),
            Key("z", "zoom_interval", "z", "zoom to the interval under the cursor"),
            Key("home", "edge(-1)", "Home", "cursor to the trace start"),
            Key("end", "edge(1)", "End", "cursor to the trace end"),
        ),
    ),
    (
        "Cursor and lanes",
        (
            Key("left,h", "step(-1)", "← h", "cursor one cell left"),
            Key("right,l", "step(1)", "→ l", "cursor one cell right"),
            Key("up,k", "row(-1)", "↑ k", "previous lane (or VM row)"),
            Key("down,j", "row(1)", "↓ j", "next lane (or VM row)"),
            Key("comma", "transition(-1)", ",", "previous state change on the lane"),
            Key("full_stop", "transition(1)", ".", "next state change on the lane"),
            Key("left_square_bracket", "wait(-1)", "[", "previous wait on the lane"),
            Key("right_square_bracket", "wait(1)", "]", "next wait on the lane"),
            Key("g", "goto", "g", "go to a time: 1.5s, +200us, 22:13:21.4", "go to"),
            Key("c", "clock", "c", "cursor time: from the start / wall-clock"),
            Key("y", "copy_time", "y", "copy the cursor's time (OSC 52)"),
            Key("tab", "toggle_vm", "Tab", "collapse or expand the current VM"),
            Key("p", "pcpu", "p", "host CPU lanes (who ran where) / vCPU lanes", "pCPUs"),
            Key("o", "only_vm", "o", "only the current VM's lanes (again: all)"),
            Key("i", "hide_idle", "i", "hide lanes with no activity in the window"),
            Key("u", "only_matches", "u", "only lanes with matches of the search"),
            Key("x", "clear_filter", "x", "clear the lane filter"),
        ),
    ),
    (
        "Select, mark, find",
        (
            Key("space,v", "select", "Space v", "start a selection / extend it here"),
            Key("shift+left", "extend(-1)", "Shift+←", "extend the selection left"),
            Key("shift+right", "extend(1)", "Shift+→", "extend the selection right"),
            Key("escape", "clear", "Esc", "drop the selection / the details"),
            Key("m", "bookmark", "m", "set a bookmark (on one: remove it)"),
            Key("apostrophe", "jump_bookmark", "'", "jump to the next bookmark"),
            Key("b", "bookmarks", "b", "list the bookmarks (◆ on the ruler)"),
            Key("slash", "find", "/", "find a state, reason, vector, thread", "find"),
            Key("n", "find_next(1)", "n", "next match (all lanes, time order)"),
            Key("N", "find_next(-1)", "N", "previous match (both wrap around)"),
            Key("L", "results", "L", "list the matches (Enter jumps)"),
            Key("F", "follow", "F", "follow: preemptor's pCPU / where a thread ran"),
            Key("e", "export_range", "e", "export the selection (else the window) for Perfetto"),
        ),
    ),
    (
        "Explain",
        (
            Key("enter", "details", "Enter", "why? explain the interval here", "why?"),
            Key("less_than_sign", "same_state(-1)", "<", "previous interval in the same state"),
            Key("greater_than_sign", "same_state(1)", ">", "next interval in the same state"),
            Key("t", "summary", "t", "summary (of the selection if any)", "summary"),
            Key("exclamation_mark", "warnings", "!", "the analysis' warnings (lost events)"),
            Key("question_mark", "help", "?", "this help", "help"),
            Key("ctrl+p", "palette", "Ctrl+P", "palette: find any action"),
            Key("q", "quit", "q", "quit", "quit"),
        ),
    ),
)


def bindings() -> list[BindingType]:
    """Bindings for the main screen (priority so Tab and arrows are never stolen)."""
    out: list[BindingType] = []
    for _, keys in KEYMAP:
        for key in keys:
            out.append(
                Binding(
                    key.keys,
                    key.action,
                    key.footer or key.help,
                    show=bool(key.footer),
                    priority=True,
                )
            )
    return out
