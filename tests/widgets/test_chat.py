"""ChatPanel against the simulator, without a browser: what it shows, sends, records."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import ipywidgets as w
import pytest

from qolaba_nb import (
    AsyncClient,
    Client,
    RateLimitError,
    UpstreamError,
    ValidationError,
)
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ChatPanel
from qolaba_nb.widgets._tools import tool_schema

from .conftest import SECRET_KEY, Wire, all_widgets

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def upload(name: str, mime: str, data: bytes) -> dict[str, object]:
    """One item of ``FileUpload.value``, as the browser sends it."""
    when = datetime(2025, 1, 1, tzinfo=UTC)
    return {"name": name, "type": mime, "size": len(data), "content": data, "last_modified": when}


def roles(panel: ChatPanel) -> list[str]:
    return [m["role"] for m in panel.transcript.messages]


# --------------------------------------------------------------------------- a reply


async def test_a_reply_lands_in_transcript_conversation_and_ledger(
    client: AsyncClient, ledger: UsageLedger
) -> None:
    panel = ChatPanel(client, model="google/gemini-2.5-flash", system="Be brief.")
    reply = await panel.send("Tell me about rivers")

    assert reply.text and reply.finish_reason == "stop"
    assert roles(panel) == ["user", "assistant"]
    last = panel.transcript.messages[-1]
    assert "status" not in last and last["label"] == "google/gemini-2.5-flash"  # "ok" is implied
    assert reply.text.split()[0] in last["html"]
    # credit, cost, latency, time to first token, length and speed under the reply (the
    # label above it names the model)
    assert re.fullmatch(
        r"[\d.]+ credits · \$[\d.]+ · [\d.]+ s · first token [\d.]+ s"
        r" · [\d,]+ chars · [\d,]+ chars/s",
        last["meta"],
    )
    assert f"{len(reply.text):,} chars" in last["meta"]
    assert f"{reply.credit:g} credits" in panel.header.value
    assert panel.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about rivers"},
        {"role": "assistant", "content": reply.text},
    ]
    rows = ledger.to_dataframe()
    assert list(rows["status"]) == ["ok"] and list(rows["model"]) == ["google/gemini-2.5-flash"]


async def test_the_model_picker_lists_the_api_models(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o")
    await until(lambda: panel.models_loaded)
    assert {"openai/gpt-4o", "sim/slow", "google/gemini-2.5-flash"} <= set(
        panel.model_picker.options
    )
    assert panel.model == "openai/gpt-4o"
    assert panel.model_note.value == ""


async def test_without_a_model_list_the_given_model_stays_with_a_note(ledger: UsageLedger) -> None:
    async with AsyncClient("k", "http://127.0.0.1:9", ledger=ledger, max_retries=0) as down:
        panel = ChatPanel(down, model="openai/gpt-4o")
        await until(lambda: panel.model_note.value)
    assert panel.model_picker.options == ("openai/gpt-4o",)
    assert "Could not load the model list" in panel.model_note.value
    assert "using openai/gpt-4o" in panel.model_note.value


async def test_a_sync_client_is_twinned_into_an_async_one(
    sim: Simulator, ledger: UsageLedger
) -> None:
    with Client(sim.api_key, sim.base_url, ledger=ledger, tag="sync") as sync_client:
        panel = ChatPanel(sync_client, model="sim/echo")
        assert isinstance(panel.client, AsyncClient)
        assert panel.client.base_url == sim.base_url
        assert panel.client.ledger is ledger and panel.client.tag == "sync"
        reply = await panel.send("ping")
        await panel.client.aclose()
    assert reply.text.strip() == "ping"
    assert list(ledger.to_dataframe()["tag"]) == ["sync"]


async def test_enter_sends_in_the_background_and_the_kernel_stays_free(
    client: AsyncClient,
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    started = time.perf_counter()
    panel.prompt.submit("hello there")  # what Enter does in the browser
    assert time.perf_counter() - started < 0.05  # returned at once: the reply is a task
    assert panel.prompt.value == ""
    await until(lambda: roles(panel) == ["user", "assistant"])
    assert "hello there" in panel.transcript.messages[-1]["html"]


async def test_send_button_reads_the_prompt(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="sim/echo")
    panel.prompt.value = "from the button"
    panel.send_button.click()
    await until(lambda: len(panel.transcript.messages) == 2)
    assert "from the button" in panel.transcript.messages[-1]["html"]


def on_a_subshell_thread(action: Callable[[], object]) -> None:
    """Run ``action`` the way ipykernel runs a widget message from JupyterLab: on another
    thread (a kernel subshell), inside that thread's own event loop."""

    async def handle() -> None:
        action()

    thread = threading.Thread(target=asyncio.run, args=(handle(),))
    thread.start()
    thread.join()


