"""ComparePanel against the simulator: columns, failures, the DataFrame, blind votes."""

from __future__ import annotations

import asyncio
import json
import re

import pandas as pd
import pytest

from qolaba_nb import AsyncClient, ValidationError
from qolaba_nb.comparison import COLUMNS
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ChatPanel, ComparePanel
from qolaba_nb.widgets.compare import VOTE_COLUMNS

from .conftest import SECRET_KEY, Wire, all_widgets
from .test_chat import card_text, until

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash", "sim/upstream-error"]


async def test_run_streams_every_model_and_returns_the_compare_frame(
    client: AsyncClient, ledger: UsageLedger, wire: Wire
) -> None:
    panel = ComparePanel(MODELS, client=client)
    frame = await panel.run("Name three rivers.")

    assert list(frame.columns) == [*COLUMNS, *VOTE_COLUMNS]
    assert list(frame["model"]) == MODELS
    assert list(frame["status"]) == ["ok", "ok", "api_error"]
    assert frame["vote"].isna().all()
    ok = frame[frame["status"] == "ok"]
    assert (ok["credit"] > 0).all() and (ok["chars_per_s"] > 0).all()

    # one column per model; each shows its own reply, the failure only in its column
    assert [c.model for c in panel.columns] == MODELS
    for column, row in zip(panel.columns, frame.to_dict(orient="records"), strict=True):
        last = column.transcript.messages[-1]
        if row["status"] == "ok":
            assert last["role"] == "assistant" and str(row["text"]).split()[0] in last["html"]
            assert "credits" in column.stats.value and "chars/s" in column.stats.value
        else:
            assert last["role"] == "error" and "502" in last["html"]
    # every column streamed: each transcript got delta messages before its final state
    for column in panel.columns[:2]:
        ops = [m.data.get("content", {}).get("op") for m in wire.of(column.transcript)]
        assert "delta" in ops

    # the summary table, escaped, and the ledger: one run id for the three calls
    assert panel.summary.value.count("<tr>") == 4
    calls = ledger.to_dataframe()
    assert len(calls) == 3 and calls["run_id"].nunique() == 1
    assert calls["run_id"].iloc[0] == frame["run_id"].iloc[0]
    pd.testing.assert_frame_equal(panel.results, frame)


async def test_blind_mode_hides_names_until_the_vote(client: AsyncClient) -> None:
    models = MODELS[:2]
    panel = ComparePanel(models, client=client, blind=True)
    frame = await panel.run("Which river is longest?")

    labels = [c.label for c in panel.columns]
    assert labels == ["Model A", "Model B"]
    for column in panel.columns:
        assert column.model not in column.title.value
        assert all(column.model not in m["label"] for m in column.transcript.messages)
        assert not column.vote_button.disabled
    assert not any(m in panel.summary.value for m in models)

    winner = panel.columns[1]
    winner.vote_button.click()
    assert frame["vote"].tolist() == [m == winner.model for m in frame["model"]]
    assert panel.results["vote"].sum() == 1
    for column in panel.columns:
        assert column.model in column.title.value  # revealed
        assert column.vote_button.disabled
    assert all(m in panel.summary.value for m in models)


async def test_vote_by_label_or_model(client: AsyncClient) -> None:
    panel = ComparePanel(MODELS[:2], client=client, blind=True)
    await panel.run("Hi")
    panel.vote("Model A")
    first = panel.columns[0].model
    assert panel.results.set_index("model")["vote"][first]
    await panel.run("Again")
    panel.vote(MODELS[1])
    results = panel.results
    assert len(results) == 4 and results["run_id"].nunique() == 2
    assert results["vote"].sum() == 2


async def test_a_selection_outside_2_to_6_models_is_refused(client: AsyncClient) -> None:
    panel = ComparePanel(["openai/gpt-4o"], client=client)
    assert "Pick 2 to 6 models" in panel.model_note.value
    assert panel.send_button.disabled
    with pytest.raises(ValidationError):
        await panel.run("hello")
    panel.models = MODELS
    assert panel.model_note.value == "" and not panel.send_button.disabled


def test_bad_params_fail_at_once(client: AsyncClient) -> None:
    with pytest.raises(ValidationError, match="temperature"):
        ComparePanel(MODELS, client=client, temperature=5)


async def test_stop_is_the_stop_sequences_of_every_call(
    client: AsyncClient, ledger: UsageLedger
) -> None:
    panel = ComparePanel(["sim/echo", "sim/echo"], client=client, stop=[" rivers"])
    frame = await panel.run("Name three rivers.")
    assert list(frame["status"]) == ["ok", "ok"]
    assert list(frame["text"]) == ["Name three", "Name three"]  # cut before the stop sequence
    assert list(frame["finish_reason"]) == ["stop", "stop"]


