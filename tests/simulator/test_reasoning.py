"""``x-sim-reasoning``: a reply that thinks aloud (``reasoning_content``) before it answers."""

from __future__ import annotations

import time

import httpx

from .conftest import CHAT, ask, sse_events, text_of


def test_reasoning_streams_before_the_text_for_about_the_time_asked(client: httpx.Client) -> None:
    started = time.perf_counter()
    response = client.post(
        CHAT,
        json={
            "model": "openai/gpt-4o",
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
            "stream": True,
        },
        headers={"x-sim-reasoning": "0.4", "x-sim-ttft": "0"},
    )
    took = time.perf_counter() - started
    deltas = [e["choices"][0]["delta"] for e in sse_events(response.text) if "choices" in e]
    kinds = [next(iter(d)) for d in deltas if d]  # role, reasoning_content..., content...
    first_text = kinds.index("content")
    assert kinds[0] == "role" and set(kinds[1:first_text]) == {"reasoning_content"}
    assert "reasoning_content" not in kinds[first_text:]
    assert first_text - 1 >= 3  # in pieces, so that a panel can show it growing
    thought = "".join(d.get("reasoning_content", "") for d in deltas)
    assert "Why is the sky blue?" in thought and "(Simulated reasoning.)" in thought
    assert took >= 0.4  # the pauses are spread over the reasoning

    as_json = client.post(
        CHAT,
        json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "Why?"}]},
        headers={"x-sim-reasoning": "0"},
    )
    message = as_json.json()["choices"][0]["message"]
    assert message["reasoning_content"].startswith("The question is “Why?”")


def test_no_reasoning_unless_asked(client: httpx.Client) -> None:
    response = ask(client)
    assert "reasoning_content" not in response.json()["choices"][0]["message"]
    assert text_of(response)
    events = sse_events(ask(client, stream=True).text)
    assert not any("reasoning_content" in e["choices"][0]["delta"] for e in events[:-2])


def test_a_bad_reasoning_header_is_refused(client: httpx.Client) -> None:
    response = client.post(
        CHAT,
        json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-sim-reasoning": "lots"},
    )
    assert response.status_code == 400
    assert "x-sim-reasoning" in response.text