async def test_widget_messages_from_a_subshell_thread_run_on_the_kernel_loop(
    client: AsyncClient,
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    await until(lambda: panel.models_loaded)  # the connection pool now lives on this loop
    content = {"event": "submit", "value": "from a subshell"}
    on_a_subshell_thread(lambda: panel.prompt._handle_custom_msg(content, []))
    await until(lambda: len(panel.transcript.messages) == 2)
    assert "from a subshell" in panel.transcript.messages[-1]["html"]
    assert panel.transcript.messages[-1].get("status", "ok") == "ok"

    panel.model = "sim/slow"
    task = asyncio.create_task(panel.send("slowly"))
    await until(lambda: panel.transcript.live is not None and panel.transcript.live.text)
    started = time.perf_counter()
    on_a_subshell_thread(panel.stop_button.click)  # Stop, clicked while the reply streams
    await asyncio.wait_for(task, 0.5)
    assert time.perf_counter() - started < 0.5
    assert panel.transcript.messages[-1]["status"] == "stopped"


# --------------------------------------------------------------------------- safety


async def test_hostile_html_in_a_reply_is_shown_as_text(client: AsyncClient, wire: Wire) -> None:
    panel = ChatPanel(client, model="sim/xss")
    await panel.send("hello")
    html = panel.transcript.messages[-1]["html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=" in html
    assert "<script" not in html and "<img" not in html
    assert not re.search(r"<[^>]*\sonerror\s*=", html)
    assert "<table>" in html and "<code" in html  # the Markdown around it still renders
    # the HTML that went out while streaming is just as clean (plain text goes as text)
    for msg in wire.of(panel.transcript):
        for block in msg.data.get("content", {}).get("blocks", []):
            assert "<script" not in block and "<img" not in block


async def test_the_api_key_is_in_no_widget_state(client: AsyncClient, wire: Wire) -> None:
    panel = ChatPanel(client, model="sim/echo")
    await panel.send("hi")
    widgets = all_widgets(panel)
    assert len(widgets) > 20  # the walk reached the children, their layouts and styles
    for widget in widgets:
        assert SECRET_KEY not in json.dumps(widget.get_state(), default=str)
    assert all(SECRET_KEY not in json.dumps(m.data, default=str) for m in wire.messages)
    assert SECRET_KEY not in repr(panel)
    assert SECRET_KEY not in panel.to_json() + panel.to_markdown()


def test_repr_is_short_and_stable(sim: Simulator) -> None:
    panel = ChatPanel(AsyncClient(sim.api_key, sim.base_url, ledger=False), model="openai/gpt-4o")
    assert repr(panel) == "<ChatPanel model='openai/gpt-4o' messages=0>"
    assert panel._repr_mimebundle_()["text/plain"] == repr(panel)


# --------------------------------------------------------------------------- streaming traffic


async def test_a_2000_chunk_reply_is_batched(
    sim: Simulator, ledger: UsageLedger, wire: Wire
) -> None:
    headers = {"x-sim-chunks": "2000", "x-sim-chunk-delay": "0.0005"}
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger, headers=headers) as c:
        panel = ChatPanel(c, model="openai/gpt-4o")
        await until(lambda: panel.models_loaded)
        mark = wire.mark()
        started = time.perf_counter()
        reply = await panel.send("Explain batching")
        seconds = time.perf_counter() - started
    sent = wire.since(mark, panel.transcript)
    deltas = [m for m in sent if m.data.get("content", {}).get("op") == "delta"]
    state = [m for m in sent if m.data.get("method") == "update"]
    added = [m for m in sent if m.data.get("content", {}).get("op") == "add"]
    assert len(reply.text) > 8000
    assert len(deltas) <= 20 * seconds + 2, (len(deltas), seconds)
    assert len(added) == 2  # the user message, then the finished reply: once each
    assert state == []  # never the whole list again
    final_html = len(panel.transcript.messages[-1]["html"])
    assert sum(m.size for m in sent) <= 3 * final_html


async def test_a_stopped_reply_shows_and_counts_its_estimated_credit(
    sim: Simulator, ledger: UsageLedger
) -> None:
    # a stopped stream gets no usage from the server: the client records an estimate (here
    # what the call reserved, as the ledger has no history of sim/slow to fit on)
    async with AsyncClient(
        sim.api_key, sim.base_url, ledger=ledger, budget_credits=10, reserve_credits=0.07
    ) as c:
        panel = ChatPanel(c, model="sim/echo")
        first = await panel.send("one")
        panel.model = "sim/slow"
        task = asyncio.create_task(panel.send("Say a lot, slowly"))
        await until(lambda: panel.transcript.live is not None and panel.transcript.live.text)
        panel.stop()
        await asyncio.wait_for(task, 2.0)

    row = ledger.to_dataframe().iloc[-1]
    assert row["status"] == "cancelled" and row["credit_source"] == "estimated"
    assert row["credit"] == 0.07
    last = panel.transcript.messages[-1]
    assert last["status"] == "stopped"
    assert last["meta"].startswith("≈0.07 credits (estimated) · ")
    assert first.credit is not None
    assert panel.total_credit == pytest.approx(first.credit + 0.07)  # counted in the total
    assert panel.total_estimated == pytest.approx(0.07)
    total = f"{first.credit + 0.07:.6g} credits (≈0.07 estimated)"
    assert f"session: {total}" in panel.header.value
    assert f"*Session: {total}" in panel.to_markdown()
    usage = panel.to_dict()["messages"][-1]["usage"]
    assert usage["credit"] == 0.07 and usage["credit_estimated"] is True
    reopened = ChatPanel(AsyncClient(sim.api_key, sim.base_url, ledger=False), model="sim/echo")
    reopened.messages = panel.to_dict()["messages"]  # still marked once loaded
    assert reopened.transcript.messages[-1]["meta"].startswith("≈0.07 credits (estimated)")


async def test_reasoning_grows_above_the_reply_while_it_streams(
    sim: Simulator, ledger: UsageLedger, wire: Wire
) -> None:
    headers = {"x-sim-reasoning": "0.6"}  # the simulator thinks aloud for 0.6 s first
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger, headers=headers) as c:
        panel = ChatPanel(c, model="openai/gpt-4o")
        mark = wire.mark()
        task = asyncio.create_task(panel.send("Why is the sky blue?"))
        lengths: list[int] = []  # the live reasoning's length each time it changed
        while not task.done():
            live = panel.transcript.live
            if live is not None and len(live.reasoning) > (lengths[-1] if lengths else 0):
                assert not live.text  # it comes before the reply
                lengths.append(len(live.reasoning))
            await asyncio.sleep(0.01)
        reply = await task
    assert len(lengths) >= 3, lengths  # seen growing, not arriving at once at the end
    ops = [m.data["content"] for m in wire.since(mark, panel.transcript) if m.method == "custom"]
    deltas = [op for op in ops if op["op"] == "delta"]
    thought = [op["reasoning"] for op in deltas if "reasoning" in op]
    assert len(thought) >= 3 and "".join(thought) == reply.reasoning
    first_text = next(i for i, op in enumerate(deltas) if op["text"] or op["blocks"])
    assert all("reasoning" in op for op in deltas[:first_text])
    last = panel.transcript.messages[-1]
    assert "Simulated reasoning" in last["reasoning"]
    seconds = re.fullmatch(r"Thought for ([\d.]+) s", last["reasoning_label"])
    assert seconds and float(seconds.group(1)) >= 0.4  # it paused 0.6 s over 7 pieces
    assert panel.messages[-1] == {"role": "assistant", "content": reply.text}  # never sent


