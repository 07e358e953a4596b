"""The simulator's HTTP application: a Starlette app speaking the Qolaba chat API.

Read top to bottom: state and options, errors, request parsing and validation, building an
answer, sending it (JSON or Server-Sent Events), then the routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _judge, _text
from ._catalogue import MODELS, MODELS_BY_ID, SimModel, model_card

DEFAULT_API_KEY = "qsim-local-key"  # not a secret: the simulator only listens on loopback

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_WRITE_SIZE = 64 * 1024  # bytes per socket write when chunks are sent without pauses
_MAX_SIM_CHUNKS = 1_000_000
_MAX_SIM_DELAY_S = 600.0
_LOG_ENTRY_KEY = "qolaba_sim.log_entry"

# --- state ---------------------------------------------------------------------------------


@dataclass(slots=True)
class SimStats:
    """Counters a test or a notebook can watch. ``stats["requests"]`` works too."""

    requests: int = 0
    streams_completed: int = 0
    disconnects: int = 0  # streams the client closed before the end
    streams_cut: int = 0  # streams the simulator dropped on purpose (sim/cut-stream)

    def __getitem__(self, name: str) -> int:
        value: int = getattr(self, name)
        return value

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SimOptions:
    """Server-wide defaults. Per-request ``x-sim-*`` headers override the first four."""

    latency_s: float | None = None  # fixed total time per call, overrides model pacing
    ttft_s: float | None = None  # time to first token, overrides the model's
    chunk_delay_s: float | None = None  # pause between stream chunks, overrides the model's
    chunks: int | None = None  # exact number of content chunks per streamed answer
    speed: float = 1.0  # multiplies the catalogue's pacing: 0.5 twice as fast, 0 no pauses
    rate_limit: int = 600  # requests per key ...
    rate_window_s: float = 60.0  # ... per sliding window of this many seconds
    max_log: int = 10_000  # requests_log keeps only the newest entries ...
    max_log_bytes: int = 32 * 1024 * 1024  # ... and only as many bodies as fit in this
    max_body_bytes: int = 8 * 1024 * 1024  # a longer request body is answered 413
    header_timeout_s: float = 10.0  # a connection whose request headers take longer is closed


def _key_id(key: str) -> str:
    # Keys are only ever held as digests, so no key can leak into a log or a body.
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class SimState:
    """Everything the app remembers between requests; exposed as ``app.state.sim``."""

    def __init__(self, api_keys: Iterable[str], options: SimOptions) -> None:
        self.options = options
        self.stats = SimStats()
        self.requests_log: list[dict[str, Any]] = []
        self._log_bytes = 0  # the sizes of the bodies the log holds
        self._key_ids = {_key_id(k) for k in api_keys}
        self._windows: dict[str, deque[float]] = {}
        self._flaky_counts: dict[str, int] = {}
        # Events of calls that are waiting (pacing or latency); setting them ends the wait.
        # Shutdown sets them all so a slow stream does not hold the server open.
        self._waiting: set[asyncio.Event] = set()
        self._closing = False

    def known_key(self, key: str) -> str | None:
        key_id = _key_id(key)
        return key_id if key_id in self._key_ids else None

    def log(self, entry: dict[str, Any]) -> None:
        self.requests_log.append(entry)
        overflow = len(self.requests_log) - self.options.max_log
        if overflow > self.options.max_log // 10:
            for old in self.requests_log[:overflow]:
                self._log_bytes -= old.get("body_bytes", 0)
            del self.requests_log[:overflow]

    def log_body(self, entry: dict[str, Any] | None, body: object, size: int) -> None:
        """Keep a request's parsed body in its log entry; the oldest bodies are let go so
        that the log never holds more than ``max_log_bytes`` of them."""
        if entry is None:
            return
        entry["json"], entry["body_bytes"] = body, size
        self._log_bytes += size
        for old in self.requests_log:
            if self._log_bytes <= self.options.max_log_bytes or old is entry:
                break
            if old.get("body_bytes"):
                self._log_bytes -= old["body_bytes"]
                old["json"], old["body_bytes"] = None, 0

    def admit(self, key_id: str) -> None:
        """Sliding-window rate limit per key; raises a 429 ``ApiError`` when over it."""
        now = time.monotonic()
        window = self._windows.setdefault(key_id, deque())
        while window and window[0] <= now - self.options.rate_window_s:
            window.popleft()
        if len(window) >= self.options.rate_limit:
            retry_after = max(1, math.ceil(window[0] + self.options.rate_window_s - now))
            raise ApiError(
                429,
                f"Rate limit exceeded: {self.options.rate_limit} requests per "
                f"{self.options.rate_window_s:g} s. Retry after {retry_after} s.",
                "rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(retry_after)},
            )
        window.append(now)

    def flaky_turn(self, key_id: str) -> int:
        self._flaky_counts[key_id] = self._flaky_counts.get(key_id, 0) + 1
        return self._flaky_counts[key_id]

    def begin_serving(self) -> None:
        self._closing = False

    def close(self) -> None:
        """Cut every pending wait short. Call from the server's event loop."""
        self._closing = True
        for event in self._waiting:
            event.set()

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        if self._closing:
            event.set()
        self._waiting.add(event)
        return event

    def release(self, event: asyncio.Event) -> None:
        self._waiting.discard(event)


