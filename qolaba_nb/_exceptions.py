"""The error tree. Every exception the package raises on purpose is a ``QolabaError``::

    QolabaError
    ├── ValidationError (also ValueError)      bad input, raised before any request is sent
    ├── BudgetExceededError                    the budget is spent; nothing was sent
    ├── ReplayMissError                        replay mode found no recording for a request
    ├── APIError
    │   ├── APIStatusError                     the server answered with an error status
    │   │   ├── BadRequestError                400
    │   │   ├── AuthenticationError            401
    │   │   ├── PermissionDeniedError          403
    │   │   ├── NotFoundError                  404
    │   │   ├── RateLimitError                 429 (.retry_after)
    │   │   └── InternalServerError            500 and any other 5xx
    │   │       ├── UpstreamError              502
    │   │       └── UpstreamTimeoutError       504
    │   ├── APIResponseValidationError         a 2xx answer that is not the API's (an HTML page)
    │   ├── APIConnectionError                 no answer: DNS, refused, reset, ...
    │   │   └── APITimeoutError
    │   ├── StreamError                        an {"error": ...} event inside a stream
    │   │   └── EventTooLargeError             one event past max_event_bytes: stopped
    │   └── IncompleteStreamError              the stream ended without a finish reason or [DONE]

Stream errors (``StreamError``, ``IncompleteStreamError`` and connection errors raised while a
stream was being read) carry ``.partial_text``: nothing already received is lost.

Messages never contain the API key: they are built from the server's body and our own words.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from ._config import Secret, redact, redact_value

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "EventTooLargeError",
    "IncompleteStreamError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "QolabaError",
    "RateLimitError",
    "ReplayMissError",
    "StreamError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "ValidationError",
    "error_message",
    "make_status_error",
    "redact_error",
    "response_validation_error",
]


class QolabaError(Exception):
    """Root of every error qolaba_nb raises on purpose."""


class ValidationError(QolabaError, ValueError):
    """The request is invalid; raised before anything is sent.

    ``.param`` names the offending parameter (``"temperature"``, ``"messages[2].role"``, ...).
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class BudgetExceededError(QolabaError):
    """A call was refused because the credit budget is already spent."""

    def __init__(self, message: str, *, spent: float, budget: float) -> None:
        super().__init__(message)
        self.spent = spent
        self.budget = budget


class ReplayMissError(QolabaError):
    """Replay mode has no recording that matches the request."""


class APIError(QolabaError):
    """Something went wrong talking to the API."""

    partial_text: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"HTTP {self.status_code}: {self.message}{rid}"


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: usually an unknown model id."""


class RateLimitError(APIStatusError):
    """429. ``.retry_after`` is the server's Retry-After in seconds, or None."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """500, and any 5xx without a class of its own."""


class UpstreamError(InternalServerError):
    """502: the upstream provider failed or answered nonsense."""


class UpstreamTimeoutError(InternalServerError):
    """504: the upstream provider took longer than Qolaba's 3-minute limit."""


class APIResponseValidationError(APIError):
    """The server answered with success, but not with what the API sends.

    A captive portal's or a proxy's HTML page, a body that is not JSON where JSON was due, a
    stream answer that is neither ``text/event-stream`` nor JSON. Nothing in it is parsed.

    Attributes
    ----------
    status_code
        The HTTP status of the answer (2xx).
    content_type
        Its ``Content-Type`` header, "" when it had none.
    body_start
        The first characters of its body, key masked, for the message and for a look.
    """

    def __init__(
        self, message: str, *, status_code: int, content_type: str, body_start: str
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.content_type = content_type
        self.body_start = body_start


class APIConnectionError(APIError):
    """The request got no answer (refused, reset, DNS, TLS, ...)."""

    def __init__(self, message: str = "Connection error.", *, partial_text: str | None = None):
        super().__init__(message)
        self.partial_text = partial_text


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, message: str = "Request timed out.", *, partial_text: str | None = None):
        super().__init__(message, partial_text=partial_text)


class StreamError(APIError):
    """The server sent an ``{"error": ...}`` event in the middle of a stream."""

    def __init__(self, message: str, *, body: Any = None, partial_text: str = "") -> None:
        super().__init__(message)
        self.body = body
        self.partial_text = partial_text