# --------------------------------------------------------------------------- stop


async def test_stop_closes_the_connection_and_keeps_the_partial_reply(
    client: AsyncClient, ledger: UsageLedger, sim: Simulator
) -> None:
    panel = ChatPanel(client, model="sim/slow")
    task = asyncio.create_task(panel.send("Say a lot, slowly"))
    await until(lambda: panel.transcript.live is not None and panel.transcript.live.text)
    assert panel.busy and not panel.stop_button.disabled
    disconnects = sim.stats["disconnects"]

    started = time.perf_counter()
    panel.stop()
    reply = await asyncio.wait_for(task, 0.5)
    assert time.perf_counter() - started < 0.5

    assert reply.text and reply.finish_reason is None
    last = panel.transcript.messages[-1]
    assert last["status"] == "stopped" and "stopped" in last["meta"]
    assert reply.text.split()[0] in last["html"]
    assert panel.messages[-1] == {"role": "assistant", "content": reply.text}
    assert list(ledger.to_dataframe()["status"]) == ["cancelled"]
    await until(lambda: sim.stats["disconnects"] == disconnects + 1, within=1.0)
    assert not panel.busy and panel.stop_button.disabled
    # and the conversation goes on
    panel.model = "sim/echo"
    assert (await panel.send("again")).text.strip() == "again"


