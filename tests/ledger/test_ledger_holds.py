"""Holds, running totals, replayed and estimated calls, and what the next call will cost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qolaba_nb._exceptions import BudgetExceededError
from qolaba_nb._record import Hold
from qolaba_nb.ledger import UsageLedger

from .conftest import RecordFactory, subprocess_env

HOLDER = Path(__file__).with_name("holder_proc.py")


# ---- holds ---------------------------------------------------------------------------------


def test_no_budget_no_hold(ledger: UsageLedger) -> None:
    assert ledger.hold(5.0) is None
    assert ledger.budget_remaining() is None
    assert ledger.holds() == []


def test_a_hold_counts_as_spent_until_its_call_is_recorded(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.set_budget(1.0)
    h = ledger.hold(0.4)
    assert isinstance(h, Hold) and h.credits == 0.4
    assert ledger.budget_remaining() == pytest.approx((0.6, 1.0))
    ledger.record(make_rec(credit=0.3), hold=h)  # the hold becomes the actual charge
    assert ledger.holds() == []
    assert ledger.budget_remaining() == pytest.approx((0.7, 1.0))
    assert ledger.spent() == pytest.approx((0.3, 0.0))


def test_a_hold_that_does_not_fit_is_refused_and_nothing_is_held(ledger: UsageLedger) -> None:
    ledger.set_budget(1.0)
    first = ledger.hold(0.7)
    with pytest.raises(BudgetExceededError) as info:
        ledger.hold(0.5)
    message = str(info.value)
    assert "Budget of 1 credits" in message and "this session" in message
    assert "0.7 more held by calls in flight" in message and "needs up to 0.5" in message
    assert info.value.budget == 1.0 and info.value.spent == 0.0
    assert [h[0] for h in ledger.holds()] == [first.id]  # type: ignore[union-attr]


def test_ten_holds_of_a_tenth_fill_a_budget_of_one(ledger: UsageLedger) -> None:
    ledger.set_budget(1.0)
    holds = [ledger.hold(0.1) for _ in range(10)]
    with pytest.raises(BudgetExceededError):
        ledger.hold(0.1)
    assert ledger.budget_remaining() == pytest.approx((0.0, 1.0))
    for h in holds:
        assert h is not None
        ledger.release(h)
    assert holds[0] is not None
    ledger.release(holds[0])  # twice: harmless
    assert ledger.budget_remaining() == pytest.approx((1.0, 1.0))


def test_check_budget_counts_live_holds(ledger: UsageLedger) -> None:
    ledger.set_budget(1.0)
    ledger.hold(1.0)
    with pytest.raises(BudgetExceededError, match="1 more held"):
        ledger.check_budget()


def test_tag_budgets_guard_only_their_tag(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(1.0, tag="demo")
    assert ledger.hold(5.0, tag="other") is None
    h = ledger.hold(0.5, tag="demo")
    assert h is not None
    ledger.record(make_rec(credit=0.5, tag="demo"), hold=h)
    ledger.record(make_rec(credit=9.0, tag="other"))
    assert ledger.budget_remaining(tag="demo") == pytest.approx((0.5, 1.0))
    with pytest.raises(BudgetExceededError, match="tag 'demo'"):
        ledger.hold(0.6, tag="demo")


def test_the_tightest_budget_decides(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(10.0, session="all")
    ledger.set_budget(2.0, tag="t")
    ledger.record(make_rec(credit=1.5, tag="t"))
    ledger.record(make_rec(credit=7.0, session="someone-else"))
    assert ledger.budget_remaining(tag="t") == pytest.approx((0.5, 2.0))
    assert ledger.budget_remaining() == pytest.approx((1.5, 10.0))
    with pytest.raises(BudgetExceededError, match="in this ledger"):
        ledger.hold(1.6)


def test_an_expired_hold_no_longer_locks_the_budget(ledger_target: str) -> None:
    path = ledger_target
    with UsageLedger(path, hold_lease_s=0.2) as a, UsageLedger(path) as b:
        a.set_budget(1.0, session="all")
        b.set_budget(1.0, session="all")
        assert a.hold(1.0) is not None
        with pytest.raises(BudgetExceededError):
            b.hold(0.5)
        time.sleep(0.3)
        assert b.hold(0.5) is not None  # a's lease ran out, though its process lives
        assert len(b.holds()) == 1


def test_holds_validate_their_arguments(tmp_path: Path, ledger: UsageLedger) -> None:
    ledger.set_budget(1.0)
    for bad in (-1, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="hold"):
            ledger.hold(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hold_lease_s"):
        UsageLedger(tmp_path / "x.sqlite", hold_lease_s=0)


def _start_holder(db: str, *args: object) -> subprocess.Popen[str]:
    cmd = [sys.executable, str(HOLDER), str(db), *map(str, args)]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_process_killed_while_holding_frees_its_hold(ledger_target: str) -> None:
    db = ledger_target
    UsageLedger(db).close()
    proc = _start_holder(db, 1.0, 1, 1.0, 0, "sleep")
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "held"
        with UsageLedger(db) as ledger:
            ledger.set_budget(1.0, session="all")
            with pytest.raises(BudgetExceededError, match="1 more held"):
                ledger.hold(0.5)  # the child lives: its hold counts
            proc.kill()  # SIGKILL: no cleanup of any kind in the child
            proc.wait(timeout=10)
            h = ledger.hold(0.5)  # a dead process's hold on this host is dropped at once
            assert h is not None
            assert [x[0] for x in ledger.holds()] == [h.id]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_two_processes_at_concurrency_16_never_exceed_a_shared_budget(ledger_target: str) -> None:
    """The guarantee: each call costs no more than its hold, so the total stays in budget."""
    db = ledger_target
    UsageLedger(db).close()
    budget, hold, cost = 20.0, 0.05, 0.04
    procs = [_start_holder(db, budget, 16, hold, cost, "spend") for _ in range(2)]
    try:
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
    results = []
    for (out, err), p in zip(outs, procs, strict=True):
        assert p.returncode == 0, err
        _, calls, refused = out.split()
        results.append((int(calls), int(refused)))
    with UsageLedger(db) as ledger:
        spent, _ = ledger.spent(session="all")
        n = len(ledger)
        assert ledger.holds() == []
    assert sum(c for c, _ in results) == n
    assert all(r == 16 for _, r in results)  # every thread ended on a refusal
    assert all(c > 0 for c, _ in results)  # both processes really spent
    assert spent <= budget + 1e-9
    # Not a trivially safe run: the budget was filled to within one hold per thread.
    assert spent >= budget - 32 * hold
    assert spent == pytest.approx(n * cost)


@pytest.mark.integration
def test_two_client_processes_at_concurrency_16_never_exceed_a_shared_ledger_budget(
    tmp_path: Path,
) -> None:
    """The same guarantee through the client: AsyncClient reserve -> hold -> record(hold=)."""
    from qolaba_nb.simulator import Simulator

    db = tmp_path / "clients.sqlite"
    UsageLedger(db).close()
    budget, reserve = 1.0, 0.015  # a "hi" to sim/echo costs about 0.01: never more
    spender = Path(__file__).with_name("client_spender_proc.py")
    with Simulator(speed=0) as sim:
        procs = []
        for _ in range(2):
            cmd = [sys.executable, str(spender), str(db), str(budget), "16", str(reserve)]
            p = subprocess.Popen(
                [*cmd, sim.base_url, sim.api_key],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=subprocess_env(),
            )
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            procs.append(p)
        try:
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            outs = [p.communicate(timeout=180) for p in procs]
        finally:
            for p in procs:
                p.kill()
                p.wait(timeout=10)
    calls = []
    for (out, err), p in zip(outs, procs, strict=True):
        assert p.returncode == 0, err
        _, n, refused = out.split()
        assert int(refused) == 16
        calls.append(int(n))
    with UsageLedger(db) as ledger:
        df = ledger.to_dataframe()
        spent, _ = ledger.spent(session="all")
        assert ledger.holds() == []
    assert len(df) == sum(calls) and all(c > 0 for c in calls)
    assert df["session"].nunique() == 2 and (df["credit"] <= reserve).all()
    assert spent <= budget + 1e-9
    assert spent >= budget - 32 * reserve  # filled up to what the calls in flight held


# ---- replayed and estimated calls ---------------------------------------------------------


def test_replayed_calls_count_nowhere(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.set_budget(1.0)
    ledger.record(make_rec(credit=0.25, completion_chars=100))
    for _ in range(5):
        ledger.record(make_rec(credit=10.0, completion_chars=900, replayed=True))
    assert ledger.spent() == (0.25, 0.0)
    assert ledger.budget_remaining() == pytest.approx((0.75, 1.0))
    assert ledger.hold(0.75) is not None
    assert ledger.expected_credit("gpt-4o-mini") == 0.25
    assert ledger.expected_credit("unknown-model") == 0.25  # the largest, not replayed
    assert ledger.credit_fit("gpt-4o-mini") is None  # one real call is no history
    s = ledger.summary()
    assert s.loc["gpt-4o-mini", "calls"] == 1 and s.loc["gpt-4o-mini", "credit"] == 0.25
    assert len(ledger.to_dataframe()) == 1
    # ... unless asked
    assert ledger.spent(include_replayed=True)[0] == pytest.approx(50.25)
    assert ledger.expected_credit("gpt-4o-mini", include_replayed=True) == 10.0
    assert ledger.summary(include_replayed=True).loc["gpt-4o-mini", "calls"] == 6
    df = ledger.to_dataframe(include_replayed=True)
    assert list(df["replayed"]) == [False] + [True] * 5


def test_estimated_credits_count_against_budgets_and_are_reported_apart(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.set_budget(1.0)
    ledger.record(make_rec(credit=0.5, credit_source="reported"))
    ledger.record(make_rec(credit=0.3, credit_source="estimated", status="cancelled"))
    ledger.record(make_rec(credit=None))
    assert ledger.spent()[0] == pytest.approx(0.8)
    assert ledger.budget_remaining() == pytest.approx((0.2, 1.0))
    s = ledger.summary().loc["gpt-4o-mini"]
    assert s["credit"] == pytest.approx(0.8)
    assert s["credit_reported"] == pytest.approx(0.5)
    assert s["credit_estimated"] == pytest.approx(0.3)
    df = ledger.to_dataframe()
    assert list(df["credit_source"].fillna("-")) == ["reported", "estimated", "-"]
    # an estimate is no evidence of what the model costs
    assert ledger.expected_credit("gpt-4o-mini") == 0.5


def test_a_known_credit_without_a_source_is_reported(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.record(make_rec(credit=0.5))
    assert list(ledger.to_dataframe()["credit_source"]) == ["reported"]


# ---- what the next call will cost -----------------------------------------------------------


def test_expected_credit_is_the_p95_of_recent_history(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    assert ledger.expected_credit("a") is None  # an empty ledger knows nothing
    old = [make_rec(model="a", credit=100.0) for _ in range(50)]  # beyond the last 200
    rng = np.random.default_rng(3)
    recent = rng.uniform(0.1, 1.0, 200)
    ledger.record_many(old + [make_rec(model="a", credit=float(c)) for c in recent])
    ledger.record(make_rec(model="b", credit=3.0))
    assert ledger.expected_credit("a") == pytest.approx(np.percentile(recent, 95))
    assert ledger.expected_credit("b") == 3.0
    assert ledger.expected_credit("new") == 100.0  # the largest credit of any call


def test_credit_fit_is_base_plus_per_character(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.record_many(
        [make_rec(model="m", credit=0.1 + 0.002 * n, completion_chars=n) for n in (10, 50, 200)]
    )
    base, per_char = ledger.credit_fit("m")  # type: ignore[misc]
    assert base == pytest.approx(0.1) and per_char == pytest.approx(0.002)
    assert ledger.credit_fit("other") is None
    ledger.record_many([make_rec(model="flat", credit=0.2, completion_chars=5) for _ in range(5)])
    assert ledger.credit_fit("flat") is None  # one reply length: no slope to fit
