"""Budgets you can see: the panels' meter, their refusal cards, the compare estimate, and
``%%chat``'s line under each reply. Against the real simulator, without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import qolaba_nb as q
from qolaba_nb._money import credit_number
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ChatPanel, ComparePanel

from .conftest import HoldingLedger

pytestmark = pytest.mark.integration

CHEAP = "openai/gpt-4o-mini"


def test_budget_status_names_the_tightest_budget(sim: Simulator) -> None:
    assert q.budget_status(q.Client(sim.api_key, sim.base_url, ledger=False)) is None
    client = q.Client(sim.api_key, sim.base_url, ledger=HoldingLedger(budget=3), budget_credits=5)
    status = q.budget_status(client)
    assert status is not None and (status.source, status.text) == (
        "ledger budget",
        "3 of 3 credits left",
    )
    client = q.Client(sim.api_key, sim.base_url, ledger=HoldingLedger(budget=9), budget_credits=5)
    with client:
        reply = client.chat("Hi", model=CHEAP, reserve_credits=0.1, max_tokens=40)
    assert reply.credit is not None
    status = q.budget_status(client)
    assert status is not None and status.source == "client budget"
    assert status.text == f"{credit_number(5 - reply.credit)} of 5 credits left"
    assert status.fraction == pytest.approx((5 - reply.credit) / 5)


async def test_a_chat_panel_on_a_budgeted_client_stops_at_the_budget(sim: Simulator) -> None:
    ledger = HoldingLedger()
    sync = q.Client(
        sim.api_key, sim.base_url, ledger=ledger, budget_credits=0.2, reserve_credits=0.07
    )
    panel = ChatPanel(sync, model=CHEAP, max_tokens=40)  # twinned: the same budget
    assert "0.2 of 0.2 credits left" in panel.meter.value
    for _ in range(2):
        await panel.send("Tell me about rivers")
    spent = sync.spent_credit
    assert 0 < spent <= 2 * 0.066
    assert f"{credit_number(0.2 - spent)} of 0.2 credits left" in panel.meter.value
    before = sim.stats.requests
    with pytest.raises(q.BudgetExceededError):
        await panel.send("One more?")
    assert sim.stats.requests == before  # nothing was sent
    card = panel.transcript.messages[-1]
    assert card["role"] == "error" and "Not sent: over budget" in card["html"]
    assert f"Client budget of 0.2 credits: {credit_number(spent)} spent" in card["html"]
    assert sync.spent_credit == pytest.approx(panel.total_credit) == pytest.approx(spent)
    assert len(ledger.records) == 2
    await panel.client.aclose()


async def test_the_compare_panel_shows_the_meter_and_the_estimate_before_sending(
    sim: Simulator,
) -> None:
    with UsageLedger(":memory:") as ledger:
        client = q.AsyncClient(
            sim.api_key, sim.base_url, ledger=ledger, budget_credits=1, reserve_credits=0.2
        )
        panel = ComparePanel([CHEAP, "sim/echo"], client=client, max_tokens=40)
        assert "no history for openai/gpt-4o-mini, sim/echo" in panel.estimate_line.value
        assert "1 of 1 credits left" in panel.meter.value
        frame = await panel.run("Name a river.")
        spent = float(frame["credit"].sum())
        left = credit_number(1 - spent)
        assert f"{left} of 1 credits left" in panel.meter.value
        line = panel.estimate_line.value
        assert "about " in line and "credits for 2 calls, from 2 past calls" in line
        panel.models = [CHEAP, "google/gemini-2.5-flash"]
        line = panel.estimate_line.value
        assert "for 1 call, from 1 past call; no history for google/gemini-2.5-flash" in line
        await client.aclose()


def test_a_blind_compare_panel_estimate_names_no_model(sim: Simulator) -> None:
    with UsageLedger(":memory:") as ledger:
        client = q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger, budget_credits=1)
        panel = ComparePanel([CHEAP, "sim/echo"], client=client, blind=True)
        line = panel.estimate_line.value
        assert "no history for 2 of the 2 models" in line
        assert CHEAP not in line and "sim/echo" not in line


async def test_a_compare_panel_column_refused_by_the_budget_says_so(sim: Simulator) -> None:
    client = q.AsyncClient(
        sim.api_key, sim.base_url, ledger=False, budget_credits=0.1, reserve_credits=0.07
    )
    panel = ComparePanel([CHEAP, "sim/echo"], client=client, max_tokens=40)
    frame = await panel.run("Hi")
    assert sorted(frame["status"]) == ["api_error", "ok"]
    refused = next(c for c in panel.columns if c.transcript.messages[-1]["role"] == "error")
    assert "Not sent: over budget" in refused.transcript.messages[-1]["html"]
    await client.aclose()


@pytest.fixture
def shell(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("QOLABA_API_KEY", sim.api_key)
    monkeypatch.setenv("QOLABA_BASE_URL", sim.base_url)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "qolaba_nb")
    magics = ip.magics_manager.registry["QolabaMagics"]
    magics.history, magics.model, magics._client = [], None, None
    yield ip
    magics._client = None


def shown(ip: Any, line: str, cell: str) -> str:
    with capture_output() as cap:
        ip.run_cell_magic("chat", line, cell)
    return str(cap.outputs[-1].data["text/html"])


def test_chat_magic_shows_what_is_left_and_the_refusal(shell: Any, sim: Simulator) -> None:
    client = q.Client(
        sim.api_key, sim.base_url, ledger=False, budget_credits=0.15, reserve_credits=0.07
    )
    shell.user_ns["budgeted"] = client
    out = shown(shell, f"-c budgeted -m {CHEAP} --max-tokens 40", "Hi")
    left = credit_number(0.15 - client.spent_credit)
    assert 0 < client.spent_credit <= 0.07
    assert out.endswith(f"<sub>budget: {left} of 0.15 credits left</sub></div></div>")
    shown(shell, "--max-tokens 40", "Again")  # the same client from now on
    spent = credit_number(client.spent_credit)
    out = shown(shell, "--max-tokens 40", "And again")
    assert "BudgetExceededError" in out and f"Client budget of 0.15 credits: {spent} spent" in out
    assert f"budget: {credit_number(0.15 - client.spent_credit)} of 0.15 credits left" in out
    assert "is not a qolaba_nb Client" in shown(shell, "-c nothing_here -m sim/echo", "Hi")
    client.close()