async def test_clear_while_streaming_stops_and_keeps_nothing(
    client: AsyncClient, ledger: UsageLedger
) -> None:
    panel = ChatPanel(client, model="sim/slow")
    task = asyncio.create_task(panel.send("Say a lot, slowly"))
    await until(lambda: panel.transcript.live is not None and panel.transcript.live.text)
    with pytest.raises(RuntimeError, match="still streaming"):
        await panel.send("and another thing")  # one reply at a time
    panel.clear_button.click()
    await asyncio.wait_for(task, 0.5)
    assert panel.messages == [] and panel.transcript.messages == []
    assert panel.replies == 1  # what it cost still counts
    assert list(ledger.to_dataframe()["status"]) == ["cancelled"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", "3", "between 0 and 2"),
        ("temperature", "hot", "must be a number"),
        ("top_p", "1.5", "between 0 and 1"),
        ("max_tokens", "0", "positive integer"),
        ("max_tokens", "2.5", "positive integer"),
        ("presence_penalty", "x", "must be a number"),
        ("stop", "a, b\nc, d, e", "at most 4"),
    ],
    ids=["temp-range", "temp-text", "top_p", "max_tokens-0", "max_tokens-float", "penalty", "stop"],
)
async def test_an_invalid_control_shows_its_error_and_nothing_is_sent(
    client: AsyncClient, ledger: UsageLedger, sim: Simulator, field: str, value: str, message: str
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    await until(lambda: panel.models_loaded)
    requests = sim.stats["requests"]
    panel.params.fields[field].text.value = value

    assert message in panel.params.fields[field].error.value  # next to the control
    assert all(f.error.value == "" for n, f in panel.params.fields.items() if n != field)
    assert panel.send_button.disabled
    panel.prompt.submit("hello")  # Enter
    assert "Fix the settings" in panel.status.value
    assert panel.prompt.value == "hello"  # the text is not lost
    with pytest.raises(ValidationError) as info:
        await panel.send("hello")
    assert info.value.param == field
    await asyncio.sleep(0.05)
    assert sim.stats["requests"] == requests and len(ledger) == 0
    assert panel.transcript.messages == []

    panel.params.fields[field].text.value = ""  # back to the default: fine again
    assert not panel.send_button.disabled


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", "5"), ("max_tokens", "0")], ids=["temperature", "max"]
)
async def test_the_status_line_clears_when_the_setting_is_fixed(
    client: AsyncClient, field: str, value: str
) -> None:
    panel = ChatPanel(client, model="sim/echo")
    panel.params.fields[field].text.value = value
    panel.prompt.submit("hello")  # Enter: refused, the status line says why
    assert "Fix the settings" in panel.status.value and panel.send_button.disabled
    with pytest.raises(ValidationError):
        await panel.send("hello")  # the Python twin words it its own way
    assert f"Fix {field} first" in panel.status.value

    panel.params.fields[field].text.value = "1"  # fixed
    assert panel.status.value == ""
    assert panel.params.fields[field].error.value == ""
    assert not panel.send_button.disabled
    panel.prompt.submit()  # the text kept in the box goes now
    await until(lambda: len(panel.messages) == 2)


