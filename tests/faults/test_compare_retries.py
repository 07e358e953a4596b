"""acompare leaves 429s to the client's one retry policy: no second loop, no uncapped sleep."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import qolaba_nb._client as client_module
from qolaba_nb import AsyncClient
from qolaba_nb.comparison import acompare

KEY = "sk-test-compare-0123456789"


def _rate_limited(retry_after: str) -> tuple[AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            429,
            json={"error": {"message": "slow down", "type": "rate_limit"}},
            headers={"retry-after": retry_after},
        )

    client = AsyncClient(
        KEY, "http://qolaba.test", transport=httpx.MockTransport(handler), ledger=False
    )
    return client, seen


@pytest.fixture
def client_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def asleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(client_module, "_asleep", asleep)
    return slept


async def test_a_429_is_retried_only_by_the_client_policy(client_sleeps: list[float]) -> None:
    client, seen = _rate_limited("1")
    try:
        df = await asyncio.wait_for(
            acompare(["Hi"], ["openai/gpt-4o"], client=client, progress=False), 10
        )
    finally:
        await client.aclose()
    assert len(seen) == client.max_retries + 1  # one loop: the client's
    assert client_sleeps == [1.0] * client.max_retries
    assert df.loc[0, "status"] == "api_error"
    assert "RateLimitError" in str(df.loc[0, "error"])


async def test_an_uncapped_retry_after_is_not_slept(client_sleeps: list[float]) -> None:
    client, seen = _rate_limited("999999")
    try:
        df = await asyncio.wait_for(
            acompare(["Hi"], ["openai/gpt-4o"], client=client, progress=False), 10
        )
    finally:
        await client.aclose()
    # over the policy's cap: not retried at all, the error comes back as a row at once
    assert len(seen) == 1 and client_sleeps == []
    assert df.loc[0, "status"] == "api_error"
