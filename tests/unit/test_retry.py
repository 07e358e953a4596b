"""RetryPolicy.delay and parse_retry_after: what is retried, and how long to wait."""

from __future__ import annotations

import email.utils
import itertools
import random
import time
from collections.abc import Iterator

import pytest

from qolaba_nb._retry import RetryPolicy, parse_retry_after

POLICY = RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=8.0, max_retry_after=60.0)


@pytest.mark.parametrize("status", [None, 429, 502, 503, 504], ids=str)
def test_retried_statuses_and_connection_errors(status: int | None) -> None:
    delay = POLICY.delay(0, status=status)
    assert delay is not None and 0 < delay <= 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500], ids=str)
def test_not_retried_statuses(status: int) -> None:
    assert POLICY.delay(0, status=status) is None
    assert POLICY.delay(0, status=status, headers={"retry-after": "1"}) is None


def test_stops_after_max_retries() -> None:
    delays = [POLICY.delay(attempt, status=503) for attempt in range(5)]
    assert [d is not None for d in delays] == [True, True, True, False, False]


def test_zero_max_retries_never_retries() -> None:
    assert RetryPolicy(max_retries=0).delay(0) is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "3"}, 3.0),
        ({"RETRY-AFTER": " 7 "}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After-Ms": "1500"}, 1.5),
    ],
    ids=["seconds", "canonical-case", "upper-case-padded", "zero", "fraction", "ms", "ms-case"],
)
def test_parse_retry_after_seconds(headers: dict[str, str], seconds: float) -> None:
    assert parse_retry_after(headers) == seconds


def test_retry_after_seconds_is_used_as_the_delay() -> None:
    assert POLICY.delay(0, status=429, headers={"Retry-After": "3"}) == 3.0


def test_retry_after_ms_is_preferred_over_retry_after() -> None:
    headers = {"retry-after-ms": "1200", "retry-after": "30"}
    assert parse_retry_after(headers) == 1.2
    assert POLICY.delay(0, status=429, headers=headers) == 1.2


@pytest.fixture
def local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local zone far from UTC, so a date read as local time would be hours off."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_not_utc")
@pytest.mark.parametrize("zone", ["GMT", "+0000", "-0000"])
def test_retry_after_as_an_http_date(zone: str) -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 5, usegmt=True).replace("GMT", zone)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(5.0)


def test_retry_after_http_date_against_the_real_clock() -> None:
    date = email.utils.formatdate(time.time() + 4, usegmt=True)
    waited = parse_retry_after({"retry-after": date})
    assert waited is not None and 2.0 <= waited <= 4.0


def test_retry_after_http_date_in_the_past_means_now() -> None:
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


@pytest.mark.parametrize(
    "headers",
    [{"retry-after": "61"}, {"retry-after-ms": "600000"}, {"retry-after": "86400"}],
    ids=["seconds", "ms", "a-day"],
)
def test_retry_after_over_the_cap_is_not_retried(headers: dict[str, str]) -> None:
    assert POLICY.delay(0, status=429, headers=headers) is None


def test_retry_after_exactly_at_the_cap_is_retried() -> None:
    assert POLICY.delay(0, status=429, headers={"retry-after": "60"}) == 60.0


@pytest.mark.parametrize(
    "headers",
    [
        {"retry-after": "-5"},
        {"retry-after": "soon"},
        {"retry-after": ""},
        {"retry-after": "nan"},
        {"retry-after": "inf"},
        {"retry-after-ms": "-1"},
        {"retry-after-ms": "later"},
        {},
    ],
    ids=["negative", "garbage", "empty", "nan", "inf", "negative-ms", "garbage-ms", "absent"],
)
def test_negative_or_garbage_retry_after_falls_back_to_backoff(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers) is None
    delay = POLICY.delay(0, status=429, headers=headers)
    assert delay is not None and 0.375 <= delay <= 0.5


def test_garbage_retry_after_ms_falls_back_to_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "2"}) == 2.0


def test_no_headers() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after({}) is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    random.seed(1234)
    policy = RetryPolicy(max_retries=10, initial_delay=0.5, max_delay=8.0)
    for attempt in range(10):
        base = min(0.5 * 2**attempt, 8.0)
        samples = [policy.delay(attempt) for _ in range(200)]
        assert all(s is not None and 0.75 * base <= s <= base for s in samples), attempt
        assert len(set(samples)) > 1  # jitter: not the same wait every time
    assert max(policy.backoff(20) for _ in range(50)) <= 8.0


def test_backoff_upper_bounds_double_per_attempt() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=100.0)
    highs = [max(policy.backoff(a) for _ in range(300)) for a in range(4)]
    for low_attempt, high_attempt in itertools.pairwise(highs):
        assert high_attempt > low_attempt * 1.4
