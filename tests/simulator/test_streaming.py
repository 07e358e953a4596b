"""Server-Sent Events: shape, pacing knobs, bulk speed, and noticing a client hang up."""

from __future__ import annotations

import asyncio
import time

import httpx

from qolaba_nb.simulator import Simulator

from .conftest import CHAT, ask, sse_events, text_of


def _wait_for(predicate: object, timeout: float = 2.0) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def test_sse_shape_and_usage_after_done(client: httpx.Client) -> None:
    response = ask(client, model="google/gemini-2.5-flash", stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"].startswith("req_")
    events = sse_events(response.text)

    role, *contents, finish, done, usage = events
    assert role["choices"][0]["delta"] == {"role": "assistant"}
    ids = {e["id"] for e in [role, *contents, finish]}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for chunk in [role, *contents]:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "google/gemini-2.5-flash"
        assert chunk["choices"][0]["finish_reason"] is None
    assert len(contents) > 10
    assert all(set(c["choices"][0]["delta"]) == {"content"} for c in contents)
    assert finish["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert done == "[DONE]"
    assert set(usage) == {"usage"}
    assert set(usage["usage"]) == {"total_credit", "total_cost", "breakdown"}

    streamed = "".join(c["choices"][0]["delta"]["content"] for c in contents)
    as_json = ask(client, model="google/gemini-2.5-flash")
    assert streamed == text_of(as_json)
    assert usage["usage"] == as_json.json()["usage"]


def test_stream_respects_max_tokens(client: httpx.Client) -> None:
    events = sse_events(ask(client, stream=True, max_tokens=4).text)
    contents = [e["choices"][0]["delta"].get("content", "") for e in events[:-2]]
    assert len("".join(contents)) == 16
    assert events[-3]["choices"][0]["finish_reason"] == "length"


def test_x_sim_chunks_gives_exact_count(client: httpx.Client) -> None:
    response = client.post(
        CHAT,
        headers={"x-sim-chunks": "7"},
        json={
            "model": "openai/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    contents = [e for e in sse_events(response.text)[1:-3]]
    assert len(contents) == 7
    assert all(len(c["choices"][0]["delta"]["content"].split()) == 1 for c in contents)


def test_twenty_thousand_chunks_quickly(client: httpx.Client) -> None:
    started = time.perf_counter()
    with client.stream(
        "POST",
        CHAT,
        headers={"x-sim-chunks": "20000", "x-sim-chunk-delay": "0"},
        json={
            "model": "openai/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ) as response:
        body = response.read().decode()
    elapsed = time.perf_counter() - started
    assert body.count('"delta":{"content":') == 20000
    assert body.rstrip().endswith("}}}}")  # the usage event closes the stream
    assert elapsed < 5, elapsed


def test_latency_knob_for_json_and_stream(client: httpx.Client) -> None:
    for stream in (False, True):
        started = time.perf_counter()
        response = client.post(
            CHAT,
            headers={"x-sim-latency": "0.3"},
            json={
                "model": "sim/echo",
                "stream": stream,
                "messages": [{"role": "user", "content": "a b c"}],
            },
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert 0.28 <= elapsed < 2, (stream, elapsed)


async def test_latency_calls_run_concurrently(sim: Simulator) -> None:
    headers = {"Authorization": f"Bearer {sim.api_key}", "x-sim-latency": "0.4"}
    body = {"model": "sim/echo", "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(*(client.post(CHAT, json=body) for _ in range(20)))
        elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in responses)
    assert elapsed < 2.0, elapsed


def test_ttft_and_chunk_delay_knobs(client: httpx.Client) -> None:
    started = time.perf_counter()
    arrivals: list[float] = []
    with client.stream(
        "POST",
        CHAT,
        headers={"x-sim-ttft": "0.3", "x-sim-chunk-delay": "0.05", "x-sim-chunks": "4"},
        json={
            "model": "openai/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ) as response:
        for line in response.iter_lines():
            if '"content"' in line:
                arrivals.append(time.perf_counter() - started)
    assert len(arrivals) == 4
    assert arrivals[0] >= 0.28
    assert arrivals[-1] - arrivals[0] >= 0.14


def test_model_pacing_with_speed_one() -> None:
    with Simulator() as sim:  # realistic pacing: sim/slow waits ~0.5 s, then 20 chars/s
        headers = {"Authorization": f"Bearer {sim.api_key}"}
        started = time.perf_counter()
        with (
            httpx.Client(base_url=sim.base_url, headers=headers) as client,
            client.stream(
                "POST",
                CHAT,
                json={
                    "model": "sim/slow",
                    "stream": True,
                    "messages": [{"role": "user", "content": "go"}],
                },
            ) as response,
        ):
            lines = response.iter_lines()
            first = next(line for line in lines if '"content"' in line)
            assert first
            first_at = time.perf_counter() - started
            next(line for line in lines if '"content"' in line)
            second_at = time.perf_counter() - started
        assert 0.45 <= first_at < 2
        assert second_at - first_at >= 0.05  # one word at 20 chars/s
        assert _wait_for(lambda: sim.stats.disconnects == 1)


def test_disconnect_is_counted(sim: Simulator, client: httpx.Client) -> None:
    before = sim.stats.disconnects
    completed = sim.stats.streams_completed
    with client.stream(
        "POST",
        CHAT,
        headers={"x-sim-chunks": "200", "x-sim-chunk-delay": "0.05"},
        json={
            "model": "openai/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ) as response:
        for line in response.iter_lines():
            if '"content"' in line:
                break  # hang up after the first content chunk
    hung_up_at = time.monotonic()
    assert _wait_for(lambda: sim.stats.disconnects == before + 1, timeout=0.5)
    assert time.monotonic() - hung_up_at < 0.5
    assert sim.stats.streams_completed == completed


def test_completed_stream_is_counted(sim: Simulator, client: httpx.Client) -> None:
    completed = sim.stats.streams_completed
    disconnects = sim.stats.disconnects
    ask(client, stream=True).read()
    assert _wait_for(lambda: sim.stats.streams_completed == completed + 1)
    assert sim.stats.disconnects == disconnects
    assert sim.stats["streams_completed"] == sim.stats.as_dict()["streams_completed"]


def test_disconnect_is_counted_during_bulk_stream(sim: Simulator, client: httpx.Client) -> None:
    # No pauses: the server writes megabytes at once, and must still notice the hang-up.
    before = sim.stats.disconnects
    with client.stream(
        "POST",
        CHAT,
        headers={"x-sim-chunks": "200000", "x-sim-chunk-delay": "0"},
        json={
            "model": "openai/gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ) as response:
        next(response.iter_lines())
    assert _wait_for(lambda: sim.stats.disconnects == before + 1, timeout=0.5)