async def test_the_status_line_clears_when_an_image_replaces_a_refused_file(
    client: AsyncClient,
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o")
    panel.upload.value = (upload("notes.txt", "text/plain", b"hi"),)
    assert "not an image" in panel.status.value
    panel.prompt.emit("files", [("dot.png", "image/png", PNG_1PX)])  # pasted instead
    assert panel.status.value == "" and panel.attachments == ["dot.png"]
    assert not panel.send_button.disabled


async def test_a_busy_refusal_clears_when_the_reply_ends(sim: Simulator) -> None:
    slow = {"x-sim-chunks": "20", "x-sim-chunk-delay": "0.02"}
    async with AsyncClient(sim.api_key, sim.base_url, headers=slow) as c:
        panel = ChatPanel(c, model="sim/echo")
        panel.prompt.submit("first")
        await until(lambda: panel.busy)
        panel.prompt.submit("second")  # too early
        assert "still streaming" in panel.status.value
        await until(lambda: not panel.busy)
        assert panel.status.value == "" and not panel.send_button.disabled
        assert panel.prompt.value == "second"  # kept for the user to send


async def test_valid_controls_are_sent_with_the_request(
    client: AsyncClient, sim: Simulator
) -> None:
    panel = ChatPanel(client, model="sim/echo", temperature=0.2, stop=["\n\n", "END"])
    panel.params.fields["max_tokens"].text.value = "64"
    await panel.send("hi")
    body = sim.requests_log[-1]["json"]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64
    assert body["stop"] == ["\n\n", "END"]
    assert panel.params.fields["stop"].text.value == "\\n\\n, END"  # shown escaped


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("model", "error", "title"),
    [
        ("sim/rate-limited", RateLimitError, "Rate limited (HTTP 429)"),
        ("sim/upstream-error", UpstreamError, "API error (HTTP 502)"),
    ],
    ids=["429", "502"],
)
async def test_api_errors_show_as_a_card_and_the_chat_goes_on(
    sim: Simulator,
    ledger: UsageLedger,
    model: str,
    error: type[Exception],
    title: str,
) -> None:
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger, max_retries=0) as c:
        panel = ChatPanel(c, model=model)
        with pytest.raises(error):
            await panel.send("hello")
        card = panel.transcript.messages[-1]
        assert card["role"] == "error"
        assert title in card["html"]
        if error is RateLimitError:
            assert "Retry after 1 s" in card["html"]
            await until(lambda: "send again in 1 s" in panel.status.value)
        assert not panel.busy and not panel.send_button.disabled

        panel.model = "sim/echo"
        reply = await panel.send("still here?")
    assert reply.text.strip() == "still here?"
    assert roles(panel) == ["user", "error", "user", "assistant"]
    assert list(ledger.to_dataframe()["status"]) == ["api_error", "ok"]