async def _pause(seconds: float, interrupt: asyncio.Event) -> bool:
    """Sleep, unless ``interrupt`` fires first; return True if it did."""
    if interrupt.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        async with asyncio.timeout(seconds):
            await interrupt.wait()
    except TimeoutError:
        return False
    return True


# --- errors --------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer in OpenAI's shape: ``{"error": {message, type, param, code}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def _bad(message: str, param: str | None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


class DropConnection(Exception):
    """Raised mid-stream to make uvicorn close the socket, like a crashed upstream would."""


class _HideDropConnection(logging.Filter):
    # uvicorn logs any exception escaping the app with a traceback; a deliberate drop is not
    # an error worth a traceback in someone's notebook.
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideDropConnection) for f in logger.filters):
        logger.addFilter(_HideDropConnection())


# --- reading a request ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Knobs:
    """Per-call pacing, from ``x-sim-*`` headers or the server defaults."""

    latency_s: float | None
    ttft_s: float | None
    chunk_delay_s: float | None
    chunks: int | None
    speed: float
    reasoning_s: float | None = None  # x-sim-reasoning: think this long, out loud, first
    chunk_chars: int | None = None  # x-sim-chunk-chars: no text chunk longer than this


def _header_number(headers: Headers, name: str, default: float | None) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= _MAX_SIM_DELAY_S:
        raise _bad(f"Header {name} must be a number of seconds from 0 to 600.", name)
    return value


def read_knobs(headers: Headers, options: SimOptions) -> Knobs:
    chunks = options.chunks
    raw = headers.get("x-sim-chunks")
    if raw is not None:
        if not raw.strip().isdigit() or not 1 <= int(raw) <= _MAX_SIM_CHUNKS:
            raise _bad("Header x-sim-chunks must be an integer from 1 to 1000000.", "x-sim-chunks")
        chunks = int(raw)
    chunk_chars = headers.get("x-sim-chunk-chars")
    if chunk_chars is not None and not (
        chunk_chars.strip().isdigit() and 1 <= int(chunk_chars) <= _MAX_SIM_CHUNKS
    ):
        raise _bad(
            "Header x-sim-chunk-chars must be an integer from 1 to 1000000.", "x-sim-chunk-chars"
        )
    return Knobs(
        latency_s=_header_number(headers, "x-sim-latency", options.latency_s),
        ttft_s=_header_number(headers, "x-sim-ttft", options.ttft_s),
        chunk_delay_s=_header_number(headers, "x-sim-chunk-delay", options.chunk_delay_s),
        chunks=chunks,
        speed=options.speed,
        reasoning_s=_header_number(headers, "x-sim-reasoning", None),
        chunk_chars=None if chunk_chars is None else int(chunk_chars),
    )


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: SimModel
    messages: list[dict[str, Any]]
    stream: bool
    sampling: _text.Sampling
    max_tokens: int | None
    stop: list[str]
    tools: list[dict[str, Any]]
    tool_choice: object


