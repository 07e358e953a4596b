"""``Client`` and ``AsyncClient``: the I/O loops, and nothing else that could be shared.

Everything without I/O lives elsewhere and is shared by both: validation (``_models``), SSE
decoding (``_sse``), stream accumulation (``_accumulate``), retry decisions (``_retry``), error
mapping (``_exceptions``), settings (``_settings``), the budget policy (``_budget``), and the
bookkeeping of one call (``_Call``, below). The sync and the async classes mirror each other line
for line; keep them that way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self, Unpack

import httpx

from . import _config
from ._accumulate import StreamAccumulator
from ._budget import (
    Budget,
    Reservation,
    check_credits,
    estimate_credit,
    reservation_amount,
)
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    IncompleteStreamError,
    NotFoundError,
    QolabaError,
    StreamError,
    ValidationError,
    make_status_error,
    redact_error,
    response_validation_error,
)
from ._models import (
    SAMPLING_PARAMS,
    ChatChunk,
    ChatCompletion,
    Model,
    Usage,
    build_chat_body,
    content_text,
    model_path,
    parse_completion,
    parse_model,
    parse_models,
    prompt_chars,
)
from ._record import CallKind, CallRecord, CallStatus, CreditSource, Hold, LedgerLike, status_of
from ._recording import RecordingTransport, ReplayTransport
from ._retry import RetryPolicy, parse_retry_after
from ._settings import DEFAULT_TIMEOUT, ClientSettings
from ._sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder
from ._types import Messages, SamplingParams

__all__ = ["DEFAULT_TIMEOUT", "AsyncChatStream", "AsyncClient", "ChatStream", "Client"]

log = logging.getLogger("qolaba_nb")

CHAT_PATH = "/api/v1/chat/completions"
MODELS_PATHS = ("/api/v1/chat/models", "/v1/chat/models")
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-qolaba-request-id")

# The loops sleep through these, so tests can make backoff instant.
_sleep = time.sleep
_asleep = asyncio.sleep


def _request_id(headers: httpx.Headers) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _is_stream_answer(response: httpx.Response) -> bool:
    """JSON, an event stream, or no content type at all (read as a stream): not a web page."""
    kind = response.headers.get("content-type", "")
    return not kind or "json" in kind or "text/event-stream" in kind


def _not_api_answer(
    response: httpx.Response, start: bytes, expected: str, secret: _config.Secret | None
) -> APIError:
    return response_validation_error(
        response.status_code,
        response.headers.get("content-type", ""),
        start,
        expected=expected,
        secret=secret,
    )


def _json_of(response: httpx.Response, secret: _config.Secret | None) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _not_api_answer(response, response.content, "JSON", secret) from None


def _connection_error(exc: httpx.TransportError, partial_text: str | None = None) -> APIError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"request timed out ({type(exc).__name__})", partial_text=partial_text
        )
    return APIConnectionError(
        f"connection error: {type(exc).__name__}: {exc}", partial_text=partial_text
    )


def _status_error(response: httpx.Response, api_key: _config.Secret | None) -> APIStatusError:
    # Some proxies echo request headers in their error pages, body or headers: the key leaves
    # no trace in the message, the body or anything built from them. ``content`` is decoded
    # (gzip and the like), so an encoded body is masked too.
    err = make_status_error(
        response.status_code,
        _config.redact_bytes(response.content, api_key),
        response.headers,
        request_id=_request_id(response.headers),
        retry_after=parse_retry_after(response.headers),
    )
    redact_error(err, api_key)
    return err


class _Call:
    """The bookkeeping of one chat call, from just before sending to its one ledger record.

    It carries the call's reservation (client budget and ledger hold) until that reservation
    becomes the charge (``_record``) or is given back (``abandon``).
    """

    __slots__ = (
        "acc",
        "body",
        "call_record",
        "client",
        "hold",
        "http_status",
        "kind",
        "recorded",
        "request_id",
        "reservation",
        "retries",
        "run_id",
        "t0",
        "tag",
        "ts",
        "ttft_s",
    )

    def __init__(
        self,
        client: _BaseClient,
        body: dict[str, Any],
        kind: CallKind,
        tag: str | None,
        run_id: str | None,
    ) -> None:
        self.client = client
        self.body = body
        self.kind = kind
        self.tag = tag if tag is not None else client.tag
        self.run_id = run_id
        self.ts = datetime.now(UTC)
        self.t0 = time.perf_counter()
        self.acc = StreamAccumulator()
        self.ttft_s: float | None = None
        self.retries = 0
        self.http_status: int | None = None
        self.request_id: str | None = None
        self.recorded = False
        self.call_record: CallRecord | None = None  # the ledger row, once the call has ended
        self.reservation: Reservation | None = None
        self.hold: Hold | None = None

    def reserve(self, amount: float, ledger: LedgerLike | None) -> None:
        """Reserve ``amount`` in the client's budget, then in the ledger; undo the first if the
        second refuses. Raises ``BudgetExceededError``; then nothing is reserved."""
        reservation = self.client.settings.budget.reserve(amount)
        if ledger is not None:
            try:
                self.hold = ledger.hold(amount, tag=self.tag)
            except BaseException:
                reservation.release()
                raise
        self.reservation = reservation

    def abandon(self) -> None:
        """The call ends without a record (it never reached the server): give back what it
        reserved."""
        if self.recorded:
            return
        self.recorded = True
        if self.reservation is not None:
            self.reservation.release()
        if self.hold is not None:
            self.client._release_hold(self.hold)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def on_response(self, response: httpx.Response) -> None:
        self.http_status = response.status_code
        rid = _request_id(response.headers)
        self.request_id = None if rid is None else _config.redact(rid, self.client._api_key)

    def status_error(self, response: httpx.Response) -> APIStatusError:
        return _status_error(response, self.client._api_key)

    def on_chunk(self, chunk: ChatChunk) -> None:
        if self.ttft_s is None and (chunk.delta or chunk.tool_call_deltas):
            self.ttft_s = self.elapsed()

    def succeed(self, completion: ChatCompletion) -> ChatCompletion:
        completion.latency_s = self.elapsed()
        if completion.ttft_s is None:
            completion.ttft_s = self.ttft_s
        completion.request_id = completion.request_id or self.request_id
        self._record("ok", completion=completion)
        return completion

    def completion(self, payload: object = None) -> ChatCompletion:
        """The reply as one ``ChatCompletion``: of ``payload`` (a JSON answer), else of what the
        stream gave so far.

        Every reply the client returns is built here, so this is where the key is masked
        wherever a server echoed it: text, tool calls, reasoning, log probabilities, ``raw``.
        (A streamed chunk is shown as it came: a key split over several chunks can only be
        found in the whole text, and the per-token path stays free of the check.)
        """
        if payload is None:
            done = self.acc.completion(
                request_id=self.request_id, latency_s=self.elapsed(), ttft_s=self.ttft_s
            )
        else:
            done = parse_completion(payload, request_id=self.request_id)
        masked: ChatCompletion = _config.redact_value(done, self.client._api_key)
        return masked

    def fail(self, err: QolabaError) -> None:
        redact_error(err, self.client._api_key)  # the one place every failed call passes
        self._record(status_of(err), error=err)

    def cancel(self) -> None:
        """The caller closed the stream (or its task was cancelled) before the end."""
        self._record("cancelled", error="stopped by the caller")

    def _record(
        self,
        status: CallStatus,
        *,
        completion: ChatCompletion | None = None,
        error: BaseException | str | None = None,
    ) -> None:
        if self.recorded:
            return
        self.recorded = True
        key = self.client._api_key
        usage = completion.usage if completion is not None else self.acc.usage
        # A completion comes masked (see completion()); what a cut stream gave is masked here.
        text = completion.text if completion is not None else _config.redact(self.acc.text, key)
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        credit, source = self._credit(usage, len(text))
        if error is not None:
            error = _config.redact(error, key)
        rec = CallRecord(
            model=self.body["model"],
            kind=self.kind,
            status=status,
            ts=self.ts,
            http_status=self.http_status,
            error=error,
            credit=credit,
            credit_source=source,
            cost=usage.cost if usage else None,
            latency_s=completion.latency_s if completion is not None else self.elapsed(),
            ttft_s=self.ttft_s,
            prompt_chars=prompt_chars(self.body["messages"]),
            completion_chars=len(text),
            finish_reason=completion.finish_reason if completion else self.acc.finish_reason,
            request_id=self.request_id,
            retries=self.retries,
            params={k: self.body[k] for k in SAMPLING_PARAMS if k in self.body},
            tag=self.tag,
            run_id=self.run_id,
            prompt_text=_config.redact(_prompt_text(self.body["messages"]), key),
            completion_text=text,
            replayed=self.client.replay is not None,
        )
        self.call_record = rec
        self.client._after_call(rec, self.reservation, self.hold)

    def _credit(self, usage: Usage | None, chars: int) -> tuple[float | None, CreditSource | None]:
        """The server's credit; else, once the server had answered 2xx (it may have charged),
        an estimate from the ledger's fit or the reservation; else nothing known."""
        if usage is not None and usage.credit is not None:
            return usage.credit, "reported"
        if self.http_status is None or self.http_status >= 400:
            return None, None
        reserved = self.reservation.amount if self.reservation is not None else None
        model = str(self.body["model"])
        estimate = estimate_credit(model, chars, reserved=reserved, ledger=self.client.ledger)
        return (estimate, "estimated") if estimate is not None else (None, None)


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n\n".join(f"{m['role']}: {content_text(m.get('content'))}" for m in messages)