def card_text(card: dict[str, object]) -> str:
    return re.sub(r"<[^>]+>", " ", str(card["html"])).lower()


@pytest.mark.parametrize(
    ("model", "title"),
    [
        ("sim/rate-limited", "Rate limited (HTTP 429)"),
        ("sim/upstream-error", "API error (HTTP 502)"),
        ("sim/mid-stream-error", "The stream reported an error"),
        ("sim/cut-stream", "The reply was cut off"),
    ],
    ids=["429", "502", "stream-error", "cut-off"],
)
async def test_an_error_card_says_its_title_once(
    sim: Simulator, ledger: UsageLedger, model: str, title: str
) -> None:
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger, max_retries=0) as c:
        panel = ChatPanel(c, model=model)
        with pytest.raises(Exception):  # noqa: B017 - each model fails its own way
            await panel.send("hello")
    cards = [m for m in panel.transcript.messages if m["role"] == "error"]
    assert len(cards) == 1
    html = str(cards[0]["html"])
    assert html.count("<strong>") == 1 and html.startswith(f"<p><strong>{title}</strong></p>")
    text = card_text(cards[0])
    assert text.count(title.lower()) == 1, html
    assert text.count("retry after") <= 1, html  # the server's own words are not doubled
    assert text.count("request id") <= 1, html


async def test_a_connection_error_card_says_connection_error_once(
    ledger: UsageLedger,
) -> None:
    async with AsyncClient("k", "http://127.0.0.1:9", ledger=ledger, max_retries=0) as down:
        panel = ChatPanel(down, model="sim/echo")
        with pytest.raises(Exception, match="connection error"):
            await panel.send("anyone?")
    card = panel.transcript.messages[-1]
    assert card_text(card).count("connection error") == 1, card["html"]
    assert "ConnectError" in str(card["html"])  # what failed is still said


async def test_a_connection_error_shows_as_a_card(ledger: UsageLedger) -> None:
    async with AsyncClient("k", "http://127.0.0.1:9", ledger=ledger, max_retries=0) as down:
        panel = ChatPanel(down, model="sim/echo")
        with pytest.raises(Exception, match="connection error"):
            await panel.send("anyone?")
    assert "Connection error" in panel.transcript.messages[-1]["html"]


async def test_a_failing_background_task_is_shown_in_the_panel(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="sim/echo")

    async def broken(text: str) -> None:
        raise ZeroDivisionError("a bug")

    panel.send = broken  # type: ignore[method-assign,assignment]
    panel.prompt.submit("hi")
    await until(lambda: "ZeroDivisionError" in panel.status.value)
    assert "a bug" in panel.transcript.messages[-1]["html"]


# --------------------------------------------------------------------------- tools and images


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, object]:
    """Current weather for a city.

    Args:
        city: The city name, e.g. Paris.
        unit: Temperature unit.
    """
    return {"city": city, "temperature": 21, "unit": unit}


def test_a_tool_schema_comes_from_the_signature_and_docstring() -> None:
    assert tool_schema(get_weather) == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city name, e.g. Paris."},
                    "unit": {"enum": ["celsius", "fahrenheit"], "description": "Temperature unit."},
                },
                "required": ["city"],
            },
        },
    }


async def test_python_tools_run_and_the_model_gets_their_result(
    client: AsyncClient, ledger: UsageLedger
) -> None:
    calls: list[str] = []

    def lookup(city: str) -> dict[str, object]:
        calls.append(city)
        return get_weather(city)

    lookup.__doc__ = get_weather.__doc__
    panel = ChatPanel(client, model="openai/gpt-4o", tools=[lookup])
    reply = await panel.send("What is the weather in Paris?")

    assert calls == ["Paris"]
    convo = panel.messages
    assert [m["role"] for m in convo] == ["user", "assistant", "tool", "assistant"]
    call = convo[1]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert convo[2]["tool_call_id"] == call["id"]
    assert json.loads(convo[2]["content"])["temperature"] == 21
    assert "The tool returned" in reply.text
    labels = [m.get("label") for m in panel.transcript.messages]
    assert "tool call · lookup" in labels and "tool result · lookup" in labels
    assert len(ledger) == 2


