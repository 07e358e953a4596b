"""Small helpers the panels share: the client they talk through, and how errors read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .._client import AsyncClient, Client
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BudgetExceededError,
    IncompleteStreamError,
    QolabaError,
    RateLimitError,
    StreamError,
    ValidationError,
)
from .._render import escape_html
from ._schedule import Handle

__all__ = ["Countdown", "as_async_client", "describe_error", "status_html"]

#: The model a panel starts with when none is given (the API reference's example model).
DEFAULT_MODEL = "google/gemini-2.5-flash"


def as_async_client(client: Client | AsyncClient | None) -> AsyncClient:
    """The panels always stream on the kernel's event loop, so they need an ``AsyncClient``.

    None means one from the environment (``QOLABA_API_KEY``, ``QOLABA_BASE_URL``); a sync
    ``Client`` is twinned: same key, base URL, headers, ledger and tag, own connections.
    """
    if isinstance(client, AsyncClient):
        return client
    return AsyncClient.twin(client)


def describe_error(err: BaseException) -> tuple[str, str]:
    """(title, detail) of an error card, in words a notebook user can act on.

    The detail never says the title again: a message that starts with it ("connection
    error: ...") loses that start, and a "Retry after" the server already wrote is not added
    a second time.
    """
    title, detail = _describe(err)
    head = title.lower()
    if detail.lower().startswith(head) and detail[len(head) : len(head) + 1] in (":", ""):
        detail = detail[len(head) + 1 :].lstrip()
    return title, detail


def _describe(err: BaseException) -> tuple[str, str]:
    if isinstance(err, RateLimitError):
        wait = ""
        if err.retry_after is not None and "retry after" not in err.message.lower():
            wait = f" Retry after {err.retry_after:g} s."
        return f"Rate limited (HTTP {err.status_code})", f"{err.message}{wait}"
    if isinstance(err, APIStatusError):
        rid = f" (request id {err.request_id})" if err.request_id else ""
        return f"API error (HTTP {err.status_code})", f"{err.message}{rid}"
    if isinstance(err, APITimeoutError):
        return "Timed out", err.message
    if isinstance(err, APIConnectionError):
        return "Connection error", err.message
    if isinstance(err, StreamError):
        return "The stream reported an error", err.message
    if isinstance(err, IncompleteStreamError):
        return "The reply was cut off", err.message
    if isinstance(err, BudgetExceededError):
        return "Not sent: over budget", str(err)
    if isinstance(err, ValidationError):
        return "Invalid request", str(err)
    if isinstance(err, QolabaError):
        return type(err).__name__, str(err)
    return f"Internal error: {type(err).__name__}", str(err)


def status_html(text: str, *, kind: str = "info") -> str:
    """A one-line status message (escaped)."""
    color = {
        "info": "var(--jp-content-font-color2, #555)",
        "warn": "var(--jp-warn-color1, #e65100)",
        "error": "var(--jp-error-color1, #c62828)",
    }.get(kind, "var(--jp-content-font-color2, #555)")
    return f'<span style="color:{color}">{escape_html(text)}</span>' if text else ""


class Countdown:
    """Shows "you can send again in N s" after a 429, one tick a second, then clears.

    Runs as a task on the kernel's loop (through ``schedule``); a new countdown replaces the
    one running.
    """

    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show
        self.task: Handle[None] | None = None

    def start(self, seconds: float) -> None:
        from ._schedule import has_running_loop, schedule

        self.cancel()
        if has_running_loop():
            self.task = schedule(self._run(seconds), name="qolaba-countdown")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self, seconds: float) -> None:
        left = seconds
        while left > 0:
            self._show(f"Rate limited: you can send again in {left:.0f} s")
            step = min(1.0, left)
            await asyncio.sleep(step)
            left -= step
        self._show("Rate limit over: you can send again.")
