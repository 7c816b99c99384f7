"""The w2a-tui application: load a trace in a worker (with progress), then the main view.

`W2AApp(path=...)` reads and analyses (cache first); `W2AApp(store=...)` opens an already
built store at once (tests, benchmarks). The app's return code is the CLI exit status.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from w2a_tui.errors import EXIT_FAILURE, EXIT_OK, W2AError
from w2a_tui.model import Reason
from w2a_tui.store import StateStore
from w2a_tui.tui.keys import KEYMAP
from w2a_tui.tui.screens.loading import LoadingScreen, LoadStatus
from w2a_tui.tui.screens.main import MainScreen

PROGRESS_EVERY_S = 0.1  # throttle: at most 10 progress updates per second


class LoadCancelled(Exception):
    """Raised inside the reader's progress callback when the user quit while loading."""


class W2AApp(App[int]):
    TITLE = "w2a-tui"
    # Ctrl+P: Textual's command palette, listing every key of the main view (see
    # `get_system_commands`) so an action can be found by name, with its key beside it.
    ENABLE_COMMAND_PALETTE = True
    # Toasts cover the legend and the drill-down: 3 s, not Textual's 5, when not given.
    NOTIFICATION_TIMEOUT = 3
    # The loading screen comes only when the load takes longer than this: a cached trace
    # opens straight onto the main screen, and the loading screen's own start (about
    # 40 ms of the UI thread, which the loading worker needs too) is not paid for it.
    LOADING_AFTER_S = 0.3
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_app", "quit", show=False),
        Binding("ctrl+c", "quit_app", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        path: str | None = None,
        *,
        store: StateStore | None = None,
        use_cache: bool = True,
        mono: bool | None = None,
        vector_table: Mapping[int, Reason] | None = None,
    ) -> None:
        if path is None and store is None:
            raise ValueError("W2AApp needs a trace path or a store")
        # Textual removes NO_COLOR from the environment when it starts: read it first. The
        # Linux console (TERM=linux) has 8 background colours, so bright and dark states
        # (guest/hypervisor, preempted/ready) would look alike: glyphs there too.
        no_color = "NO_COLOR" in os.environ or os.environ.get("TERM") == "linux"
        super().__init__()
        self.path = path
        self.store = store
        self.use_cache = use_cache
        self.vector_table = vector_table
        self.mono = no_color if mono is None else mono
        self.status = EXIT_OK
        self.error_message = ""  # the load error shown in the app, for the CLI to repeat
        self._loading_timer: Timer | None = None
        self._stage = ""  # the loading stage last announced

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        if isinstance(screen, MainScreen):
            for _, keys in KEYMAP:
                for key in keys:
                    if key.action == "palette":
                        continue  # the palette itself
                    title = key.help[:1].upper() + key.help[1:]
                    yield SystemCommand(
                        escape(f"{title}  ({key.shown})"),
                        f"key {key.shown}",
                        partial(self.call_later, screen.run_action, key.action),
                    )
        yield from super().get_system_commands(screen)

    def on_mount(self) -> None:
        if self.store is not None:
            self.push_screen(MainScreen(self.store, mono=self.mono))
            return
        assert self.path is not None
        self.load(self.path)
        self._loading_timer = self.set_timer(self.LOADING_AFTER_S, self._show_loading)

    def _stop_loading_timer(self) -> None:
        if self._loading_timer is not None:
            self._loading_timer.stop()

    def _show_loading(self) -> LoadingScreen | None:
        """The loading screen, pushed now if it is not up yet (None once the main screen
        is): the load takes a while, or failed. The store is looked at first: a timer that
        fired just as the load ended may run at shutdown, when no screen is left."""
        if self.store is not None:
            return None
        if (screen := self._loading_screen()) is not None:
            return screen
        assert self.path is not None
        screen = LoadingScreen(self.path)
        self.push_screen(screen)
        if self._stage:
            screen.show_stage(self._stage)
        return screen

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load(self, path: str) -> tuple[StateStore, bool]:
        """Read, analyse and index the trace off the UI thread (or reopen its cache)."""
        from w2a_tui.pipeline import load_store  # heavy imports stay out of app start-up

        worker = get_current_worker()
        started = time.monotonic()
        last = 0.0

        def progress(p: Any) -> None:
            nonlocal last
            if worker.is_cancelled:
                raise LoadCancelled
            now = time.monotonic()
            if p.fraction >= 1.0:  # read done: the analysis finishes and is indexed
                self.call_from_thread(self._show_stage, "indexing the vCPU states…")
            elif now - last >= PROGRESS_EVERY_S:
                last = now
                status = LoadStatus(int(p.events), float(p.fraction), now - started)
                self.call_from_thread(self._show_progress, status)

        loaded = load_store(
            path, use_cache=self.use_cache, progress=progress, vector_table=self.vector_table
        )
        if worker.is_cancelled:
            raise LoadCancelled
        return loaded

    def _loading_screen(self) -> LoadingScreen | None:
        screen = self.screen
        return screen if isinstance(screen, LoadingScreen) else None

    def _show_progress(self, status: LoadStatus) -> None:
        if (screen := self._loading_screen()) is not None:
            screen.show_progress(status)

    def _show_stage(self, text: str) -> None:
        self._stage = text  # for a loading screen pushed later
        if (screen := self._loading_screen()) is not None:
            screen.show_stage(text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "load":
            return
        if event.state == WorkerState.SUCCESS:
            loaded = worker.result
            assert isinstance(loaded, tuple)
            store, from_cache = loaded
            assert isinstance(store, StateStore)
            self.store = store
            self._stop_loading_timer()
            main = MainScreen(store, mono=self.mono, from_cache=from_cache, trace_path=self.path)
            if self._loading_screen() is not None:
                self.switch_screen(main)
            else:
                self.push_screen(main)
        elif event.state == WorkerState.ERROR:
            err = worker.error
            if isinstance(err, LoadCancelled):
                return
            if isinstance(err, W2AError):
                message, self.status = err.message, err.status
            else:
                message = f"could not load the trace ({type(err).__name__}: {err})."
                self.status = EXIT_FAILURE
            self.error_message = message
            self._stop_loading_timer()
            if (screen := self._show_loading()) is not None:
                screen.show_error(message)

    def action_quit_app(self) -> None:
        self.workers.cancel_group(self, "load")
        self.exit(self.status, return_code=self.status)
