"""The client against the built-in simulator over a real loopback socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

import qolaba_nb as q
from qolaba_nb.simulator import Simulator
from tests.helpers import ListLedger

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as s:
        yield s


@pytest.fixture
def ledger() -> ListLedger:
    return ListLedger()


def wait_for(predicate: Any, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def test_chat_and_stream_give_the_same_text_and_keep_usage(
    sim: Simulator, ledger: ListLedger
) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as client:
        reply = client.chat("Name a river.", model="openai/gpt-4o-mini", temperature=0)
        with client.stream("Name a river.", model="openai/gpt-4o-mini", temperature=0) as stream:
            deltas = list(stream.text_deltas())
            streamed = stream.completion()
    assert len(deltas) > 3 and "".join(deltas) == streamed.text == reply.text
    assert reply.usage is not None and streamed.usage is not None
    assert streamed.usage.credit == reply.usage.credit and (streamed.usage.credit or 0) > 0
    assert streamed.ttft_s is not None and streamed.latency_s is not None
    assert 0 < streamed.ttft_s <= streamed.latency_s
    assert [r.status for r in ledger.records] == ["ok", "ok"]
    assert ledger.records[1].ttft_s == streamed.ttft_s


async def test_async_client_streams_with_usage(sim: Simulator, ledger: ListLedger) -> None:
    async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as client:
        models = await client.list_models()
        model = await client.get_model("google/gemini-2.5-flash")
        async with await client.stream("Hello", model=model.id) as stream:
            text = "".join([c.delta async for c in stream])
            reply = await stream.completion()
    assert "google/gemini-2.5-flash" in [m.id for m in models]
    assert text == reply.text and reply.usage is not None and (reply.usage.credit or 0) > 0


def test_closing_a_stream_disconnects_from_the_server(sim: Simulator, ledger: ListLedger) -> None:
    before = sim.stats.disconnects
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as client:
        stream = client.stream("Tell me a long story", model="sim/slow")
        first = next(c for c in stream if c.delta)
        t0 = time.perf_counter()
        stream.close()
        closed_in = time.perf_counter() - t0
    assert first.delta and closed_in < 0.5
    assert wait_for(lambda: sim.stats.disconnects > before)
    assert ledger.records[-1].status == "cancelled"
    assert ledger.records[-1].completion_chars == len(stream.text) > 0


async def test_cancelling_the_task_disconnects_and_records_cancelled(
    sim: Simulator, ledger: ListLedger
) -> None:
    before = sim.stats.disconnects
    got_text = asyncio.Event()

    async def read() -> None:
        async with (
            q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as client,
            await client.stream("A long story", model="sim/slow") as stream,
        ):
            async for chunk in stream:
                if chunk.delta:
                    got_text.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(got_text.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):
        if sim.stats.disconnects > before:
            break
        await asyncio.sleep(0.01)
    assert sim.stats.disconnects > before
    assert ledger.records[-1].status == "cancelled"


async def test_cancelled_before_the_reply_began_is_still_recorded(
    sim: Simulator, ledger: ListLedger
) -> None:
    # the simulator holds a JSON response for 2 s before its headers
    async with q.AsyncClient(
        sim.api_key, sim.base_url, ledger=ledger, headers={"x-sim-latency": "2"}
    ) as client:
        task = asyncio.create_task(client.chat("Hello", model="sim/echo"))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ledger.records[-1].status == "cancelled"


def test_a_stream_cut_by_the_server_keeps_its_partial_text(
    sim: Simulator, ledger: ListLedger
) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as client:
        stream = client.stream("hello there", model="sim/cut-stream")
        with pytest.raises(q.IncompleteStreamError) as info:
            stream.completion()
    assert len(info.value.partial_text or "") > 10
    assert ledger.records[-1].status == "truncated"


def test_an_error_event_mid_stream_raises_stream_error(sim: Simulator, ledger: ListLedger) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as client:
        stream = client.stream("hello", model="sim/mid-stream-error")
        with pytest.raises(q.StreamError) as info:
            stream.completion()
    assert info.value.partial_text
    assert ledger.records[-1].status == "api_error"


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("sim/upstream-error", q.UpstreamError),
        ("sim/timeout", q.UpstreamTimeoutError),
        ("sim/rate-limited", q.RateLimitError),
        ("nobody/no-such-model", q.NotFoundError),
    ],
    ids=["502", "504", "429", "404"],
)
def test_failing_models_raise_typed_errors(
    sim: Simulator, model: str, error: type[q.APIStatusError]
) -> None:
    client = q.Client(sim.api_key, sim.base_url, ledger=False, max_retries=0)
    with client, pytest.raises(error) as info:
        client.chat("hello", model=model)
    assert info.value.request_id or info.value.status_code == 404


def test_a_rate_limit_is_retried_after_retry_after(sim: Simulator, ledger: ListLedger) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=ledger, max_retries=2) as client:
        client.chat("one", model="sim/flaky")  # the flaky model fails every second request
        reply = client.chat("two", model="sim/flaky")
    assert reply.text and ledger.records[-1].retries == 1


def test_a_wrong_key_is_an_authentication_error_that_does_not_show_the_key(sim: Simulator) -> None:
    secret = "sk-wrong-key-do-not-print-me"
    client = q.Client(secret, sim.base_url, ledger=False)
    with client, pytest.raises(q.AuthenticationError) as info:
        client.chat("hello", model="openai/gpt-4o")
    assert secret not in str(info.value) and secret not in repr(info.value.body)


def test_base_url_prefix_is_kept(sim: Simulator) -> None:
    with q.Client(sim.api_key, sim.base_url + "/", ledger=False) as client:
        assert client.base_url == sim.base_url
        assert client.list_models()