def _is_number(value: object) -> bool:
    # JSON true/false arrive as Python bools, which are ints; they are not numbers here.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(body: Mapping[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if not _is_number(value):
        raise _bad(f"'{name}' must be a number.", name, "invalid_type")
    if not low <= value <= high:
        raise _bad(f"'{name}' must be between {low:g} and {high:g}, got {value}.", name)
    return float(value)


def _check_message(index: int, message: object) -> dict[str, Any]:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise _bad(f"'{where}' must be an object.", where, "invalid_type")
    role = message.get("role")
    if role not in _ROLES:
        raise _bad(
            f"'{where}.role' must be one of 'system', 'user', 'assistant' or 'tool'.",
            f"{where}.role",
        )
    content = message.get("content")
    if content is None:
        # An assistant turn that only called tools has no text.
        if role != "assistant":
            raise _bad(
                f"'{where}.content' is required.", f"{where}.content", "missing_required_parameter"
            )
    elif isinstance(content, list):
        for j, part in enumerate(content):
            _check_part(f"{where}.content[{j}]", part)
    elif not isinstance(content, str):
        raise _bad(
            f"'{where}.content' must be a string or an array of content parts.",
            f"{where}.content",
            "invalid_type",
        )
    return message


def _check_part(where: str, part: object) -> None:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise _bad(f"'{where}' must be an object with a 'type'.", where, "invalid_type")
    if part["type"] == "text" and not isinstance(part.get("text"), str):
        raise _bad(f"'{where}.text' must be a string.", f"{where}.text", "invalid_type")
    if part["type"] == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise _bad(f"'{where}.image_url.url' must be a string.", f"{where}.image_url")


def _check_tools(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], object]:
    tools = body.get("tools")
    if tools is None:
        tools = []
    if not isinstance(tools, list) or not all(
        isinstance(t, dict)
        and t.get("type", "function") == "function"
        and isinstance(t.get("function"), dict)
        and isinstance(t["function"].get("name"), str)
        and t["function"]["name"]
        for t in tools
    ):
        raise _bad(
            '\'tools\' must be an array of {"type": "function", "function": {"name": ...}}.',
            "tools",
        )
    choice = body.get("tool_choice")
    names = {t["function"]["name"] for t in tools}
    forced = (
        choice.get("function", {}).get("name")
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict)
        else None
    )
    if not (choice in (None, "none", "auto", "required") or forced in names):
        raise _bad("'tool_choice' must be 'none', 'auto' or name one of the tools.", "tool_choice")
    return tools, choice


def validate(body: object) -> ChatRequest:
    """Check a chat-completions body the way the API reference documents; raise ``ApiError``."""
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.", None, "invalid_type")

    model_id = body.get("model")
    if model_id is None:
        raise _bad("'model' is required.", "model", "missing_required_parameter")
    if not isinstance(model_id, str):
        raise _bad("'model' must be a string.", "model", "invalid_type")

    messages = body.get("messages")
    if messages is None:
        raise _bad("'messages' is required.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _bad("'messages' must be an array.", "messages", "invalid_type")
    if not messages:
        raise _bad("'messages' must contain at least one message.", "messages", "empty_array")
    checked = [_check_message(i, m) for i, m in enumerate(messages)]

    temperature = _number(body, "temperature", 0, 2, 1.0)
    top_p = _number(body, "top_p", 0, 1, 1.0)
    inf = math.inf
    frequency_penalty = _number(body, "frequency_penalty", -inf, inf, 0.0)
    presence_penalty = _number(body, "presence_penalty", -inf, inf, 0.0)

    max_tokens = body.get("max_tokens")
    if max_tokens is not None and not (
        isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0
    ):
        raise _bad("'max_tokens' must be a positive integer.", "max_tokens")

    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    elif not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _bad("'stop' must be a string or an array of strings.", "stop", "invalid_type")
    if len(stop) > 4:
        raise _bad(f"'stop' may hold at most 4 sequences, got {len(stop)}.", "stop")

    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean.", "stream", "invalid_type")

    tools, tool_choice = _check_tools(body)

    model = MODELS_BY_ID.get(model_id)
    if model is None:
        raise _unknown_model(model_id)

    return ChatRequest(
        model=model,
        messages=checked,
        stream=stream,
        sampling=_text.Sampling(temperature, top_p, frequency_penalty, presence_penalty),
        max_tokens=max_tokens,
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
    )


def _unknown_model(model_id: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model_id}' does not exist. GET /api/v1/chat/models lists the models.",
        param="model",
        code="model_not_found",
    )


