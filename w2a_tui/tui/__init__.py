"""The Textual TUI (the only package that may import Textual).

`app.py` loads a trace and opens the main screen; `keys.py` is the main view's keymap;
`screens/` holds the screens and dialogs, `widgets/` the timeline widget, and `view/` the
pure view code (layout, colours, text, strips) that the widgets and screens draw with.
"""

from __future__ import annotations
