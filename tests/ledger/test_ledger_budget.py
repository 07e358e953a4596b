"""Budgets and spending."""

from __future__ import annotations

from pathlib import Path

import pytest

from qolaba_nb._exceptions import BudgetExceededError, QolabaError
from qolaba_nb._record import SESSION_ID, LedgerLike
from qolaba_nb.ledger import UsageLedger

from .conftest import RecordFactory


def test_is_a_ledger_like(ledger: UsageLedger) -> None:
    led: LedgerLike = ledger  # checked by mypy; at runtime the two methods exist
    led.check_budget()
    led.check_budget(tag="x")


def test_spent_reads_the_database_at_once(
    ledger_target: str, ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    assert ledger.spent() == (0.0, 0.0)
    ledger.record(make_rec(credit=1.5, cost=0.015))
    ledger.record(make_rec(credit=None, cost=None))  # unknown: counts as nothing
    ledger.record(make_rec(credit=0.25, cost=None, tag="t"))
    assert ledger.spent() == pytest.approx((1.75, 0.015))
    assert ledger.spent(tag="t") == pytest.approx((0.25, 0.0))
    # Another ledger object (another client) on the same database sees the same spending.
    with UsageLedger(ledger_target) as other:
        other.record(make_rec(credit=1.0, cost=0.01))
        assert other.spent() == pytest.approx((2.75, 0.025))
    assert ledger.spent() == pytest.approx((2.75, 0.025))


def test_other_sessions_are_not_counted(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.record(make_rec(credit=3.0))
    ledger.record(make_rec(credit=10.0, session="someone-else"))
    assert ledger.spent() == (3.0, 0.0)
    assert ledger.spent(session="current") == (3.0, 0.0)
    assert ledger.spent(session=SESSION_ID) == (3.0, 0.0)
    assert ledger.spent(session="someone-else") == (10.0, 0.0)
    assert ledger.spent(session="all") == (13.0, 0.0)
    ledger.set_budget(5)
    ledger.check_budget()  # 10 credits of another session do not count


def test_budget_raises_once_spent(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(5)
    ledger.check_budget()
    ledger.record(make_rec(credit=4.99))
    ledger.check_budget()
    ledger.record(make_rec(credit=0.26))
    with pytest.raises(BudgetExceededError) as info:
        ledger.check_budget()
    err = info.value
    assert isinstance(err, QolabaError)
    assert err.budget == 5.0
    assert err.spent == pytest.approx(5.25)
    assert str(err) == (
        "Budget of 5 credits spent: 5.25 credits used this session. The call was not sent."
    )


def test_budget_reached_exactly_counts_as_spent(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.set_budget(2)
    ledger.record(make_rec(credit=2.0))
    with pytest.raises(BudgetExceededError):
        ledger.check_budget()


def test_tag_budget(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(1, tag="demo")
    ledger.record(make_rec(credit=100.0))  # untagged spending does not count against "demo"
    ledger.record(make_rec(credit=100.0, tag="other"))
    ledger.check_budget(tag="demo")
    ledger.record(make_rec(credit=0.6, tag="demo"))
    ledger.check_budget(tag="demo")
    ledger.record(make_rec(credit=0.65, tag="demo"))
    with pytest.raises(BudgetExceededError) as info:
        ledger.check_budget(tag="demo")
    assert str(info.value) == (
        "Budget of 1 credits spent: 1.25 credits used this session (tag 'demo'). "
        "The call was not sent."
    )
    assert info.value.spent == pytest.approx(1.25)
    assert info.value.budget == 1.0
    # Calls with another tag, or none, are not guarded by the "demo" budget.
    ledger.check_budget()
    ledger.check_budget(tag="other")


def test_session_budget_covers_tagged_calls(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(5)
    ledger.set_budget(100, tag="demo")
    ledger.record(make_rec(credit=5.0, tag="demo"))
    for tag in (None, "demo", "x"):
        with pytest.raises(BudgetExceededError, match="used this session\\. "):
            ledger.check_budget(tag=tag)


def test_budget_for_another_session_and_for_all(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.record(make_rec(credit=3.0, session="nightly"))
    ledger.set_budget(2, session="nightly")
    with pytest.raises(BudgetExceededError, match="used by session 'nightly'"):
        ledger.check_budget()
    ledger.set_budget(None, session="nightly")
    ledger.check_budget()
    ledger.record(make_rec(credit=1.0))
    ledger.set_budget(4, session="all")
    with pytest.raises(BudgetExceededError, match="4 credits used in this ledger"):
        ledger.check_budget()


def test_set_budget_replace_remove_and_validate(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.record(make_rec(credit=3.0))
    ledger.set_budget(2)
    with pytest.raises(BudgetExceededError):
        ledger.check_budget()
    ledger.set_budget(10, session="current")  # same budget (current session), replaced
    assert ledger.budgets == [(10.0, SESSION_ID, None)]
    ledger.check_budget()
    ledger.set_budget(None)
    assert ledger.budgets == []
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError, match="budget"):
            ledger.set_budget(bad)


def test_budgets_live_in_the_object(
    ledger_target: str, ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.set_budget(1)
    ledger.record(make_rec(credit=2.0))
    with UsageLedger(ledger_target) as other:
        other.check_budget()  # no budget set on this object
        other.set_budget(1)
        with pytest.raises(BudgetExceededError):
            other.check_budget()


def test_check_budget_without_budgets_does_no_io(tmp_path: Path) -> None:
    led = UsageLedger(tmp_path / "x.sqlite")
    led.close()
    led.check_budget()  # would raise "closed" if it touched the database


def test_budget_message_formats_small_amounts(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(0.5)
    ledger.record(make_rec(credit=0.123456))
    ledger.record(make_rec(credit=0.4))
    with pytest.raises(
        BudgetExceededError, match=r"^Budget of 0\.5 credits spent: 0\.523456 credits "
    ):
        ledger.check_budget()
