"""Drive a babeltrace2 graph: one `source.ctf.fs` per trace directory, no muxer, and one
sink that feeds each output port (data stream) to its own PortDecoder.

The sink decodes only when asked (one `graph.run_once()` per step) so that callers pull
batches at their pace, can stop early (the graph is released with the generator), and get
progress once per step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from w2a_tui.errors import W2AError
from w2a_tui.trace._bt import bad_trace, ctf_fs_class, load_bt2
from w2a_tui.trace.port import PortDecoder

DecoderFactory = Callable[[], PortDecoder]


class Reading:
    """The decoders of one pass over a trace, and which of them the sink must feed next."""

    def __init__(self, decoders: Sequence[PortDecoder], budget: int) -> None:
        self.decoders = list(decoders)
        self.budget = budget
        self.needy: list[int] = list(range(len(decoders)))
        self.error: BaseException | None = None

    def step(self, iterators: Sequence[Any]) -> None:
        for index in self.needy:
            decoder = self.decoders[index]
            if not decoder.done:
                decoder.pull(iterators[index], self.budget)

    @property
    def finished(self) -> bool:
        return all(d.done for d in self.decoders)


@functools.cache
def _sink_class() -> type:
    bt2 = load_bt2()

    class _DecodingSink(bt2._UserSinkComponent):  # type: ignore[misc, name-defined]
        """Pulls each input port into the matching decoder of a `Reading`."""

        def __init__(self, config: Any, params: Any, reading: Reading) -> None:
            self._reading = reading
            self._iterators: list[Any] = []
            for i in range(len(reading.decoders)):
                self._add_input_port(f"in{i}")

        def _user_graph_is_configured(self) -> None:
            self._iterators = [
                self._create_message_iterator(self._input_ports[f"in{i}"])
                for i in range(len(self._reading.decoders))
            ]

        def _user_consume(self) -> None:
            reading = self._reading
            try:
                reading.step(self._iterators)
            except W2AError as err:
                # Keep our own error: through babeltrace2 it would come back as a generic one.
                reading.error = err
                raise
            if reading.finished:
                raise bt2.Stop

    return _DecodingSink


class TraceGraph:
    """A graph reading `dirs` into `Reading` decoders, one per data stream."""

    def __init__(self, dirs: Sequence[Path], label: str) -> None:
        self._bt2 = load_bt2()
        self._label = label
        self._graph = self._bt2.Graph()
        fs = ctf_fs_class()
        quiet = self._bt2.LoggingLevel.NONE
        self.port_names: list[str] = []
        self._ports: list[Any] = []
        for i, directory in enumerate(dirs):
            try:
                source = self._graph.add_component(
                    fs, f"src{i}", params={"inputs": [str(directory)]}, logging_level=quiet
                )
            except self._bt2._Error as err:
                raise bad_trace(str(directory), err) from err
            for name, port in source.output_ports.items():
                self.port_names.append(name)
                self._ports.append(port)

    def steps(self, reading: Reading) -> Iterator[Reading]:
        """Run the graph one sink step at a time; yields `reading` after each step."""
        sink = self._graph.add_component(_sink_class(), "sink", obj=reading)
        for i, port in enumerate(self._ports):
            self._graph.connect_ports(port, sink.input_ports[f"in{i}"])
        bt2 = self._bt2
        while True:
            try:
                self._graph.run_once()
            except bt2.Stop:
                yield reading
                return
            except bt2.TryAgain:
                continue
            except bt2._Error as err:
                if reading.error is not None:
                    raise reading.error from None
                raise bad_trace(self._label, err) from err
            yield reading