def test_an_event_as_stop_says_the_panel_has_its_own_stop(client: AsyncClient) -> None:
    import asyncio

    with pytest.raises(TypeError, match=r"stop sequences.*Stop button"):
        ComparePanel(MODELS, client=client, stop=asyncio.Event())  # type: ignore[arg-type]


async def test_no_key_in_the_compare_panel_state(client: AsyncClient) -> None:
    panel = ComparePanel(MODELS[:2], client=client, blind=True)
    await panel.run("hello")
    for widget in all_widgets(panel):
        assert SECRET_KEY not in json.dumps(widget.get_state(), default=str)
    assert repr(panel) == "<ComparePanel models=2 runs=1 blind=True>"


async def test_a_failed_column_has_one_card_with_one_title(
    sim: Simulator, ledger: UsageLedger
) -> None:
    models = ["sim/echo", "sim/upstream-error", "sim/rate-limited"]
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger, max_retries=0) as c:
        panel = ComparePanel(models, client=c)
        frame = await panel.run("hello")
    assert list(frame["status"]) == ["ok", "api_error", "api_error"]
    for column, code in zip(panel.columns[1:], ("502", "429"), strict=True):
        cards = [m for m in column.transcript.messages if m["role"] == "error"]
        assert len(cards) == 1
        html = str(cards[0]["html"])
        assert html.count("<strong>") == 1, html
        assert html.count(f"HTTP {code}") == 1, html
        # as in the ChatPanel's card: the 502 names its request id, the 429 its wait
        assert html.lower().count("request id") == (code == "502"), html
        assert html.lower().count("retry after") == (code == "429"), html


async def test_a_failed_column_has_the_chat_panels_card_for_the_same_error(
    sim: Simulator, ledger: UsageLedger
) -> None:
    failing = ["sim/upstream-error", "sim/rate-limited"]
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger, max_retries=0) as c:
        panel = ComparePanel(["sim/echo", *failing], client=c)
        frame = await panel.run("hello")
        chat_titles = []
        for model in failing:
            chat = ChatPanel(c, model=model)
            with pytest.raises(Exception):  # noqa: B017 - each model fails its own way
                await chat.send("hello")
            chat_card = chat.transcript.messages[-1]
            chat_titles.append(re.match(r"<p><strong>(.*?)</strong></p>", chat_card["html"]))
    assert [m.group(1) if m else None for m in chat_titles] == [
        "API error (HTTP 502)",
        "Rate limited (HTTP 429)",
    ]
    # the frame's row keeps the error as a string
    assert all(isinstance(e, str) for e in frame["error"].iloc[1:])
    for column, match in zip(panel.columns[1:], chat_titles, strict=True):
        assert match is not None
        title = match.group(1)
        cards = [m for m in column.transcript.messages if m["role"] == "error"]
        assert len(cards) == 1
        html = str(cards[0]["html"])
        assert html.startswith(f"<p><strong>{title}</strong></p>"), html
        assert card_text(cards[0]).count(title.lower()) == 1, html
        assert "Failed" not in html and "UpstreamError" not in html, html


async def test_the_status_line_clears_when_the_selection_is_fixed(client: AsyncClient) -> None:
    panel = ComparePanel(["sim/echo", "openai/gpt-4o"], client=client)
    panel.models = ["sim/echo"]  # one model: nothing to compare
    panel.prompt.submit("hello")
    assert "Pick 2 to" in panel.status.value and panel.send_button.disabled
    with pytest.raises(ValidationError):
        await panel.run("hello")
    assert "Pick 2 to" in panel.status.value

    panel.models = ["sim/echo", "openai/gpt-4o"]  # fixed
    assert panel.status.value == "" and panel.model_note.value == ""
    assert not panel.send_button.disabled


async def test_stopping_clears_when_the_run_is_over(sim: Simulator) -> None:
    slow = {"x-sim-chunks": "40", "x-sim-chunk-delay": "0.05"}
    async with AsyncClient(sim.api_key, sim.base_url, headers=slow) as c:
        panel = ComparePanel(["sim/echo", "openai/gpt-4o"], client=c)
        run = asyncio.ensure_future(panel.run("Tell me about rivers"))
        await until(lambda: any(col.live for col in panel.columns))
        await asyncio.sleep(0.1)
        panel.stop()
        assert "Stopping" in panel.status.value
        frame = await run
    assert set(frame["status"]) == {"cancelled"}
    assert panel.status.value == ""
