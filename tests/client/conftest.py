"""Helpers to run one test body against both ``Client`` and ``AsyncClient``.

``MockTransport`` needs a sync byte iterator for ``Client`` and an async one for
``AsyncClient``; ``sse_response`` gives each what it needs.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

import qolaba_nb._client as client_module
from qolaba_nb import AsyncClient, Client
from tests.helpers import ListLedger

KEY = "sk-test-0123456789abcdefSECRET"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retries sleep for zero seconds; the delays asked for are kept to be asserted on."""
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(client_module, "_sleep", slept.append)
    monkeypatch.setattr(client_module, "_asleep", asleep)
    return slept


class Harness:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.ledger = ListLedger()

    def client(self, handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> Any:
        kw.setdefault("ledger", self.ledger)
        transport = httpx.MockTransport(handler)
        cls = Client if self.mode == "sync" else AsyncClient
        return cls(KEY, "http://qolaba.test", transport=transport, **kw)

    async def call(self, obj: Any, method: str, *args: Any, **kw: Any) -> Any:
        result = getattr(obj, method)(*args, **kw)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def chunks(self, stream: Any) -> list[Any]:
        if self.mode == "sync":
            return list(stream)
        return [c async for c in stream]

    async def close(self, obj: Any) -> None:
        await self.call(obj, "close" if self.mode == "sync" else "aclose")

    def sse_response(
        self,
        chunks: list[bytes],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        fail_after: Exception | None = None,
    ) -> httpx.Response:
        """A streamed response that arrives in exactly these reads (then maybe fails)."""
        hdrs = {"content-type": "text/event-stream", "x-request-id": "req_1", **(headers or {})}

        def sync_iter() -> Iterator[bytes]:
            yield from chunks
            if fail_after is not None:
                raise fail_after

        async def async_iter() -> AsyncIterator[bytes]:
            for c in chunks:
                yield c
            if fail_after is not None:
                raise fail_after

        if self.mode == "sync":
            return httpx.Response(status, headers=hdrs, content=sync_iter())
        return httpx.Response(status, headers=hdrs, content=async_iter())


@pytest.fixture
def h(mode: str) -> Harness:
    return Harness(mode)