class EventTooLargeError(StreamError):
    """One server-sent event grew past ``max_event_bytes``; the stream was stopped.

    ``.partial_text`` (filled in by the client) keeps the reply received before it;
    ``.limit`` is the bound that was hit. Raise it with ``Client(max_event_bytes=...)``.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"one server-sent event grew past {limit:,} characters (max_event_bytes) without "
            "ending; the stream was stopped. Pass Client(max_event_bytes=...) to allow more."
        )
        self.limit = limit


class IncompleteStreamError(APIError):
    """The stream ended without a finish reason and without ``[DONE]``."""

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text


def redact_error(err: QolabaError, secret: Secret | None) -> QolabaError:
    """Mask the key in everything an error carries from the server, in place.

    Its message and ``args`` (so ``str`` and ``repr``), ``.body``, ``.headers``,
    ``.request_id`` and ``.partial_text``: a server or proxy that echoes the request (headers
    included) leaves no trace of the key in what is shown, logged or stored.

    Parameters
    ----------
    err
        The error about to be raised or recorded.
    secret
        The client's key; None leaves ``err`` as it is.

    Returns
    -------
    QolabaError
        ``err`` itself, for ``raise redact_error(err, key)``.
    """
    if secret is None:
        return err
    err.args = tuple(redact_value(a, secret) for a in err.args)
    for name in ("message", "body", "headers", "request_id", "partial_text"):
        value = getattr(err, name, None)
        if value is not None:
            setattr(err, name, redact_value(value, secret))
    return err


# --------------------------------------------------------------------------- mapping (pure)

_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    500: InternalServerError,
    502: UpstreamError,
    504: UpstreamTimeoutError,
}

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


_REASON_PHRASES = frozenset(s.phrase.lower() for s in HTTPStatus)


def _as_text(value: object) -> str:
    # NestJS sends a list of messages for a validation failure
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def error_message(body: Mapping[str, Any]) -> str | None:
    """The server's message in an error body, whatever its shape; None when it has none.

    ``{"error": {"message": M}}`` (OpenAI, Qolaba), ``{"error": M}``, ``{"message": M}``,
    ``{"detail": M}`` (FastAPI), and ``{"message": M, "statusCode": S, "error": "Bad Gateway"}``
    (NestJS and similar): there ``error`` is only the status's reason phrase, and ``message``
    says what happened.

    Parameters
    ----------
    body
        A parsed JSON error body, or a stream's error event.

    Returns
    -------
    str or None
        The message to show.
    """
    error = body.get("error")
    if isinstance(error, Mapping) and error.get("message"):
        return _as_text(error["message"])
    message = body.get("message")
    if isinstance(error, str) and error:
        if message and error.lower() in _REASON_PHRASES:
            return _as_text(message)
        return error
    for value in (message, body.get("detail")):
        if value:
            return _as_text(value)
    return None


def _message_from_body(body: Any, text: str) -> str:
    if isinstance(body, dict):
        found = error_message(body)
        if found:
            return found
    stripped = text.strip()
    if stripped.startswith("<"):  # an HTML error page from a proxy: its title says enough
        title = _TITLE.search(stripped)
        stripped = title.group(1) if title else _TAG.sub(" ", stripped)
        # entities decoded: a title such as "502 &#8211; Bad Gateway" should read as text
        stripped = " ".join(html.unescape(stripped).split())
    return stripped[:500]


def make_status_error(
    status_code: int,
    content: bytes,
    headers: Mapping[str, str],
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The typed exception for an error response. Never fails, whatever the body holds."""
    text = content.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text) if text.strip() else None
    except ValueError:
        body = text
    message = _message_from_body(body, text) or _reason(status_code)
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    kw: dict[str, Any] = {
        "status_code": status_code,
        "body": body,
        "request_id": request_id,
        "headers": dict(headers),
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kw)
    return cls(message, **kw)


#: How much of an unexpected body an ``APIResponseValidationError`` shows.
BODY_START_CHARS = 200


def response_validation_error(
    status_code: int,
    content_type: str,
    content: bytes,
    *,
    expected: str,
    secret: Secret | None = None,
) -> APIResponseValidationError:
    """The error for a success answer that is not what the API sends. Pure.

    Parameters
    ----------
    status_code, content_type
        The answer's status and ``Content-Type`` ("" when absent).
    content
        The start of its body (more than ``BODY_START_CHARS`` is not needed).
    expected
        What was due, in words: ``"JSON"``, ``"JSON or text/event-stream"``.
    secret
        The key, masked in the body's start.

    Returns
    -------
    APIResponseValidationError
        With a message naming the content type and showing the start of the body.
    """
    start = redact(content[: BODY_START_CHARS * 4].decode("utf-8", errors="replace"), secret)
    start = start[:BODY_START_CHARS]
    kind = content_type or "no content type"
    return APIResponseValidationError(
        f"the server answered HTTP {status_code} with {kind}, not {expected}; "
        f"the body starts: {start!r}",
        status_code=status_code,
        content_type=content_type,
        body_start=start,
    )


def _reason(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "error"
