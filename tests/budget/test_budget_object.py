"""``Budget`` on its own: reserve, settle, release, refusals, and many threads at once."""

from __future__ import annotations

import math
import random
import threading

import pytest

from qolaba_nb import BudgetExceededError, ValidationError
from qolaba_nb._budget import Budget, reservation_amount
from qolaba_nb._money import credit_number

from .conftest import HoldingLedger


def test_a_reservation_becomes_the_charge_or_is_given_back() -> None:
    budget = Budget(1)
    a, b = budget.reserve(0.4), budget.reserve(0.4)
    assert (budget.spent, budget.reserved) == (0, 0.8)
    assert budget.remaining == pytest.approx(0.2)
    a.settle(0.25, cost=0.001)
    b.release()
    assert (budget.spent, budget.spent_cost, budget.reserved, budget.remaining) == (
        0.25,
        0.001,
        0.0,
        0.75,
    )
    a.settle(5)  # a second ending of the same reservation counts nothing
    b.settle(5)
    assert budget.spent == 0.25 and a.done and b.done


def test_a_reservation_that_does_not_fit_is_refused_and_says_why() -> None:
    budget = Budget(0.5)
    budget.reserve(0.2).settle(0.2)
    budget.reserve(0.2)
    with pytest.raises(BudgetExceededError) as info:
        budget.reserve(0.2)
    message = str(info.value)
    assert message.startswith("Client budget of 0.5 credits: 0.2 spent and 0.2 reserved by ")
    assert "reservation of 0.2 credits does not fit. The call was not sent." in message
    assert (info.value.spent, info.value.budget) == (0.2, 0.5)
    assert budget.reserved == 0.2  # the refused one took nothing
    budget.reserve(0.1)  # what fits still fits


def test_without_a_limit_a_budget_only_counts() -> None:
    budget = Budget()
    budget.reserve(1e9).settle(3.5)
    assert budget.credits is None and budget.spent == 3.5 and math.isinf(budget.remaining)


def test_unknown_charge_counts_nothing_and_bad_amounts_are_refused() -> None:
    budget = Budget(2)
    budget.reserve(1).settle(None)
    assert budget.spent == 0 and budget.reserved == 0
    for bad in (-1, math.nan, math.inf, "1", True):
        with pytest.raises(ValidationError):
            budget.reserve(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="budget_credits"):
        Budget(-1)


def test_many_threads_never_spend_more_than_the_budget() -> None:
    budget = Budget(10)
    barrier = threading.Barrier(16)
    refused = 0
    lock = threading.Lock()

    def worker(seed: int) -> None:
        nonlocal refused
        rng = random.Random(seed)
        barrier.wait()
        for _ in range(500):
            amount = rng.uniform(0.01, 0.2)
            try:
                reservation = budget.reserve(amount)
            except BudgetExceededError:
                with lock:
                    refused += 1
                continue
            # every call costs no more than its reservation; some are never sent
            if rng.random() < 0.1:
                reservation.release()
            else:
                reservation.settle(amount * rng.uniform(0.5, 1.0))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.spent <= 10 and budget.reserved == 0
    assert refused > 0 and budget.remaining < 0.2  # it did run into the limit


def test_the_reservation_amount_falls_back_in_order() -> None:
    history = HoldingLedger(expected=0.3)
    assert reservation_amount("m", call=0.1, client=0.2, ledger=history) == 0.1
    assert reservation_amount("m", call=None, client=0.2, ledger=history) == 0.2
    assert reservation_amount("m", call=None, client=None, ledger=history) == 0.3
    assert reservation_amount("m", call=None, client=None, ledger=HoldingLedger()) == 1.0
    assert reservation_amount("m", call=None, client=None, ledger=None) == 1.0


def test_credits_are_formatted_for_people() -> None:
    assert [credit_number(x) for x in (3.2, 5.0, 0.123456, 0.0)] == ["3.2", "5", "0.123456", "0"]
