"""Small test doubles shared by several test folders."""

from __future__ import annotations

from typing import Any


class ListLedger:
    """A ledger that keeps the client's records in a list (the ``LedgerLike`` protocol).

    It has no budgets (``hold`` gives None) and no history (no expected credit, no fit).
    """

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.holds: list[Any] = []  # the ``hold=`` passed with each record

    def record(self, rec: Any, *, hold: Any = None) -> None:
        self.records.append(rec)
        self.holds.append(hold)

    def hold(self, credits: float, *, tag: str | None = None) -> Any:
        return None

    def release(self, hold: Any) -> None:
        pass

    def expected_credit(self, model: str) -> float | None:
        return None

    def credit_fit(self, model: str) -> tuple[float, float] | None:
        return None

    def budget_remaining(self, *, tag: str | None = None) -> tuple[float, float] | None:
        return None

    def check_budget(self, *, tag: str | None = None) -> None:
        pass
