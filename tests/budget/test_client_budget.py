"""Budgets through the client, against the real simulator: reservations before sending, one
budget shared by every twin, estimated credits for replies cut short, replays that cost nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

import pytest

import qolaba_nb as q
from qolaba_nb.comparison import acompare, compare
from qolaba_nb.simulator import Simulator

from .conftest import HoldingLedger

pytestmark = pytest.mark.integration

CHEAP = "openai/gpt-4o-mini"  # 0.05 credits + 0.0001 per character
SHORT: dict[str, Any] = {"max_tokens": 40}  # 160 characters: 0.066 credits a call


def spent_in(ledger: HoldingLedger) -> float:
    return float(sum(r.credit for r in ledger.records if r.credit is not None))


# --------------------------------------------------------------------------- twins


def test_twins_share_the_settings_and_the_very_same_budget(sim: Simulator) -> None:
    client = q.Client(sim.api_key, sim.base_url, ledger=False, budget_credits=2, tag="a")
    twin = q.AsyncClient.twin(client)
    assert twin.budget is client.budget and twin.settings.budget is client.settings.budget
    assert (twin.base_url, twin.tag, twin.budget_credits) == (sim.base_url, "a", 2)
    twin.tag = "b"  # a twin's own tag changes nothing of the client
    assert client.tag == "a" and twin.budget is client.budget
    plain = q.Client(sim.api_key, sim.base_url, ledger=False)
    assert (
        plain.budget is None and q.AsyncClient.twin(plain).settings.budget is plain.settings.budget
    )
    with pytest.raises(AttributeError):
        client.settings.tag = "c"  # type: ignore[misc]


def test_compare_three_times_stops_at_the_budget_and_the_client_counts_it(
    sim: Simulator,
) -> None:
    ledger = HoldingLedger()
    with q.Client(
        sim.api_key, sim.base_url, ledger=ledger, budget_credits=0.5, reserve_credits=0.07
    ) as c:
        frames = [
            compare(["One?", "Two?", "Three?"], [CHEAP], client=c, progress=False, **SHORT)
            for _ in range(3)
        ]
    statuses = [s for f in frames for s in f["status"]]
    credits = sum(float(f["credit"].sum()) for f in frames)
    assert statuses.count("ok") == 7  # 7 * 0.066 = 0.462; an 8th reservation does not fit
    assert all(s == "api_error" for s in statuses[7:])
    assert frames[2]["error"].iloc[-1].startswith("BudgetExceededError: Client budget of 0.5")
    assert c.spent_credit == pytest.approx(credits) == pytest.approx(spent_in(ledger))
    assert c.spent_credit <= 0.5 and c.budget is not None and c.budget.reserved == 0
    assert len(ledger.records) == 7  # refused calls were never sent, so never recorded


async def test_compare_inside_a_running_loop_spends_from_the_same_budget(sim: Simulator) -> None:
    async with q.AsyncClient(
        sim.api_key, sim.base_url, ledger=False, budget_credits=1, reserve_credits=0.07
    ) as c:
        df = compare(["One?", "Two?"], [CHEAP], client=c, progress=False, **SHORT)  # a thread
        df2 = await acompare(["Three?"], [CHEAP], client=c, progress=False, **SHORT)
    assert c.spent_credit == pytest.approx(float(df["credit"].sum() + df2["credit"].sum()))
    assert c.spent_credit == pytest.approx(3 * 0.066)


# --------------------------------------------------------------------------- concurrency


async def _hammer(
    client: q.AsyncClient, concurrency: int, calls: int, headers: dict[str, str]
) -> int:
    """Start ``calls`` calls, ``concurrency`` at a time; return how many were refused."""
    gate = asyncio.Semaphore(concurrency)
    refused = 0

    async def one(i: int) -> None:
        nonlocal refused
        async with gate:
            try:
                stream = await client.stream(f"Question {i}?", model=CHEAP, **SHORT)
            except q.BudgetExceededError:
                refused += 1
                return
            async with stream:
                await stream.completion()

    await asyncio.gather(*(one(i) for i in range(calls)))
    return refused


@pytest.mark.parametrize("concurrency", [8, 32])
async def test_concurrency_never_spends_past_the_budget(
    sim: Simulator, concurrency: int, slow_headers: dict[str, str]
) -> None:
    ledger = HoldingLedger()
    async with q.AsyncClient(
        sim.api_key,
        sim.base_url,
        ledger=ledger,
        budget_credits=1.0,
        reserve_credits=0.07,  # each call costs 0.066: never more than its reservation
        headers=slow_headers,
    ) as client:
        for _ in range(6):  # rounds until the budget is used up
            refused = await _hammer(client, concurrency, 2 * concurrency, slow_headers)
            assert client.budget is not None
            if client.budget.remaining < 0.07:
                break
        assert refused > 0
    assert client.spent_credit == pytest.approx(spent_in(ledger))
    assert client.spent_credit <= 1.0 and client.budget is not None
    assert client.budget.remaining < 0.07 and client.budget.reserved == 0  # stopped AT it


async def test_when_calls_cost_more_than_reserved_the_overshoot_is_bounded(
    sim: Simulator, slow_headers: dict[str, str]
) -> None:
    concurrency, reserved, actual = 8, 0.03, 0.066
    async with q.AsyncClient(
        sim.api_key,
        sim.base_url,
        ledger=False,
        budget_credits=0.5,
        reserve_credits=reserved,
        headers=slow_headers,
    ) as client:
        for _ in range(6):
            await _hammer(client, concurrency, 16, slow_headers)
    # at most `concurrency` calls in flight, each at most (actual - reserved) over
    assert client.spent_credit > 0.5  # it does overshoot: the reservations were too small...
    assert client.spent_credit <= 0.5 + concurrency * (actual - reserved) + 1e-9  # ...boundedly


def test_threads_sharing_a_sync_client_never_spend_past_the_budget(
    sim: Simulator, slow_headers: dict[str, str]
) -> None:
    with q.Client(
        sim.api_key,
        sim.base_url,
        ledger=False,
        budget_credits=0.6,
        reserve_credits=0.07,
        headers=slow_headers,
    ) as client:

        def one(i: int) -> bool:
            try:
                client.chat(f"Q{i}", model=CHEAP, **SHORT)
            except q.BudgetExceededError:
                return False
            return True

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for _ in range(4):
                list(pool.map(one, range(16)))
    assert client.spent_credit <= 0.6 and client.budget is not None
    assert client.budget.remaining < 0.07


# --------------------------------------------------------------------------- which budget refuses


def test_the_ledger_refusing_undoes_the_client_reservation_and_sends_nothing(
    sim: Simulator,
) -> None:
    ledger = HoldingLedger(budget=0.05)
    before = sim.stats.requests
    with q.Client(sim.api_key, sim.base_url, ledger=ledger, budget_credits=5) as client:
        with pytest.raises(q.BudgetExceededError, match=r"Ledger budget of 0\.05"):
            client.chat("Hi", model=CHEAP, reserve_credits=0.1)
        assert client.budget is not None and client.budget.reserved == 0
        client.chat("Hi", model=CHEAP, reserve_credits=0.05, max_tokens=1)
    assert sim.stats.requests == before + 1
    assert ledger.asked == [0.1, 0.05] and ledger.holds[0] is not None and not ledger.live


def test_the_reservation_falls_back_from_call_to_client_to_history_to_one(
    sim: Simulator,
) -> None:
    history = HoldingLedger(expected=0.2)
    with q.Client(sim.api_key, sim.base_url, ledger=history, reserve_credits=0.3) as client:
        client.chat("Hi", model=CHEAP, reserve_credits=0.1, **SHORT)
        client.chat("Hi", model=CHEAP, **SHORT)
    with q.Client(sim.api_key, sim.base_url, ledger=history) as client:
        client.chat("Hi", model=CHEAP, **SHORT)
    empty = HoldingLedger()
    with q.Client(sim.api_key, sim.base_url, ledger=empty) as client:
        client.chat("Hi", model=CHEAP, **SHORT)
    assert history.asked == [0.1, 0.3, 0.2] and empty.asked == [1.0]
    with pytest.raises(q.ValidationError, match="reserve_credits"):
        q.Client(sim.api_key, sim.base_url, reserve_credits=-1)
    with q.Client(sim.api_key, sim.base_url, ledger=empty) as client:
        before = sim.stats.requests
        with pytest.raises(q.ValidationError, match="reserve_credits"):
            client.chat("Hi", model=CHEAP, reserve_credits=float("nan"))
        assert sim.stats.requests == before


def test_a_call_the_server_never_answered_gives_its_reservation_back() -> None:
    ledger = HoldingLedger(budget=10)
    client = q.Client("sk-x", "http://127.0.0.1:9", ledger=ledger, budget_credits=1, max_retries=0)
    with client, pytest.raises(q.APIConnectionError):
        client.chat("Hi", model=CHEAP)
    rec = ledger.records[0]
    assert (rec.status, rec.credit, rec.credit_source) == ("connection_error", None, None)
    assert client.spent_credit == 0 and client.budget is not None and client.budget.reserved == 0
    assert not ledger.live and ledger.spent == 0


# --------------------------------------------------------------------------- estimates


def test_a_stopped_stream_is_recorded_as_estimated_and_counted(sim: Simulator) -> None:
    ledger = HoldingLedger(budget=10, fit=(0.05, 0.0001))
    client = q.Client(sim.api_key, sim.base_url, ledger=ledger, budget_credits=1)
    with client, client.stream("Tell me about rivers", model=CHEAP) as stream:
        for i, _ in enumerate(stream.text_deltas()):
            if i == 2:
                break
        chars = len(stream.text)
    rec = ledger.records[0]
    assert rec.status == "cancelled" and rec.credit_source == "estimated"
    assert rec.credit == pytest.approx(0.05 + 0.0001 * chars)
    assert client.spent_credit == pytest.approx(rec.credit) == pytest.approx(ledger.spent)
    assert ledger.holds[0] is not None and not ledger.live  # the hold became the charge


def test_a_cut_stream_without_history_is_charged_its_reservation(sim: Simulator) -> None:
    ledger = HoldingLedger()
    client = q.Client(sim.api_key, sim.base_url, ledger=ledger, budget_credits=1, max_retries=0)
    with client:
        with pytest.raises(q.IncompleteStreamError):
            client.stream("Hello", model="sim/cut-stream", reserve_credits=0.4).completion()
        with pytest.raises(q.UpstreamError):  # an HTTP error: the server charged nothing
            client.chat("Hello", model="sim/upstream-error", reserve_credits=0.1)
    cut, failed = ledger.records
    assert (cut.status, cut.credit, cut.credit_source) == ("truncated", 0.4, "estimated")
    assert (failed.status, failed.credit, failed.credit_source) == ("api_error", None, None)
    assert client.spent_credit == 0.4 and client.budget is not None and client.budget.reserved == 0


def test_reported_usage_is_marked_reported(sim: Simulator) -> None:
    ledger = HoldingLedger()
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as client:
        reply = client.chat("Hi", model=CHEAP, **SHORT)
    rec = ledger.records[0]
    assert (rec.credit, rec.credit_source, rec.replayed) == (reply.credit, "reported", False)
    assert client.spent_credit == reply.credit and client.budget is None


# --------------------------------------------------------------------------- replay


def test_a_replayed_call_reserves_nothing_and_counts_nowhere(
    sim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    with q.Client(sim.api_key, sim.base_url, record=path, ledger=False) as recorder:
        recorder.chat("Hi", model=CHEAP, **SHORT)
    ledger = HoldingLedger(budget=0.0)  # nothing may be spent: a replay spends nothing
    with q.Client(replay=path, ledger=ledger, budget_credits=0) as client:
        reply = client.chat("Hi", model=CHEAP, **SHORT)
        assert reply.credit == 0.066  # the recorded answer, usage and all
    rec = ledger.records[0]
    assert rec.replayed and rec.credit == 0.066 and rec.credit_source == "reported"
    assert client.spent_credit == 0 and ledger.asked == [] and ledger.spent == 0
    assert client.budget is not None and client.budget.reserved == 0
