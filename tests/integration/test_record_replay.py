"""Record against the simulator, stop it, replay byte for byte."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import qolaba_nb as q
from qolaba_nb._recording import RecordingTransport, ReplayTransport
from qolaba_nb.simulator import Simulator

pytestmark = pytest.mark.integration

KEY = "sk-test-RECORD-me-not-0123456789"
RIVERS = {
    "model": "google/gemini-2.5-flash",
    "messages": [{"role": "user", "content": "Tell me about rivers"}],
    "stream": True,
    "stream_options": {"include_usage": True},
    "temperature": 0.5,  # not the same request as the client's: it has a recording of its own
}


@contextlib.contextmanager
def client_bytes(transport: httpx.BaseTransport, base_url: str) -> Iterator[Callable[[], bytes]]:
    """A function that streams the rivers request through ``transport`` and returns the body."""
    with httpx.Client(transport=transport, base_url=base_url) as http:

        def get() -> bytes:
            headers = {"Authorization": f"Bearer {KEY}"}
            with http.stream("POST", "/api/v1/chat/completions", json=RIVERS, headers=headers) as r:
                return b"".join(r.iter_raw())

        yield get


def test_a_recorded_session_replays_byte_for_byte_with_the_simulator_stopped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions" / "demo.jsonl"
    with Simulator(api_key=KEY, speed=0) as sim:
        with q.Client(KEY, sim.base_url, record=path, ledger=False) as client:
            models = client.list_models()
            chat = client.chat(
                "What is the capital of France?", model="openai/gpt-4o", temperature=0
            )
            with client.stream("Tell me about rivers", model="google/gemini-2.5-flash") as stream:
                streamed = [c.delta for c in stream]
                done = stream.completion()
            with pytest.raises(q.NotFoundError):
                client.chat("hi", model="nobody/nothing")
        # the exact bytes the client received while recording, SSE and usage event included
        with client_bytes(RecordingTransport(path, httpx.HTTPTransport()), sim.base_url) as get:
            sent_bytes = get()
    text = path.read_text()
    assert KEY not in text and "authorization" not in text.lower()
    assert len(text.splitlines()) == 5

    # the simulator is stopped: nothing listens at its address any more
    with q.Client(None, sim.base_url, replay=path, ledger=False) as client:
        assert [m.id for m in client.list_models()] == [m.id for m in models]
        again = client.chat("What is the capital of France?", model="openai/gpt-4o", temperature=0)
        with client.stream("Tell me about rivers", model="google/gemini-2.5-flash") as stream:
            assert [c.delta for c in stream] == streamed
            redone = stream.completion()
        with pytest.raises(q.NotFoundError):
            client.chat("hi", model="nobody/nothing")
    assert again.text == chat.text and again.usage == chat.usage
    assert redone.text == done.text and redone.usage == done.usage

    # byte for byte: replay serves exactly the bytes the server sent
    with client_bytes(ReplayTransport(path), "http://127.0.0.1:9") as get:
        assert get() == sent_bytes
    assert b"data: [DONE]" in sent_bytes and sent_bytes.rstrip().endswith(b"}}}")


async def test_replay_works_for_the_async_client_too(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with (
        Simulator(speed=0) as sim,
        q.Client(sim.api_key, sim.base_url, record=path, ledger=False) as client,
    ):
        first = client.chat("Hello", model="sim/echo")
    async with q.AsyncClient(
        replay=path, base_url="http://nowhere.invalid", ledger=False
    ) as aclient:
        stream_free = await aclient.chat("Hello", model="sim/echo")
    assert stream_free.text == first.text == "Hello"


def test_an_unrecorded_request_names_the_closest_recording(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    with (
        Simulator(speed=0) as sim,
        q.Client(sim.api_key, sim.base_url, record=path, ledger=False) as client,
    ):
        client.chat("What is the capital of France?", model="sim/echo")
    with q.Client(replay=path, ledger=False) as client, pytest.raises(q.ReplayMissError) as info:
        client.chat("What is the capital of Spain?", model="sim/echo")
    assert "capital of France" in str(info.value)


def test_record_and_replay_together_are_refused() -> None:
    with pytest.raises(q.ValidationError):
        q.Client("k", record="a.jsonl", replay="b.jsonl")
