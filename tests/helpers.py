"""Small test doubles shared by several test folders."""

from __future__ import annotations

from typing import Any


class ListLedger:
    """A ledger that keeps the client's records in a list (the ``LedgerLike`` protocol)."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def record(self, rec: Any) -> None:
        self.records.append(rec)

    def check_budget(self, *, tag: str | None = None) -> None:
        pass