# --- building an answer --------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    """What the model says, already cut into the pieces a stream would send."""

    text: str | None  # None for a tool call
    pieces: list[str]  # content chunks, or tool-argument fragments
    finish_reason: str
    credit: float
    cost: float
    tool_call: dict[str, Any] | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""  # sent as reasoning_content, before the text


#: Reasoning pieces a reply streams (spread over ``x-sim-reasoning`` seconds).
_REASONING_PIECES = 8


def _reasoning_text(question: str) -> str:
    """What a reasoning model thinks before it answers (``x-sim-reasoning``)."""
    topic = question.strip().splitlines()[0][:80] if question.strip() else "?"
    return (
        f"The question is “{topic}”. First, what does it ask for exactly? "
        "Then, which facts do I need, and which of them am I sure of? "
        "Last, how can I say it briefly and check it? (Simulated reasoning.)"
    )


def _prefix(chunks: list[str], length: int) -> list[str]:
    """The chunks that make up the first ``length`` characters of their concatenation."""
    kept: list[str] = []
    for chunk in chunks:
        if length <= 0:
            break
        kept.append(chunk[:length])
        length -= len(chunk)
    return kept


def _usage(model: SimModel, credit: float, cost: float) -> dict[str, Any]:
    return {
        "total_credit": credit,
        "total_cost": cost,
        "breakdown": {"model": {"model": model.id, "credit": credit, "cost": cost}},
    }


def build_answer(chat: ChatRequest, knobs: Knobs) -> Answer:
    model = chat.model
    convo = _text.read_conversation(chat.messages)
    wants_tool = (
        chat.tools
        and chat.tool_choice != "none"
        and convo.last_role == "user"
        and model.behaviour in ("normal", "flaky")
    )
    if wants_tool:
        function = _text.choose_tool(chat.tools, chat.tool_choice, convo.last_user_text)
        arguments = _text.tool_arguments(function, convo.last_user_text)
        seed = _text.seed_for(model.id, chat.messages, chat.sampling)
        call = {
            "id": _text.tool_call_id(seed),
            "type": "function",
            "function": {"name": function["name"], "arguments": arguments},
        }
        credit = model.credit_for(len(function["name"]) + len(arguments))
        cost = model.cost_for(credit)
        pieces = [arguments[i : i + 8] for i in range(0, len(arguments), 8)]
        return Answer(None, pieces, "tool_calls", credit, cost, call, _usage(model, credit, cost))

    full = None
    if model.behaviour in ("normal", "flaky", "slow"):
        full = _judge.verdict(chat.messages)  # a judge prompt gets a parseable verdict
    if full is None:
        full = _text.answer_text(model, chat.messages, chat.sampling)
    if knobs.chunks is not None:
        chunks = _text.fixed_chunks(full, knobs.chunks)
        full = "".join(chunks)
    else:
        chunks = _text.split_chunks(full)
    if knobs.chunk_chars is not None:  # a tokenizer that cuts long words (and keys) apart
        n = knobs.chunk_chars
        chunks = [c[i : i + n] for c in chunks for i in range(0, len(c), n)]
    text, finish_reason = _text.cut_answer(full, chat.stop, chat.max_tokens)
    if len(text) < len(full):
        chunks = _prefix(chunks, len(text))
    credit = model.credit_for(len(text))
    cost = model.cost_for(credit)
    answer = Answer(text, chunks, finish_reason, credit, cost, None, _usage(model, credit, cost))
    if knobs.reasoning_s is not None:
        answer.reasoning = _reasoning_text(convo.last_user_text)
    return answer


