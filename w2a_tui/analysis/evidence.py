"""The result's shared evidence table, filled while the state machine runs and handed to
finish(): identical records (a preemption by the same thread) are stored once."""

from __future__ import annotations

from w2a_tui.model import Evidence


class EvidenceTable:
    """Evidence records in the order they were stored; an id is a position."""

    __slots__ = ("_ids", "records")

    def __init__(self) -> None:
        self.records: list[Evidence] = []
        self._ids: dict[Evidence, int] = {}

    def __len__(self) -> int:
        return len(self.records)

    def intern(self, evidence: Evidence) -> int:
        """The id of an equal record stored before, else of this one, stored now."""
        eid = self._ids.get(evidence)
        if eid is None:
            eid = self._ids[evidence] = len(self.records)
            self.records.append(evidence)
        return eid

    def add(self, evidence: Evidence) -> int:
        """Store a record that is unique anyway (it holds a wake-up time): no hashing."""
        self.records.append(evidence)
        return len(self.records) - 1
