"""The sim/... models that fail on purpose, and the per-key rate limit."""

from __future__ import annotations

import time

import httpx
import pytest

from qolaba_nb.simulator import Simulator

from .conftest import CHAT, ask, sse_events


def test_rate_limited_model(client: httpx.Client) -> None:
    for stream in (False, True):
        response = ask(client, model="sim/rate-limited", stream=stream)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["type"] == "rate_limit_error"


def test_flaky_model_alternates_per_key() -> None:
    with Simulator(speed=0, api_keys=["other-key"]) as sim:

        def call(key: str) -> httpx.Response:
            return httpx.post(
                sim.base_url + CHAT,
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "sim/flaky", "messages": [{"role": "user", "content": "hi"}]},
            )

        statuses = [call(sim.api_key).status_code for _ in range(4)]
        assert statuses == [200, 429, 200, 429]
        # The other key has its own turn counter.
        assert call("other-key").status_code == 200
        failed = call(sim.api_key)
        assert failed.status_code == 200  # the 5th for the first key
        failed = call(sim.api_key)
        assert failed.status_code == 429 and failed.headers["retry-after"] == "0"
        assert call(sim.api_key).status_code == 200  # an immediate retry works


@pytest.mark.parametrize(("model", "status"), [("sim/upstream-error", 502), ("sim/timeout", 504)])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_failures(client: httpx.Client, model: str, status: int, stream: bool) -> None:
    started = time.perf_counter()
    response = ask(client, model=model, stream=stream)
    assert response.status_code == status
    assert response.json()["error"]["message"]
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("model", ["sim/cut-stream", "sim/mid-stream-error"])
def test_stream_only_failures_are_502_as_json(client: httpx.Client, model: str) -> None:
    assert ask(client, model=model).status_code == 502


def test_cut_stream_drops_the_connection(sim: Simulator, client: httpx.Client) -> None:
    cut_before = sim.stats.streams_cut
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream(
            "POST",
            CHAT,
            json={
                "model": "sim/cut-stream",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
        ) as response,
    ):
        assert response.status_code == 200
        lines.extend(line for line in response.iter_lines() if line)
    assert len(lines) > 3
    assert "[DONE]" not in "".join(lines)
    assert '"finish_reason":null' in lines[-1]
    assert sim.stats.streams_cut == cut_before + 1


def test_mid_stream_error_event(client: httpx.Client) -> None:
    events = sse_events(ask(client, model="sim/mid-stream-error", stream=True).text)
    *chunks, error = events
    assert error == {
        "error": {
            "message": "The upstream provider failed while streaming.",
            "type": "upstream_error",
        }
    }
    assert any("content" in c["choices"][0]["delta"] for c in chunks)
    assert "[DONE]" not in events
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_per_key_rate_limit() -> None:
    with Simulator(speed=0, rate_limit=3, rate_window_s=30, api_keys=["other-key"]) as sim:

        def call(key: str) -> httpx.Response:
            return httpx.post(
                sim.base_url + CHAT,
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "sim/echo", "messages": [{"role": "user", "content": "hi"}]},
            )

        assert [call(sim.api_key).status_code for _ in range(3)] == [200, 200, 200]
        limited = call(sim.api_key)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 30
        assert limited.json()["error"]["type"] == "rate_limit_error"
        assert call("other-key").status_code == 200


def test_rate_limit_window_slides() -> None:
    with Simulator(speed=0, rate_limit=1, rate_window_s=0.3) as sim:
        headers = {"Authorization": f"Bearer {sim.api_key}"}
        body = {"model": "sim/echo", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(sim.base_url + CHAT, headers=headers, json=body).status_code == 200
        assert httpx.post(sim.base_url + CHAT, headers=headers, json=body).status_code == 429
        time.sleep(0.35)
        assert httpx.post(sim.base_url + CHAT, headers=headers, json=body).status_code == 200
