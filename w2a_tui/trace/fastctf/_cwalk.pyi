"""Types of the compiled event walk (_cwalk.c)."""

from typing import Any

class Table:
    def __init__(
        self,
        little_endian: bool,
        header_align: int,
        base_ns: int,
        extended: bytes,
        id_bits: int,
        compact: bytes,
    ) -> None: ...
    def set_class(
        self,
        class_id: int,
        steps: bytes,
        emit: tuple[int, ...] | None,
        consts: tuple[Any, ...],
        slots: int,
        role: int,
    ) -> None: ...
    def set_runs(self, run_kind: int, guest_state: int, exit_state: int) -> None: ...
    def walk(
        self,
        buf: Any,
        p: int,
        end: int,
        clock: int,
        cpu: int,
        out: list[Any],
        limit: int,
        last: int,
        pack: bool,
    ) -> tuple[int, int, int, int]: ...
