"""SSE decoding is linear in a line's length, and one event is bounded (a line that never ends
is an error that keeps the partial text, not unbounded memory)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from qolaba_nb._sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from tests.client.conftest import KEY, Harness


def test_a_long_line_is_kept_in_parts_and_joined_once_when_it_ends() -> None:
    decoder = SSEDecoder()
    payload = json.dumps({"choices": [{"delta": {"content": "y" * 300_000}}]})
    line = f"data: {payload}".encode()
    reads = [line[i : i + 1000] for i in range(0, len(line), 1000)]
    for read in reads:
        assert decoder.feed(read) == []
    # one part per read: the unfinished line was never re-copied as a whole
    assert len(decoder._pending) == len(reads)
    (event,) = decoder.feed(b"\n\n")
    assert event.data == payload and decoder._pending == []


def test_a_line_that_never_ends_stops_at_the_bound() -> None:
    decoder = SSEDecoder(max_event_bytes=10_000)
    decoder.feed(b"data: ")
    fed = 0
    with pytest.raises(q.EventTooLargeError) as info:
        for _ in range(1000):
            decoder.feed(b"x" * 512)
            fed += 512
    assert 10_000 - 512 <= fed <= 10_000  # it stopped as soon as the bound was passed
    assert info.value.limit == 10_000 and "max_event_bytes" in str(info.value)
    assert isinstance(info.value, q.StreamError)


def test_many_data_lines_of_one_event_count_towards_the_bound() -> None:
    decoder = SSEDecoder(max_event_bytes=10_000)
    with pytest.raises(q.EventTooLargeError):
        for _ in range(1000):
            decoder.feed(b"data: " + b"x" * 100 + b"\n")


def test_events_under_the_bound_each_start_from_zero() -> None:
    decoder = SSEDecoder(max_event_bytes=1_000)
    event = b"data: " + b"x" * 900 + b"\n\n"
    assert len(decoder.feed(event * 50)) == 50  # 45 kB in all, each event 900 characters


def test_the_default_bound_is_documented_and_adjustable() -> None:
    assert DEFAULT_MAX_EVENT_BYTES == 16 * 1024 * 1024
    with q.Client(KEY, "http://qolaba.test", ledger=False) as c:
        assert c.max_event_bytes == DEFAULT_MAX_EVENT_BYTES
    with q.Client(KEY, "http://qolaba.test", ledger=False, max_event_bytes=1024) as c:
        assert q.AsyncClient.twin(c).max_event_bytes == 1024
    for bad in (0, -1, 1.5, "1MB", True):
        with pytest.raises(q.ValidationError) as info:
            q.Client(KEY, "http://qolaba.test", ledger=False, max_event_bytes=bad)  # type: ignore[arg-type]
        assert info.value.param == "max_event_bytes"


async def test_a_stream_whose_line_never_ends_raises_and_keeps_the_partial_text(
    h: Harness,
) -> None:
    first = {"choices": [{"index": 0, "delta": {"content": "Hello"}}]}
    head = f"data: {json.dumps(first)}\n\ndata: ".encode()

    def sync_body() -> Iterator[bytes]:
        yield head
        yield from itertools.repeat(b"x" * 65536)  # never ends

    async def async_body() -> AsyncIterator[bytes]:
        yield head
        while True:
            yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        body: Any = sync_body() if h.mode == "sync" else async_body()
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    c = h.client(handler, max_event_bytes=1_000_000)
    stream = await h.call(c, "stream", "Hi", model="openai/gpt-4o")
    with pytest.raises(q.EventTooLargeError) as info:
        await h.chunks(stream)
    await h.close(c)
    assert info.value.partial_text == "Hello"
    rec = h.ledger.records[0]
    assert rec.status == "api_error" and rec.completion_text == "Hello"
    assert "EventTooLargeError" in rec.error
