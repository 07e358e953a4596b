"""When to retry and how long to wait. Pure: it decides, the client's I/O loop sleeps.

Retried: connection errors and timeouts, 429, 502, 503 and 504, at most ``max_retries`` times.
The server's ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date) is honoured up to
``max_retry_after``; a longer wait is not retried at all (the error, with its ``retry_after``,
goes to the caller, who can decide). Without a hint: exponential backoff with jitter.
Streams are never retried once they have yielded: the client only retries before that.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 502, 503, 504})


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # A plain dict is case-sensitive: look the name up whatever its case (``Retry-After`` as
    # written in the RFC, ``retry-after`` as httpx stores it).
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def _seconds(value: str, scale: float = 1.0) -> float | None:
    # Negative, NaN or infinite values are garbage, not "retry now": the caller falls back to
    # backoff (``max(x, 0.0)`` turned "-5" into 0.0 and let "nan" through).
    try:
        seconds = float(value) / scale
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds to wait according to the response headers, or None when they do not say."""
    if not headers:
        return None
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        seconds = _seconds(ms.strip(), 1000.0)
        if seconds is not None:
            return seconds
    value = _header(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        # "-0000" gives a naive datetime; HTTP dates are always UTC, never local time.
        when = when.replace(tzinfo=datetime.UTC)
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        base: float = min(self.initial_delay * 2.0**attempt, self.max_delay)
        return base * (1.0 - 0.25 * random.random())

    def delay(
        self,
        attempt: int,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or None: do not retry.

        ``status`` is None for a connection error or timeout.
        """
        if attempt >= self.max_retries:
            return None
        if status is not None and status not in RETRY_STATUSES:
            return None
        hint = parse_retry_after(headers)
        if hint is not None:
            return hint if hint <= self.max_retry_after else None
        return self.backoff(attempt)