def pacing(model: SimModel, knobs: Knobs, pieces: list[str]) -> tuple[float, list[float]]:
    """(time to first piece, pause before each later piece), in seconds."""
    count = max(1, len(pieces))
    if knobs.latency_s is not None:
        step = knobs.latency_s / count
        return step, [step] * (len(pieces) - 1)
    ttft = knobs.ttft_s if knobs.ttft_s is not None else model.ttft_s * knobs.speed
    if knobs.chunk_delay_s is not None:
        return ttft, [knobs.chunk_delay_s] * (len(pieces) - 1)
    per_char = knobs.speed / model.chars_per_s
    return ttft, [len(p) * per_char for p in pieces[1:]]


# --- sending an answer ---------------------------------------------------------------------


def _completion_body(chat: ChatRequest, answer: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    if answer.tool_call is not None:
        message["tool_calls"] = [answer.tool_call]
    return {
        "id": "chatcmpl-" + secrets.token_hex(15)[:29],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": chat.model.id,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
        "usage": answer.usage,
    }


def _sse(data: object) -> bytes:
    return (
        b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    )


def stream_plan(
    chat: ChatRequest, answer: Answer, knobs: Knobs
) -> tuple[list[tuple[float, bytes]], Literal["end", "drop"]]:
    """Every SSE event with the pause before it, computed up front.

    Precomputing keeps the send loop trivial, which is what lets 20 000 chunks go out in a
    handful of large writes when no pauses are asked for.
    """
    completion_id = "chatcmpl-" + secrets.token_hex(15)[:29]
    envelope = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": chat.model.id,
    }
    head = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)[:-1]
    head_b = ("data: " + head + ',"choices":[{"index":0,"delta":').encode()
    tail_b = b',"finish_reason":null}]}\n\n'

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        if finish_reason is None:
            return (
                head_b
                + json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode()
                + tail_b
            )
        return _sse(
            {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        )

    ttft, gaps = pacing(chat.model, knobs, answer.pieces)
    delays = [ttft, *gaps]
    events: list[tuple[float, bytes]] = [(0.0, chunk({"role": "assistant"}))]
    if answer.tool_call is not None:
        call = answer.tool_call
        first = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append((delays[0], chunk({"tool_calls": [first]})))
        events += [
            (
                0.0 if i == 0 else delays[i],
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]}),
            )
            for i, p in enumerate(answer.pieces)
        ]
    else:
        if answer.reasoning:
            words = answer.reasoning.split(" ")
            step = -(-len(words) // _REASONING_PIECES)
            pieces = [" ".join(words[i : i + step]) + " " for i in range(0, len(words), step)]
            pause = (knobs.reasoning_s or 0.0) / len(pieces)
            events += [(pause, chunk({"reasoning_content": p})) for p in pieces]
        contents = [(delays[i], chunk({"content": p})) for i, p in enumerate(answer.pieces)]
        behaviour = chat.model.behaviour
        if behaviour == "cut_stream":
            return events + contents[: len(contents) // 2], "drop"
        if behaviour == "mid_stream_error":
            error = {
                "error": {
                    "message": "The upstream provider failed while streaming.",
                    "type": "upstream_error",
                }
            }
            return [*events, *contents[: len(contents) // 2], (0.0, _sse(error))], "end"
        events += contents
    events.append((0.0, chunk({}, answer.finish_reason)))
    events.append((0.0, b"data: [DONE]\n\n"))
    # Qolaba sends usage after [DONE]; clients that stop reading at [DONE] never see it.
    events.append((0.0, _sse({"usage": answer.usage})))
    return events, "end"


def _coalesce(events: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    """Merge events that need no pause between them into writes of up to 64 KiB."""
    merged: list[tuple[float, bytes]] = []
    buffer: list[bytes] = []
    size = 0
    delay = 0.0
    for pause, data in events:
        if buffer and (pause > 0 or size >= _WRITE_SIZE):
            merged.append((delay, b"".join(buffer)))
            buffer, size = [], 0
        if not buffer:
            delay = pause
        buffer.append(data)
        size += len(data)
    if buffer:
        merged.append((delay, b"".join(buffer)))
    return merged


class EventStream(Response):
    """Sends a precomputed SSE plan, pausing as planned, and notices a client hanging up.

    Written against raw ASGI rather than ``StreamingResponse`` so the disconnect is counted
    the moment it happens, not whenever a generator happens to be finalised.
    """

    media_type = "text/event-stream"

    def __init__(
        self, state: SimState, events: list[tuple[float, bytes]], ending: Literal["end", "drop"]
    ) -> None:
        self.state = state
        self.events = _coalesce(events)
        self.ending = ending
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        interrupt = self.state.waiter()
        hung_up = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            hung_up.set()
            interrupt.set()

        watcher = asyncio.create_task(watch())
        try:
            for pause, data in self.events:
                if await _pause(pause, interrupt):
                    break
                await send({"type": "http.response.body", "body": data, "more_body": True})
                # A write into a non-full buffer never yields, so without this a stream with
                # no pauses would run to the end before the loop could report a hang-up.
                await asyncio.sleep(0)
                if hung_up.is_set():
                    break
        finally:
            watcher.cancel()
            self.state.release(interrupt)
        if hung_up.is_set():
            self.state.stats.disconnects += 1
            return
        if self.ending == "drop":
            self.state.stats.streams_cut += 1
            raise DropConnection("sim/cut-stream drops the connection on purpose")
        if not interrupt.is_set():
            self.state.stats.streams_completed += 1
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# --- routes --------------------------------------------------------------------------------


def _state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def _authenticate(request: Request) -> str:
    """The caller's key id, or a 401 ``ApiError``. The key itself never leaves this function."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "Missing API key. Send it as 'Authorization: Bearer <key>'.",
            "authentication_error",
            code="invalid_api_key",
        )
    key_id = _state(request).known_key(token.strip())
    if key_id is None:
        raise ApiError(
            401, "Incorrect API key provided.", "authentication_error", code="invalid_api_key"
        )
    return key_id


async def list_models(request: Request) -> Response:
    try:
        _authenticate(request)
    except ApiError as error:
        return error.response()
    return JSONResponse({"object": "list", "data": [model_card(m) for m in MODELS]})


async def retrieve_model(request: Request) -> Response:
    try:
        _authenticate(request)
        model_id = request.path_params["model_id"]
        model = MODELS_BY_ID.get(model_id)
        if model is None:
            raise _unknown_model(model_id)
    except ApiError as error:
        return error.response()
    return JSONResponse(model_card(model))


def _misbehave(chat: ChatRequest, state: SimState, key_id: str) -> None:
    """Raise the error a teaching model is there to demonstrate."""
    behaviour = chat.model.behaviour
    if behaviour == "rate_limited":
        raise ApiError(
            429,
            "sim/rate-limited is always rate limited. Retry after 1 s (it will not help).",
            "rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": "1"},
        )
    if behaviour == "flaky" and state.flaky_turn(key_id) % 2 == 0:
        raise ApiError(
            429,
            "sim/flaky rejects every second request. Retry now.",
            "rate_limit_error",
            code="rate_limit_exceeded",
            headers={"Retry-After": "0"},
        )
    if behaviour == "upstream_error" or (
        behaviour in ("cut_stream", "mid_stream_error") and not chat.stream
    ):
        raise ApiError(
            502,
            "The upstream provider returned an invalid response.",
            "upstream_error",
            code="bad_gateway",
        )
    if behaviour == "timeout":
        raise ApiError(
            504,
            "The upstream provider timed out (3-minute limit).",
            "timeout_error",
            code="upstream_timeout",
        )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, or a 413 ``ApiError`` as soon as it is known to pass ``limit``."""
    too_large = ApiError(
        413,
        f"The request body is larger than {limit:,} bytes.",
        code="request_too_large",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large  # refused before a byte of it is read
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise too_large
        parts.append(part)
    return b"".join(parts)


async def chat_completions(request: Request) -> Response:
    state = _state(request)
    try:
        # Who is asking, first: a stranger's body is never read, parsed or logged.
        key_id = _authenticate(request)
        state.admit(key_id)
        raw = await _read_body(request, state.options.max_body_bytes)
        try:
            body: object = json.loads(raw)
        except ValueError:  # also covers bytes that are not UTF-8
            raise _bad("The request body is not valid JSON.", None, "invalid_json") from None
        except RecursionError:  # nested deeper than Python's parser goes
            raise _bad("The request body is nested too deeply.", None, "invalid_json") from None
        state.log_body(request.scope.get(_LOG_ENTRY_KEY), body, len(raw))
        knobs = read_knobs(request.headers, state.options)
        chat = validate(body)
        _misbehave(chat, state, key_id)
    except ApiError as error:
        return error.response()

    answer = build_answer(chat, knobs)
    if chat.stream:
        events, ending = stream_plan(chat, answer, knobs)
        return EventStream(state, events, ending)

    ttft, gaps = pacing(chat.model, knobs, answer.pieces)
    interrupt = state.waiter()
    try:
        await _pause(ttft + sum(gaps), interrupt)
    finally:
        state.release(interrupt)
    return JSONResponse(_completion_body(chat, answer))


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message = "Method not allowed." if status == 405 else f"No route for {request.url.path}."
    return ApiError(
        status, message, code="not_found" if status == 404 else "method_not_allowed"
    ).response()


class RequestLog:
    """ASGI middleware: counts and logs every request, and tags every response with an id."""

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
            if k.lower() != b"authorization"
        }
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "json": None,
            "headers": headers,
            "request_id": request_id,
            "status": None,
            "time": time.time(),
        }
        self.state.stats.requests += 1
        self.state.log(entry)
        scope[_LOG_ENTRY_KEY] = entry

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-request-id", request_id)
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_app(
    api_key: str = DEFAULT_API_KEY,
    *,
    api_keys: Iterable[str] = (),
    latency_s: float | None = None,
    ttft_s: float | None = None,
    chunk_delay_s: float | None = None,
    chunks: int | None = None,
    speed: float = 1.0,
    rate_limit: int = 600,
    rate_window_s: float = 60.0,
    max_log: int = 10_000,
    max_log_bytes: int = 32 * 1024 * 1024,
    max_body_bytes: int = 8 * 1024 * 1024,
    header_timeout_s: float = 10.0,
) -> Starlette:
    """The simulator as an ASGI app. ``app.state.sim`` holds its stats and request log.

    ``api_key`` and every key in ``api_keys`` are accepted. See ``SimOptions`` for the rest:
    ``max_body_bytes`` bounds one request body (413 past it), ``max_log`` and
    ``max_log_bytes`` bound the request log (entries, and the bodies they keep), and
    ``header_timeout_s`` is how long a connection may take to send its request headers.
    """
    if speed < 0:
        raise ValueError("speed must be >= 0")
    options = SimOptions(
        latency_s=latency_s,
        ttft_s=ttft_s,
        chunk_delay_s=chunk_delay_s,
        chunks=chunks,
        speed=speed,
        rate_limit=rate_limit,
        rate_window_s=rate_window_s,
        max_log=max_log,
        max_log_bytes=max_log_bytes,
        max_body_bytes=max_body_bytes,
        header_timeout_s=header_timeout_s,
    )
    state = SimState([api_key, *api_keys], options)
    routes = []
    for prefix in ("/v1", "/api/v1"):
        routes += [
            Route(f"{prefix}/chat/models", list_models, methods=["GET"]),
            Route(f"{prefix}/chat/models/{{model_id:path}}", retrieve_model, methods=["GET"]),
            Route(f"{prefix}/chat/completions", chat_completions, methods=["POST"]),
        ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(RequestLog, state=state)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.sim = state
    return app