async def test_tool_rounds_are_bounded(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o", tools=[get_weather], max_tool_rounds=0)
    reply = await panel.send("Weather in Rome?")
    assert reply.finish_reason == "tool_calls"
    assert panel.transcript.messages[-1]["role"] == "note"
    assert [m["role"] for m in panel.messages] == ["user", "assistant"]


async def test_an_uploaded_image_becomes_an_image_url_part(
    client: AsyncClient, sim: Simulator
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o")
    panel.upload.value = (upload("dot.png", "image/png", PNG_1PX),)
    await panel.send("What is in this picture?")

    content = panel.messages[0]["content"]
    assert content[0] == {"type": "text", "text": "What is in this picture?"}
    url = content[1]["image_url"]["url"]
    assert content[1]["type"] == "image_url"
    assert url == "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    assert sim.requests_log[-1]["json"]["messages"][0]["content"][1]["image_url"]["url"] == url
    assert panel.upload.value == ()  # attachments go with one message
    assert "dot.png" in panel.transcript.messages[0]["html"]
    assert "base64" not in panel.transcript.messages[0]["html"]  # the state stays small


async def test_a_file_that_is_not_an_image_is_refused_and_never_blocks(
    client: AsyncClient,
) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o")
    panel.upload.value = (upload("notes.txt", "text/plain", b"hi"),)
    assert "notes.txt is not an image (text/plain): not attached" in panel.status.value
    assert panel.upload.value == () and panel.attachments == []  # nothing held back
    reply = await panel.send("read this")  # the panel goes on
    assert reply.text and panel.messages[0]["content"] == "read this"
    with pytest.raises(ValidationError, match="not an image"):
        panel.attach_image(b"%PDF-1.4", "paper.pdf")


# --------------------------------------------------------------------------- exports


async def test_exports_carry_the_conversation_and_per_reply_usage(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="openai/gpt-4o", system="Be brief.", temperature=0.5)
    first = await panel.send("Name a river")
    panel.model = "sim/echo"
    await panel.send("echo me")

    md = panel.to_markdown()
    assert "**System:** Be brief." in md
    assert md.count("## You") == 2
    assert "## Assistant (openai/gpt-4o)" in md and first.text in md
    assert f"openai/gpt-4o · {first.credit:g} credits" in md

    data = json.loads(panel.to_json())
    assert data["params"] == {"temperature": 0.5}
    msgs = data["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs[2]["usage"]["credit"] == first.credit and msgs[2]["usage"]["status"] == "ok"
    assert msgs[4]["usage"]["model"] == "sim/echo"
    assert data["total"]["credit"] == pytest.approx(panel.total_credit)


async def test_clear_forgets_the_conversation_but_not_the_spending(client: AsyncClient) -> None:
    panel = ChatPanel(client, model="sim/echo")
    await panel.send("one")
    spent = panel.total_credit
    panel.clear()
    assert panel.messages == [] and panel.transcript.messages == []
    assert panel.total_credit == spent > 0


def test_the_panel_is_a_widget_that_displays_itself(sim: Simulator) -> None:
    panel = ChatPanel(AsyncClient(sim.api_key, sim.base_url, ledger=False))
    assert isinstance(panel, w.VBox)
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.model_id


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temprature": 1}, "did you mean 'temperature'"),
        ({"temperature": 7}, "temperature"),
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
    ],
)
def test_a_bad_request_field_is_refused_when_the_panel_is_made(
    client: AsyncClient, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ChatPanel(client, model="openai/gpt-4o", **params)
