"""Every call a client makes lands in a real ledger once, whatever its outcome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import qolaba_nb as q
from qolaba_nb.comparison import compare
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


def test_each_outcome_is_recorded_once_with_what_is_known(sim: Simulator, tmp_path: Path) -> None:
    ledger = UsageLedger(tmp_path / "usage.sqlite")
    with q.Client(sim.api_key, sim.base_url, ledger=ledger, max_retries=0, tag="t") as client:
        client.chat("Hello", model="openai/gpt-4o", temperature=0.3)
        with pytest.raises(q.UpstreamError):
            client.chat("Hello", model="sim/upstream-error")
        with pytest.raises(q.IncompleteStreamError):
            client.stream("Hello", model="sim/cut-stream").completion()
        with client.stream("Hello", model="sim/slow") as stream:
            next(c for c in stream if c.delta)
        with pytest.raises(q.ValidationError):
            client.chat("Hello", model="openai/gpt-4o", top_p=3)  # never sent, never recorded
    broken = q.Client(sim.api_key, "http://127.0.0.1:9", ledger=ledger, max_retries=0)
    with broken, pytest.raises(q.APIConnectionError):
        broken.chat("Hello", model="openai/gpt-4o")

    df = ledger.to_dataframe()
    assert list(df["status"]) == ["ok", "api_error", "truncated", "cancelled", "connection_error"]
    ok, api_error, truncated, cancelled, conn = (df.iloc[i] for i in range(5))
    assert ok["credit"] > 0 and ok["params"] == {"temperature": 0.3} and ok["tag"] == "t"
    assert api_error["http_status"] == 502 and "UpstreamError" in api_error["error"]
    assert truncated["completion_chars"] > 0 and truncated["kind"] == "stream"
    assert cancelled["completion_chars"] > 0
    assert pd.isna(conn["http_status"]) and df["session"].nunique() == 1
    assert df["prompt_text"].isna().all()  # text only with store_text=True


def test_store_text_keeps_prompt_and_reply(sim: Simulator) -> None:
    ledger = UsageLedger(":memory:", store_text=True)
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as client:
        reply = client.chat("Echo this", model="sim/echo")
    row = ledger.to_dataframe().iloc[0]
    assert row["completion_text"] == reply.text == "Echo this"
    assert "Echo this" in row["prompt_text"]


def test_a_ledger_budget_stops_the_next_call_and_spending_shows_at_once(sim: Simulator) -> None:
    ledger = UsageLedger(":memory:")
    ledger.set_budget(0.01, tag="demo")
    with q.Client(sim.api_key, sim.base_url, ledger=ledger, tag="demo") as client:
        # An empty ledger would reserve 1 credit, which 0.01 cannot hold: reserve less, so
        # this call is sent (and costs more than it reserved).
        client.chat("Hello", model="openai/gpt-4o", reserve_credits=0.005)
        spent, _ = ledger.spent(tag="demo")
        assert spent > 0.01
        before = sim.stats.requests
        with pytest.raises(q.BudgetExceededError, match="credits"):
            client.chat("Hello again", model="openai/gpt-4o")
        assert sim.stats.requests == before
        client.chat("Another tag is not limited", model="openai/gpt-4o", tag="other")


def test_compare_shows_a_progress_bar(sim: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=UsageLedger(":memory:")) as client:
        compare(["Hi"], ["sim/echo", "openai/gpt-4o"], client=client, progress=True)
    err = capsys.readouterr().err
    assert "compare" in err and "2/2" in err