class _BaseClient:
    """Configuration and policy; no I/O.

    The configuration is one frozen ``ClientSettings`` (``.settings``); the attributes below
    read it. A twin made from the settings shares this client's ``Budget``.
    """

    def __init__(
        self,
        api_key: str | _config.Secret | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        ledger: LedgerLike | Literal[False] | None = None,
        tag: str | None = None,
        budget_credits: float | Budget | None = None,
        reserve_credits: float | None = None,
        record: str | os.PathLike[str] | None = None,
        replay: str | os.PathLike[str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.settings = ClientSettings.resolve(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            ledger=ledger,
            tag=tag,
            budget_credits=budget_credits,
            reserve_credits=reserve_credits,
            record=record,
            replay=replay,
            max_event_bytes=max_event_bytes,
        )
        self.retry_policy = RetryPolicy(max_retries=self.settings.max_retries)
        self._ledger: LedgerLike | None = None

    # The settings, read through (a twin is built from ``settings``, not from these).
    @property
    def _api_key(self) -> _config.Secret | None:
        return self.settings.api_key

    @property
    def _ledger_arg(self) -> LedgerLike | Literal[False] | None:
        return self.settings.ledger

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self.settings.base_url

    @property
    def timeout(self) -> httpx.Timeout:
        """Connect and read timeouts."""
        return self.settings.timeout

    @property
    def max_retries(self) -> int:
        """Retries after a connection error or timeout, 429, 502, 503 or 504."""
        return self.settings.max_retries

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra request headers (read-only; never ``Authorization``)."""
        return self.settings.headers

    @property
    def record(self) -> str | os.PathLike[str] | None:
        """The file every exchange is recorded to, if any."""
        return self.settings.record

    @property
    def replay(self) -> str | os.PathLike[str] | None:
        """The recording calls are served from, if any (replayed calls cost nothing)."""
        return self.settings.replay

    @property
    def tag(self) -> str | None:
        """The ledger tag of this client's calls; setting it changes this client only."""
        return self.settings.tag

    @tag.setter
    def tag(self, value: str | None) -> None:
        self.settings = replace(self.settings, tag=value)

    @property
    def budget(self) -> Budget | None:
        """The client's budget (shared with its twins); None without ``budget_credits``."""
        budget = self.settings.budget
        return budget if budget.credits is not None else None

    @property
    def max_event_bytes(self) -> int:
        """The bound on one server-sent event (``EventTooLargeError`` past it)."""
        return self.settings.max_event_bytes

    @property
    def budget_credits(self) -> float | None:
        """The client's budget in credits, or None."""
        return self.settings.budget.credits

    @property
    def reserve_credits(self) -> float | None:
        """What each call reserves before it is sent; None: the ledger's expected credit for
        the model, else 1 credit."""
        return self.settings.reserve_credits

    @property
    def spent_credit(self) -> float:
        """Credits spent by this client and every twin of it (reported and estimated)."""
        return self.settings.budget.spent

    @property
    def spent_cost(self) -> float:
        """USD spent by this client and every twin of it, where the server reported a cost."""
        return self.settings.budget.spent_cost

    def _transport(self, given: Any, *, asynchronous: bool = False) -> Any:
        """The transport for record or replay mode, around ``given`` (or httpx's default)."""
        prefix = httpx.URL(self.base_url).path.rstrip("/")
        if self.replay is not None:
            return ReplayTransport(self.replay, prefix=prefix)
        if self.record is not None:
            inner = given or (httpx.AsyncHTTPTransport() if asynchronous else httpx.HTTPTransport())
            return RecordingTransport(self.record, inner, prefix=prefix, secret=self._api_key)
        return given

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        url = _config.mask_url(self.base_url)
        return f"{type(self).__name__}(base_url={url!r}, api_key=<{key}>)"

    @property
    def has_api_key(self) -> bool:
        """Whether a key is set (the key itself is never shown)."""
        return self._api_key is not None

    @property
    def ledger(self) -> LedgerLike | None:
        """Where calls are recorded: the one given, else the default ledger; None when off."""
        if self._ledger_arg is False:
            return None
        if self._ledger is None:
            if self._ledger_arg is None:
                from .ledger import LedgerError, default_ledger

                try:
                    self._ledger = default_ledger()
                except LedgerError as e:
                    _unusable_default_ledger(e, budgeted=self.budget_credits is not None)
                    return None
            else:
                self._ledger = self._ledger_arg
        return self._ledger

    def _request_headers(self) -> httpx.Headers:
        # httpx.Headers masks ``authorization`` in its repr: a traceback that shows locals
        # (``%xmode Verbose``, ``pytest -l``) never shows the key.
        if self._api_key is None:
            raise ValidationError(
                "no API key: set QOLABA_API_KEY (environment or a .env file), pass api_key=..., "
                "or use qolaba_nb.connect() to run against the built-in simulator",
                param="api_key",
            )
        headers = httpx.Headers(self.headers)
        headers["Authorization"] = "Bearer " + self._api_key.get()
        return headers

    def _start_call(
        self,
        messages: Messages,
        model: str,
        params: SamplingParams,
        *,
        kind: CallKind,
        tag: str | None,
        run_id: str | None,
        reserve_credits: float | None,
    ) -> tuple[_Call, httpx.Headers]:
        """Everything before the first byte is sent: validate, reserve the credit, prepare.

        The reservation (see ``qolaba_nb._budget``) is taken from the client's budget and the
        ledger's; a refusal raises ``BudgetExceededError`` and nothing is sent. A replayed
        call reserves nothing.
        """
        body = build_chat_body(messages, model=model, stream=kind == "stream", params=params)
        if reserve_credits is not None:
            reserve_credits = check_credits(reserve_credits, "reserve_credits")
        headers = self._request_headers()
        call = _Call(self, body, kind, tag, run_id)
        if self.replay is None:
            ledger = self.ledger
            amount = reservation_amount(
                model, call=reserve_credits, client=self.reserve_credits, ledger=ledger
            )
            call.reserve(amount, ledger)
        return call, headers

    def _after_call(
        self, rec: CallRecord, reservation: Reservation | None, hold: Hold | None
    ) -> None:
        """The call ended: its reservation becomes its charge, and the ledger gets its record."""
        if reservation is not None:
            reservation.settle(rec.credit, rec.cost)
        ledger = self.ledger
        if ledger is None:
            return
        try:
            if hold is None:
                ledger.record(rec)
            else:
                ledger.record(rec, hold=hold)
        except Exception:  # a broken ledger must not lose the reply the user already has
            log.warning("could not record the call in the ledger", exc_info=True)
            if hold is not None:
                self._release_hold(hold)

    def _release_hold(self, hold: Hold) -> None:
        ledger = self.ledger
        if ledger is None:
            return
        try:
            ledger.release(hold)
        except Exception:  # the hold's lease expires on its own
            log.warning("could not release a ledger hold", exc_info=True)

    def _connection_failure(self, exc: httpx.TransportError, call: _Call | None) -> APIError:
        """The error for a request that got no answer, redacted and (for a call) recorded."""
        err = _connection_error(exc)
        if call is not None:
            call.fail(err)
        else:
            redact_error(err, self._api_key)
        return err

    def _model_paths(self, model_id: str | None) -> list[str]:
        if model_id is None:
            return list(MODELS_PATHS)
        return [f"{p}/{model_path(model_id)}" for p in MODELS_PATHS]


# =========================================================================== sync


class _StreamBase:
    """What both stream classes share: the state of the reply so far. No I/O."""

    def __init__(self, response: httpx.Response, call: _Call) -> None:
        self._response = response
        self._call = call
        self._completion: ChatCompletion | None = None
        self._error: QolabaError | None = None
        self.closed = False

    @property
    def text(self) -> str:
        """The text received so far."""
        return self._call.acc.text

    @property
    def usage(self) -> Usage | None:
        """The credits and cost, once the server has sent them (None before, or never)."""
        return self._call.acc.usage

    @property
    def finish_reason(self) -> str | None:
        """Why the reply ended (``"stop"``, ``"length"``, ...); None until it has."""
        return self._call.acc.finish_reason

    @property
    def ttft_s(self) -> float | None:
        """Seconds from sending to the first text (time to first token); None before."""
        return self._call.ttft_s

    @property
    def request_id(self) -> str | None:
        """The server's request id, if it sent one."""
        return self._call.request_id

    @property
    def model(self) -> str:
        """The model id the call was sent to."""
        return str(self._call.body["model"])

    @property
    def call_record(self) -> CallRecord | None:
        """The call's ledger row once it has ended (done, failed or closed early), with its
        credit and where that came from (``credit_source``); None while it runs."""
        return self._call.call_record

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r} chars={len(self.text)}>"

    def _on_event(self, event: ServerSentEvent) -> ChatChunk | None:
        # One event at a time, so that ``.text`` is the text of the chunks yielded so far.
        chunk = self._call.acc.handle_event(event)
        if chunk is not None:
            self._call.on_chunk(chunk)
        return chunk

    def _take_json(self) -> ChatChunk:
        chunk = self._call.acc.take_completion(self._response.json())
        self._call.on_chunk(chunk)
        return chunk

    def _transport_failure(self, exc: httpx.TransportError) -> QolabaError | None:
        """The error for a cut stream; None after a complete reply (only usage may be lost)."""
        if self._call.acc.complete:
            return None
        if isinstance(exc, httpx.RemoteProtocolError):  # the server hung up mid-reply
            return IncompleteStreamError(
                f"the server closed the stream before the reply was complete ({exc})",
                partial_text=self.text,
            )
        return _connection_error(exc, partial_text=self.text)

    def _fail(self, err: QolabaError) -> None:
        if isinstance(err, StreamError) and not err.partial_text:
            err.partial_text = self.text  # nothing received is lost
        self._error = err
        self._call.fail(err)
        # Without the frames it was first raised in: their locals hold the server's raw bytes.
        raise err.with_traceback(None)

    def _finish(self) -> None:
        self._call.acc.check_complete()
        self._completion = self._call.succeed(self._call.completion())

    def _result(self) -> ChatCompletion:
        if self._error is not None:
            raise self._error
        # A stream stopped early still gives what arrived (its finish_reason is None).
        return self._completion or self._call.completion()

    def _mark_closed(self) -> bool:
        """True the first time: then the caller closes the connection."""
        if self.closed:
            return False
        self.closed = True
        if not self._call.recorded:
            self._call.cancel()
        return True


class ChatStream(_StreamBase):
    """A streaming reply: iterate it for ``ChatChunk``s, or call ``completion()``.

    Closing it (``close()``, leaving its ``with`` block) closes the HTTP connection at once and
    records the call as cancelled if it had not finished.
    """

    def __init__(self, response: httpx.Response, call: _Call) -> None:
        super().__init__(response, call)
        self._chunks = self._iter_chunks()

    def _iter_chunks(self) -> Generator[ChatChunk, None, None]:
        try:
            failed: QolabaError | None = None
            try:
                if _is_json(self._response):
                    self._response.read()
                    yield self._take_json()
                else:
                    yield from self._chunks_of(self._response.iter_bytes())
                self._finish()
            except httpx.TransportError as exc:
                failed = self._transport_failure(exc)
            except (StreamError, IncompleteStreamError) as err:
                failed = err
            if failed is not None:  # raised here, not in an except block: no httpx context
                self._fail(failed)
            elif self._completion is None:  # cut after a complete reply: nothing lost
                self._finish()
        finally:
            self._response.close()
            if not self._call.recorded:  # closed early, or interrupted
                self._call.cancel()

    def _chunks_of(self, reads: Iterator[bytes]) -> Iterator[ChatChunk]:
        # A frame of its own: the server's bytes (which may echo the key) are never locals of
        # the frame that raises the stream's error.
        decoder = SSEDecoder(self._call.client.max_event_bytes)
        for data in reads:
            for event in decoder.feed(data):
                if (chunk := self._on_event(event)) is not None:
                    yield chunk

    def __iter__(self) -> Iterator[ChatChunk]:
        return self._chunks

    def __next__(self) -> ChatChunk:
        return next(self._chunks)

    def text_deltas(self) -> Iterator[str]:
        """The reply's text as it arrives, piece by piece (the first choice's)."""
        for chunk in self._chunks:
            if chunk.delta and chunk.index == 0:  # the text of the first choice
                yield chunk.delta

    def completion(self) -> ChatCompletion:
        """Read to the end (also after a partial iteration) and return the whole reply."""
        for _ in self._chunks:
            pass
        return self._result()

    def close(self) -> None:
        """Stop reading: close the connection now; an unfinished call is recorded as
        cancelled, with the text received so far."""
        if self._mark_closed():
            self._chunks.close()
            self._response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Client(_BaseClient):
    """The synchronous client of the Qolaba chat API; usable as a context manager.

    Every call is checked before it is sent (every documented 400 is refused locally),
    retried on connection errors and retryable statuses, charged against the client's budget
    and recorded in the usage ledger. The settings are one frozen ``ClientSettings``
    (``client.settings``); ``qolaba_nb.connect()`` builds a client from the environment.

    Parameters
    ----------
    api_key : str, Secret or None, default None
        The API key. None: ``QOLABA_API_KEY`` from the environment or a ``.env`` file. It is
        never shown: not in a repr, an error, a log or the ledger.
    base_url : str or None, default None
        The API's root URL. None: ``QOLABA_BASE_URL``, else
        ``https://qolaba-server-b2b.up.railway.app``.
    transport : httpx.BaseTransport or None, default None
        An httpx transport to send through (tests, proxies); None: httpx's own.
    timeout : float, httpx.Timeout or None, default None
        Seconds to wait for the server. None: 240 s to read (the server gives upstream
        models 3 minutes) and 10 s to connect.
    max_retries : int, default 2
        Retries after a connection error or timeout, 429, 502, 503 or 504, with
        exponential backoff or after the server's ``Retry-After`` (seconds).
    headers : mapping of str to str or None, default None
        Extra headers sent with every request (never ``Authorization``).
    ledger : UsageLedger, False or None, default None
        Where every call is recorded (credits, cost, latency, time to first token). None: the
        default ledger (``QOLABA_NB_LEDGER`` or the per-user data directory); False: none.
    tag : str or None, default None
        The ledger tag of this client's calls (a project, a class, an experiment).
    budget_credits : float, Budget or None, default None
        A limit in credits on what this client (and every twin of it) spends: a call that
        would pass it raises ``BudgetExceededError`` before it is sent. A ``Budget`` is
        shared with the other clients given it. None: no limit (spending is still counted).
    reserve_credits : float or None, default None
        Credits each call reserves from the budget before it is sent, settled to the real
        charge after. None: the ledger's expected credit for the model, else 1 credit.
    record : str, path or None, default None
        Record every exchange to this file (the key is never written), to replay later.
    replay : str, path or None, default None
        Serve every call from this recording instead of the network (replayed calls cost
        nothing; a call not in it raises ``ReplayMissError``). Not with ``record``.
    max_event_bytes : int, default 16 MiB
        The most bytes one server-sent event may have (``EventTooLargeError`` past it).

    Raises
    ------
    ValidationError
        A bad argument (a negative ``max_retries``, a ``base_url`` that is not http(s),
        ``record`` with ``replay``, ...).

    Examples
    --------
    >>> from qolaba_nb import Client
    >>> with Client(budget_credits=5, tag="demo") as client:  # doctest: +SKIP
    ...     reply = client.chat("Name three rivers.", model="openai/gpt-4o")
    ...     print(reply.text, reply.credit)
    """

    def __init__(
        self,
        api_key: str | _config.Secret | None = None,
        base_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        ledger: LedgerLike | Literal[False] | None = None,
        tag: str | None = None,
        budget_credits: float | Budget | None = None,
        reserve_credits: float | None = None,
        record: str | os.PathLike[str] | None = None,
        replay: str | os.PathLike[str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            ledger=ledger,
            tag=tag,
            budget_credits=budget_credits,
            reserve_credits=reserve_credits,
            record=record,
            replay=replay,
            max_event_bytes=max_event_bytes,
        )
        self._http = httpx.Client(timeout=self.timeout, transport=self._transport(transport))

    def list_models(self) -> list[Model]:
        """The models the API offers, as ``Model`` objects (``id``, ``provider``, ...)."""
        return parse_models(self._get_json(self._model_paths(None)))

    def get_model(self, model_id: str) -> Model:
        """One model by its id; ``NotFoundError`` if the API has no such model."""
        model = parse_model(self._get_json(self._model_paths(model_id)))
        if model is None:
            raise NotFoundError(f"no model {model_id!r}", status_code=404)
        return model

    def _get_json(self, paths: list[str]) -> Any:
        """GET the first path that is not a 404 (the reference spells the path two ways)."""
        headers = self._request_headers()
        for i, path in enumerate(paths):
            response = self._send(
                self._http.build_request("GET", self.base_url + path, headers=headers)
            )
            if response.status_code == 404 and i + 1 < len(paths):
                continue
            if response.status_code >= 400:
                raise _status_error(response, self._api_key)
            return _json_of(response, self._api_key)
        raise AssertionError("unreachable")

    def _send(
        self, request: httpx.Request, *, call: _Call | None = None, stream: bool = False
    ) -> httpx.Response:
        """Send with retries; return the first response that is not retried (maybe an error)."""
        attempt = 0
        while True:
            failed: APIError | None = None
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self.retry_policy.delay(attempt)
                if delay is None:
                    failed = self._connection_failure(exc, call)
                else:
                    log.info(
                        "retrying %s after %s (in %.2fs)",
                        request.url.path,
                        type(exc).__name__,
                        delay,
                    )
            else:
                if response.status_code < 400:
                    return response
                response.read()
                delay = self.retry_policy.delay(
                    attempt, status=response.status_code, headers=response.headers
                )
                if delay is None:
                    return response
                response.close()
                log.info(
                    "retrying %s after HTTP %s (in %.2fs)",
                    request.url.path,
                    response.status_code,
                    delay,
                )
            if failed is not None:
                raise failed  # outside the except block: no __context__ holding the request
            assert delay is not None
            attempt += 1
            if call is not None:
                call.retries = attempt
            _sleep(delay)

    def _open(self, call: _Call, headers: httpx.Headers, stream: bool) -> httpx.Response:
        request = self._http.build_request(
            "POST", self.base_url + CHAT_PATH, json=call.body, headers=headers
        )
        try:
            response = self._send(request, call=call, stream=stream)
        except KeyboardInterrupt:  # stopped before the reply began: still one record
            call.cancel()
            raise
        except BaseException:  # not sent (a replay miss, a transport's bug): nothing to pay
            call.abandon()
            raise
        call.on_response(response)
        if response.status_code >= 400:
            err = call.status_error(response)
            call.fail(err)
            raise err
        if stream and not _is_stream_answer(response):  # a portal's page, not the API
            start = next(response.iter_bytes(), b"")
            response.close()
            bad = _not_api_answer(response, start, "JSON or text/event-stream", self._api_key)
            call.fail(bad)
            raise bad
        return response

    def chat(
        self,
        messages: Messages,
        *,
        model: str,
        tag: str | None = None,
        run_id: str | None = None,
        reserve_credits: float | None = None,
        **params: Unpack[SamplingParams],
    ) -> ChatCompletion:
        """Send a chat request and wait for the whole reply.

        The request is checked before it is sent, its credit is reserved from the budget,
        and the call is recorded in the ledger (credit, cost, latency) however it ends.

        Parameters
        ----------
        messages : str or sequence of dict
            A string (one user message) or OpenAI-style message dicts, each with a ``role``
            and a ``content`` (a string, or a list of ``text`` and ``image_url`` parts).
        model : str
            The model id, e.g. ``"openai/gpt-4o"`` (``list_models()`` gives them all).
        tag : str or None, default None
            The ledger tag of this call; None: the client's ``tag``.
        run_id : str or None, default None
            An id recorded with the call, to group calls in the ledger (``compare`` sets one).
        reserve_credits : float or None, default None
            Credits set aside for this call before it is sent; None: the client's
            ``reserve_credits``, else the ledger's expected credit for the model, else 1.
        **params : Unpack[SamplingParams]
            The optional request fields (see ``SamplingParams``): ``temperature`` (0 to 2),
            ``max_tokens`` (a positive integer), ``top_p`` (0 to 1), ``frequency_penalty``
            and ``presence_penalty`` (-2 to 2), ``stop`` (a string or up to 4 of them),
            ``tools``, ``tool_choice``, ``stream_options`` and ``extra_body``. An unknown
            name raises ``ValidationError`` with a "did you mean" hint, before sending.

        Returns
        -------
        ChatCompletion
            The reply: ``text``, ``credit`` (credits) and ``cost`` (USD) as the server
            reported them, ``latency_s`` (seconds), ``finish_reason``, every choice.

        Raises
        ------
        ValidationError
            A bad argument; nothing was sent.
        BudgetExceededError
            The reservation does not fit in the client's or the ledger's budget; nothing
            was sent.
        APIStatusError
            The server answered with an error after the retries (``RateLimitError`` for a
            429, ``AuthenticationError`` for a 401, ...).
        APIConnectionError
            No answer after the retries (``APITimeoutError`` for a timeout).

        Examples
        --------
        >>> reply = client.chat("Name three rivers.", model="openai/gpt-4o")  # doctest: +SKIP
        >>> reply.text, reply.credit  # doctest: +SKIP
        """
        call, headers = self._start_call(
            messages,
            model,
            params,
            kind="chat",
            tag=tag,
            run_id=run_id,
            reserve_credits=reserve_credits,
        )
        response = self._open(call, headers, stream=False)
        return call.succeed(_read_completion(call, response.content, response))

    def stream(
        self,
        messages: Messages,
        *,
        model: str,
        tag: str | None = None,
        run_id: str | None = None,
        reserve_credits: float | None = None,
        **params: Unpack[SamplingParams],
    ) -> ChatStream:
        """Send a streaming chat request; return once the response headers are in.

        The reply arrives as server-sent events while it is written. Closing the stream early
        (leaving its ``with`` block, a Stop) closes the connection at once; the call is
        recorded as cancelled with the text received so far.

        Parameters
        ----------
        messages : str or sequence of dict
            A string (one user message) or OpenAI-style message dicts, each with a ``role``
            and a ``content`` (a string, or a list of ``text`` and ``image_url`` parts).
        model : str
            The model id, e.g. ``"openai/gpt-4o"`` (``list_models()`` gives them all).
        tag : str or None, default None
            The ledger tag of this call; None: the client's ``tag``.
        run_id : str or None, default None
            An id recorded with the call, to group calls in the ledger (``compare`` sets one).
        reserve_credits : float or None, default None
            Credits set aside for this call before it is sent; None: the client's
            ``reserve_credits``, else the ledger's expected credit for the model, else 1.
        **params : Unpack[SamplingParams]
            The optional request fields (see ``SamplingParams``): ``temperature`` (0 to 2),
            ``max_tokens`` (a positive integer), ``top_p`` (0 to 1), ``frequency_penalty``
            and ``presence_penalty`` (-2 to 2), ``stop`` (a string or up to 4 of them),
            ``tools``, ``tool_choice``, ``stream_options`` and ``extra_body``. An unknown
            name raises ``ValidationError`` with a "did you mean" hint, before sending.

        Returns
        -------
        ChatStream
            Iterate it (``for``) for ``ChatChunk``s or ``text_deltas()``; ``completion()``
            reads to the end. ``text`` is the text so far, ``usage`` the credits once known.

        Raises
        ------
        ValidationError
            A bad argument; nothing was sent.
        BudgetExceededError
            The reservation does not fit in the client's or the ledger's budget; nothing
            was sent.
        APIStatusError
            The server answered with an error after the retries (``RateLimitError`` for a
            429, ``AuthenticationError`` for a 401, ...).
        APIConnectionError
            No answer after the retries (``APITimeoutError`` for a timeout).

        Examples
        --------
        >>> with client.stream("Hi", model="openai/gpt-4o", max_tokens=50) as s:  # doctest: +SKIP
        ...     for text in s.text_deltas():
        ...         print(text, end="")
        >>> s.completion().credit  # doctest: +SKIP
        """
        call, headers = self._start_call(
            messages,
            model,
            params,
            kind="stream",
            tag=tag,
            run_id=run_id,
            reserve_credits=reserve_credits,
        )
        return ChatStream(self._open(call, headers, stream=True), call)

    def close(self) -> None:
        """Close the client's connections (leaving its ``with`` block does it)."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _read_completion(call: _Call, content: bytes, response: httpx.Response) -> ChatCompletion:
    """A non-streaming reply; an SSE body (the server ignored stream=false) is read as a stream."""
    if "text/event-stream" in response.headers.get("content-type", ""):
        failed: QolabaError | None = None
        try:
            _feed_all(call, content)
        except (StreamError, IncompleteStreamError) as stream_err:
            failed = stream_err
        if failed is not None:  # without the frames whose locals hold the server's bytes
            if isinstance(failed, StreamError) and not failed.partial_text:
                failed.partial_text = call.acc.text
            call.fail(failed)
            raise failed.with_traceback(None)
        return call.completion()
    try:
        payload = response.json()
    except ValueError:
        err = _not_api_answer(response, content, "JSON", call.client._api_key)
        call.fail(err)
        raise err from None
    return call.completion(payload)


def _feed_all(call: _Call, content: bytes) -> None:
    for event in SSEDecoder(call.client.max_event_bytes).feed(content):
        chunk = call.acc.handle_event(event)
        if chunk is not None:
            call.on_chunk(chunk)
    call.acc.check_complete()


# =========================================================================== async (mirrors sync)


class AsyncChatStream(_StreamBase):
    """The async twin of ``ChatStream``: ``async with``, ``async for``, ``await completion()``."""

    def __init__(self, response: httpx.Response, call: _Call) -> None:
        super().__init__(response, call)
        self._chunks = self._iter_chunks()

    async def _iter_chunks(self) -> AsyncGenerator[ChatChunk, None]:
        try:
            failed: QolabaError | None = None
            try:
                if _is_json(self._response):
                    await self._response.aread()
                    yield self._take_json()
                else:
                    async for chunk in self._achunks_of(self._response.aiter_bytes()):
                        yield chunk
                self._finish()
            except httpx.TransportError as exc:
                failed = self._transport_failure(exc)
            except (StreamError, IncompleteStreamError) as err:
                failed = err
            if failed is not None:  # raised here, not in an except block: no httpx context
                self._fail(failed)
            elif self._completion is None:  # cut after a complete reply: nothing lost
                self._finish()
        finally:
            await self._response.aclose()
            if not self._call.recorded:  # closed early, or the task was cancelled
                self._call.cancel()

    async def _achunks_of(self, reads: AsyncIterator[bytes]) -> AsyncIterator[ChatChunk]:
        # A frame of its own: the server's bytes (which may echo the key) are never locals of
        # the frame that raises the stream's error.
        decoder = SSEDecoder(self._call.client.max_event_bytes)
        async for data in reads:
            for event in decoder.feed(data):
                if (chunk := self._on_event(event)) is not None:
                    yield chunk

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self._chunks

    async def __anext__(self) -> ChatChunk:
        return await anext(self._chunks)

    async def text_deltas(self) -> AsyncIterator[str]:
        """The reply's text as it arrives, piece by piece (the first choice's)."""
        async for chunk in self._chunks:
            if chunk.delta and chunk.index == 0:  # the text of the first choice
                yield chunk.delta

    async def completion(self) -> ChatCompletion:
        """Read to the end (also after a partial iteration) and return the whole reply."""
        async for _ in self._chunks:
            pass
        return self._result()

    async def aclose(self) -> None:
        """Stop reading: close the connection now; an unfinished call is recorded as
        cancelled, with the text received so far."""
        if self._mark_closed():
            await self._chunks.aclose()
            await self._response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncClient(_BaseClient):
    """The asyncio client of the Qolaba chat API: ``Client``'s arguments and methods, awaited.

    Use it with ``async with`` (or ``await client.aclose()``); ``chat`` and ``stream`` are
    coroutines, and the stream is iterated with ``async for``. Its connections belong to the
    event loop it was first used on: for another loop, make a ``twin``.

    Parameters
    ----------
    api_key : str, Secret or None, default None
        The API key. None: ``QOLABA_API_KEY`` from the environment or a ``.env`` file. It is
        never shown: not in a repr, an error, a log or the ledger.
    base_url : str or None, default None
        The API's root URL. None: ``QOLABA_BASE_URL``, else
        ``https://qolaba-server-b2b.up.railway.app``.
    transport : httpx.AsyncBaseTransport or None, default None
        An httpx transport to send through (tests, proxies); None: httpx's own.
    timeout : float, httpx.Timeout or None, default None
        Seconds to wait for the server. None: 240 s to read (the server gives upstream
        models 3 minutes) and 10 s to connect.
    max_retries : int, default 2
        Retries after a connection error or timeout, 429, 502, 503 or 504, with
        exponential backoff or after the server's ``Retry-After`` (seconds).
    headers : mapping of str to str or None, default None
        Extra headers sent with every request (never ``Authorization``).
    ledger : UsageLedger, False or None, default None
        Where every call is recorded (credits, cost, latency, time to first token). None: the
        default ledger (``QOLABA_NB_LEDGER`` or the per-user data directory); False: none.
    tag : str or None, default None
        The ledger tag of this client's calls (a project, a class, an experiment).
    budget_credits : float, Budget or None, default None
        A limit in credits on what this client (and every twin of it) spends: a call that
        would pass it raises ``BudgetExceededError`` before it is sent. A ``Budget`` is
        shared with the other clients given it. None: no limit (spending is still counted).
    reserve_credits : float or None, default None
        Credits each call reserves from the budget before it is sent, settled to the real
        charge after. None: the ledger's expected credit for the model, else 1 credit.
    record : str, path or None, default None
        Record every exchange to this file (the key is never written), to replay later.
    replay : str, path or None, default None
        Serve every call from this recording instead of the network (replayed calls cost
        nothing; a call not in it raises ``ReplayMissError``). Not with ``record``.
    max_event_bytes : int, default 16 MiB
        The most bytes one server-sent event may have (``EventTooLargeError`` past it).

    Raises
    ------
    ValidationError
        A bad argument (a negative ``max_retries``, a ``base_url`` that is not http(s),
        ``record`` with ``replay``, ...).

    Examples
    --------
    >>> from qolaba_nb import AsyncClient
    >>> async with AsyncClient() as client:  # doctest: +SKIP
    ...     async with await client.stream("Hi", model="openai/gpt-4o") as stream:
    ...         async for text in stream.text_deltas():
    ...             print(text, end="")
    """

    def __init__(
        self,
        api_key: str | _config.Secret | None = None,
        base_url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        ledger: LedgerLike | Literal[False] | None = None,
        tag: str | None = None,
        budget_credits: float | Budget | None = None,
        reserve_credits: float | None = None,
        record: str | os.PathLike[str] | None = None,
        replay: str | os.PathLike[str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        super().__init__(
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            ledger=ledger,
            tag=tag,
            budget_credits=budget_credits,
            reserve_credits=reserve_credits,
            record=record,
            replay=replay,
            max_event_bytes=max_event_bytes,
        )
        self._http = httpx.AsyncClient(
            timeout=self.timeout, transport=self._transport(transport, asynchronous=True)
        )

    @classmethod
    def twin(cls, client: Client | AsyncClient | None = None) -> AsyncClient:
        """A new ``AsyncClient`` with the settings of ``client`` (or from the environment).

        For code that runs on an event loop but was handed a sync client, or an async one whose
        connections belong to another loop. The twin has its own connections (close it), and
        everything else of ``client``: its settings, its ledger and its ``Budget`` object, so
        ``client.spent_credit`` counts what the twin spends.
        """
        return cls() if client is None else cls(**client.settings.arguments())

    async def list_models(self) -> list[Model]:
        """The models the API offers, as ``Model`` objects (``id``, ``provider``, ...)."""
        return parse_models(await self._get_json(self._model_paths(None)))

    async def get_model(self, model_id: str) -> Model:
        """One model by its id; ``NotFoundError`` if the API has no such model."""
        model = parse_model(await self._get_json(self._model_paths(model_id)))
        if model is None:
            raise NotFoundError(f"no model {model_id!r}", status_code=404)
        return model

    async def _get_json(self, paths: list[str]) -> Any:
        """GET the first path that is not a 404 (the reference spells the path two ways)."""
        headers = self._request_headers()
        for i, path in enumerate(paths):
            response = await self._send(
                self._http.build_request("GET", self.base_url + path, headers=headers)
            )
            if response.status_code == 404 and i + 1 < len(paths):
                continue
            if response.status_code >= 400:
                raise _status_error(response, self._api_key)
            return _json_of(response, self._api_key)
        raise AssertionError("unreachable")

    async def _send(
        self, request: httpx.Request, *, call: _Call | None = None, stream: bool = False
    ) -> httpx.Response:
        """Send with retries; return the first response that is not retried (maybe an error)."""
        attempt = 0
        while True:
            failed: APIError | None = None
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                delay = self.retry_policy.delay(attempt)
                if delay is None:
                    failed = self._connection_failure(exc, call)
                else:
                    log.info(
                        "retrying %s after %s (in %.2fs)",
                        request.url.path,
                        type(exc).__name__,
                        delay,
                    )
            else:
                if response.status_code < 400:
                    return response
                await response.aread()
                delay = self.retry_policy.delay(
                    attempt, status=response.status_code, headers=response.headers
                )
                if delay is None:
                    return response
                await response.aclose()
                log.info(
                    "retrying %s after HTTP %s (in %.2fs)",
                    request.url.path,
                    response.status_code,
                    delay,
                )
            if failed is not None:
                raise failed  # outside the except block: no __context__ holding the request
            assert delay is not None
            attempt += 1
            if call is not None:
                call.retries = attempt
            await _asleep(delay)

    async def _open(self, call: _Call, headers: httpx.Headers, stream: bool) -> httpx.Response:
        request = self._http.build_request(
            "POST", self.base_url + CHAT_PATH, json=call.body, headers=headers
        )
        try:
            response = await self._send(request, call=call, stream=stream)
        except (asyncio.CancelledError, KeyboardInterrupt):  # stopped before the reply began
            call.cancel()
            raise
        except BaseException:  # not sent (a replay miss, a transport's bug): nothing to pay
            call.abandon()
            raise
        call.on_response(response)
        if response.status_code >= 400:
            err = call.status_error(response)
            call.fail(err)
            raise err
        if stream and not _is_stream_answer(response):  # a portal's page, not the API
            start = await anext(response.aiter_bytes(), b"")
            await response.aclose()
            bad = _not_api_answer(response, start, "JSON or text/event-stream", self._api_key)
            call.fail(bad)
            raise bad
        return response

    async def chat(
        self,
        messages: Messages,
        *,
        model: str,
        tag: str | None = None,
        run_id: str | None = None,
        reserve_credits: float | None = None,
        **params: Unpack[SamplingParams],
    ) -> ChatCompletion:
        """Send a chat request and wait for the whole reply.

        The request is checked before it is sent, its credit is reserved from the budget,
        and the call is recorded in the ledger (credit, cost, latency) however it ends.

        Parameters
        ----------
        messages : str or sequence of dict
            A string (one user message) or OpenAI-style message dicts, each with a ``role``
            and a ``content`` (a string, or a list of ``text`` and ``image_url`` parts).
        model : str
            The model id, e.g. ``"openai/gpt-4o"`` (``list_models()`` gives them all).
        tag : str or None, default None
            The ledger tag of this call; None: the client's ``tag``.
        run_id : str or None, default None
            An id recorded with the call, to group calls in the ledger (``compare`` sets one).
        reserve_credits : float or None, default None
            Credits set aside for this call before it is sent; None: the client's
            ``reserve_credits``, else the ledger's expected credit for the model, else 1.
        **params : Unpack[SamplingParams]
            The optional request fields (see ``SamplingParams``): ``temperature`` (0 to 2),
            ``max_tokens`` (a positive integer), ``top_p`` (0 to 1), ``frequency_penalty``
            and ``presence_penalty`` (-2 to 2), ``stop`` (a string or up to 4 of them),
            ``tools``, ``tool_choice``, ``stream_options`` and ``extra_body``. An unknown
            name raises ``ValidationError`` with a "did you mean" hint, before sending.

        Returns
        -------
        ChatCompletion
            The reply: ``text``, ``credit`` (credits) and ``cost`` (USD) as the server
            reported them, ``latency_s`` (seconds), ``finish_reason``, every choice.

        Raises
        ------
        ValidationError
            A bad argument; nothing was sent.
        BudgetExceededError
            The reservation does not fit in the client's or the ledger's budget; nothing
            was sent.
        APIStatusError
            The server answered with an error after the retries (``RateLimitError`` for a
            429, ``AuthenticationError`` for a 401, ...).
        APIConnectionError
            No answer after the retries (``APITimeoutError`` for a timeout).

        Examples
        --------
        >>> reply = await client.chat("Name three rivers.", model="openai/gpt-4o")  # doctest: +SKIP
        >>> reply.text, reply.credit  # doctest: +SKIP
        """
        call, headers = self._start_call(
            messages,
            model,
            params,
            kind="chat",
            tag=tag,
            run_id=run_id,
            reserve_credits=reserve_credits,
        )
        response = await self._open(call, headers, stream=False)
        return call.succeed(_read_completion(call, response.content, response))

    async def stream(
        self,
        messages: Messages,
        *,
        model: str,
        tag: str | None = None,
        run_id: str | None = None,
        reserve_credits: float | None = None,
        **params: Unpack[SamplingParams],
    ) -> AsyncChatStream:
        """Send a streaming chat request; return once the response headers are in.

        The reply arrives as server-sent events while it is written. Closing the stream early
        (leaving its ``with`` block, a Stop) closes the connection at once; the call is
        recorded as cancelled with the text received so far.

        Parameters
        ----------
        messages : str or sequence of dict
            A string (one user message) or OpenAI-style message dicts, each with a ``role``
            and a ``content`` (a string, or a list of ``text`` and ``image_url`` parts).
        model : str
            The model id, e.g. ``"openai/gpt-4o"`` (``list_models()`` gives them all).
        tag : str or None, default None
            The ledger tag of this call; None: the client's ``tag``.
        run_id : str or None, default None
            An id recorded with the call, to group calls in the ledger (``compare`` sets one).
        reserve_credits : float or None, default None
            Credits set aside for this call before it is sent; None: the client's
            ``reserve_credits``, else the ledger's expected credit for the model, else 1.
        **params : Unpack[SamplingParams]
            The optional request fields (see ``SamplingParams``): ``temperature`` (0 to 2),
            ``max_tokens`` (a positive integer), ``top_p`` (0 to 1), ``frequency_penalty``
            and ``presence_penalty`` (-2 to 2), ``stop`` (a string or up to 4 of them),
            ``tools``, ``tool_choice``, ``stream_options`` and ``extra_body``. An unknown
            name raises ``ValidationError`` with a "did you mean" hint, before sending.

        Returns
        -------
        AsyncChatStream
            Iterate it (``async for``) for ``ChatChunk``s or ``text_deltas()``; ``completion()``
            reads to the end. ``text`` is the text so far, ``usage`` the credits once known.

        Raises
        ------
        ValidationError
            A bad argument; nothing was sent.
        BudgetExceededError
            The reservation does not fit in the client's or the ledger's budget; nothing
            was sent.
        APIStatusError
            The server answered with an error after the retries (``RateLimitError`` for a
            429, ``AuthenticationError`` for a 401, ...).
        APIConnectionError
            No answer after the retries (``APITimeoutError`` for a timeout).

        Examples
        --------
        >>> async with await client.stream("Hi", model="openai/gpt-4o") as s:  # doctest: +SKIP
        ...     async for text in s.text_deltas():
        ...         print(text, end="")
        >>> s.text, s.usage  # doctest: +SKIP
        """
        call, headers = self._start_call(
            messages,
            model,
            params,
            kind="stream",
            tag=tag,
            run_id=run_id,
            reserve_credits=reserve_credits,
        )
        return AsyncChatStream(await self._open(call, headers, stream=True), call)

    async def aclose(self) -> None:
        """Close the client's connections (leaving its ``async with`` block does it)."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


_warned_ledgers: set[str] = set()


def _unusable_default_ledger(err: Any, *, budgeted: bool) -> None:
    """The default ledger cannot be opened: carry on unrecorded (warned once per file), unless
    a budget depends on it; then refuse the call, before anything is sent."""
    if budgeted:
        from .ledger import LedgerError

        raise LedgerError(
            f"{err} This client has a budget (budget_credits=...), which needs the ledger, "
            "so the call was not sent.",
            path=err.path,
        ) from err
    if err.path not in _warned_ledgers:
        _warned_ledgers.add(err.path)
        warnings.warn(
            f"{err} Calls are made but not recorded until this is fixed.",
            RuntimeWarning,
            stacklevel=4,
        )
