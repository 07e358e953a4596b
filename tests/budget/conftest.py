"""Fixtures for the budget tests: the real simulator, and a ledger that holds credits.

``HoldingLedger`` implements the whole ``LedgerLike`` protocol in memory: budgets with holds
(checked and taken under one lock, as the real ledger does in one transaction), an expected
credit and a credit fit that a test sets. It lets a test see exactly what the client reserved,
held, recorded and released.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from qolaba_nb._exceptions import BudgetExceededError
from qolaba_nb._record import CallRecord, Hold
from qolaba_nb.simulator import Simulator
from tests.helpers import ListLedger


class HoldingLedger(ListLedger):
    def __init__(
        self,
        budget: float | None = None,
        *,
        expected: float | None = None,
        fit: tuple[float, float] | None = None,
    ) -> None:
        super().__init__()
        self.budget = budget
        self.expected = expected
        self.fit = fit
        self.spent = 0.0
        self.live: dict[int, float] = {}
        self.asked: list[float] = []  # every amount hold() was asked for
        self.released: list[Hold] = []
        self._lock = threading.Lock()
        self._next = 0

    def hold(self, credits: float, *, tag: str | None = None) -> Hold | None:
        self.asked.append(credits)
        if self.budget is None:
            return None
        with self._lock:
            held = sum(self.live.values())
            if self.spent + held + credits > self.budget:
                raise BudgetExceededError(
                    f"Ledger budget of {self.budget:g} credits: {self.spent:g} spent.",
                    spent=self.spent,
                    budget=self.budget,
                )
            self._next += 1
            self.live[self._next] = credits
            return Hold(self._next, credits)

    def record(self, rec: CallRecord, *, hold: Hold | None = None) -> None:
        with self._lock:
            super().record(rec, hold=hold)
            if hold is not None:
                self.live.pop(int(hold.id), None)
            if rec.credit is not None and not rec.replayed:
                self.spent += rec.credit

    def release(self, hold: Hold) -> None:
        with self._lock:
            self.released.append(hold)
            self.live.pop(int(hold.id), None)

    def expected_credit(self, model: str) -> float | None:
        return self.expected

    def credit_fit(self, model: str) -> tuple[float, float] | None:
        return self.fit

    def budget_remaining(self, *, tag: str | None = None) -> tuple[float, float] | None:
        if self.budget is None:
            return None
        return self.budget - self.spent - sum(self.live.values()), self.budget


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:  # no pacing unless a test asks for it (x-sim-* headers)
        yield s


@pytest.fixture
def slow_headers() -> dict[str, Any]:
    """Calls that stay in flight long enough to overlap."""
    return {"x-sim-ttft": "0.05", "x-sim-chunk-delay": "0.005"}
