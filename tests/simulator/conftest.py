"""Fixtures: one no-pause simulator per test module, and small helpers to talk to it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qolaba_nb.simulator import Simulator

CHAT = "/api/v1/chat/completions"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sim.api_key}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=10) as c:
        yield c


def ask(
    client: httpx.Client, content: Any = "What is the capital of France?", **body: Any
) -> httpx.Response:
    payload = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": content}]}
    payload.update(body)
    return client.post(CHAT, json=payload)


def text_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content: str = response.json()["choices"][0]["message"]["content"]
    return content


def sse_events(raw: str) -> list[Any]:
    """Parse an SSE body: JSON objects, with the ``[DONE]`` marker kept as the string."""
    events: list[Any] = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        data = block[len("data: ") :]
        events.append(data if data == "[DONE]" else json.loads(data))
    return events
