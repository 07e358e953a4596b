"""Request validation (every documented 400, checked before sending) and the response types.

Nothing here does I/O: ``build_chat_body`` turns user input into the JSON body or raises
``ValidationError``; the ``parse_*`` functions turn JSON into typed objects, defensively, since
the reference leaves several shapes open.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ._config import mask_url
from ._exceptions import ValidationError
from ._types import JSON, Messages, SamplingParams

__all__ = [
    "SAMPLING_PARAMS",
    "ChatChunk",
    "ChatCompletion",
    "Choice",
    "Model",
    "Usage",
    "build_chat_body",
    "check_api_key",
    "check_base_url",
    "check_headers",
    "check_ledger",
    "check_timeout",
    "model_path",
    "normalize_messages",
    "parse_completion",
    "parse_models",
    "prompt_chars",
]

ROLES = ("system", "user", "assistant", "tool")
#: Parameters of the reference, in its order. These are what the ledger keeps as ``params``.
SAMPLING_PARAMS = (
    "temperature",
    "max_tokens",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "stop",
)
#: Every optional field a request takes: the keys of ``SamplingParams``, in its order.
KNOWN_PARAMS: tuple[str, ...] = tuple(SamplingParams.__annotations__)
#: Fields of the body that the client sets and checks: ``extra_body`` cannot replace them.
BODY_FIELDS = frozenset({"model", "messages", "stream", *KNOWN_PARAMS} - {"extra_body"})
MAX_STOP_SEQUENCES = 4


# --------------------------------------------------------------------------- validation


def _is_number(value: object) -> bool:
    # bool is an int in Python, never a number in JSON Schema terms
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if not _is_number(value):
        raise ValidationError(f"{name} must be a number, got {value!r}", param=name)
    assert isinstance(value, int | float)
    if not low <= value <= high:
        raise ValidationError(
            f"{name} must be between {low:g} and {high:g}, got {value!r}", param=name
        )


def _check_content(where: str, content: object, role: str, msg: Mapping[str, Any]) -> None:
    if isinstance(content, str):
        return
    if content is None:
        if role == "assistant" and msg.get("tool_calls"):
            return
        raise ValidationError(f"{where}.content is missing", param=f"{where}.content")
    if not isinstance(content, Sequence) or isinstance(content, bytes):
        raise ValidationError(
            f"{where}.content must be a string or a list of content parts, "
            f"got {type(content).__name__}",
            param=f"{where}.content",
        )
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise ValidationError(f"{at} must be a dict with a 'type'", param=at)
        kind = part["type"]
        if kind == "text" and not isinstance(part.get("text"), str):
            raise ValidationError(f"{at} is a text part without a 'text' string", param=at)
        if kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if not isinstance(url, str) or not url:
                raise ValidationError(f"{at} is an image_url part without a 'url'", param=at)


def normalize_messages(messages: object) -> list[dict[str, Any]]:
    """A string becomes one user message; a list is checked message by message."""
    if isinstance(messages, str):
        if not messages:
            raise ValidationError("messages is an empty string", param="messages")
        return [{"role": "user", "content": messages}]
    if messages is None:
        raise ValidationError("messages is required", param="messages")
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence):
        raise ValidationError(
            f"messages must be a string or a list of message dicts, got {type(messages).__name__}",
            param="messages",
        )
    if len(messages) == 0:
        raise ValidationError("messages must contain at least one message", param="messages")
    out: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise ValidationError(f"{where} must be a dict, got {type(msg).__name__}", param=where)
        role = msg.get("role")
        if role not in ROLES:
            raise ValidationError(
                f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}",
                param=f"{where}.role",
            )
        _check_content(where, msg.get("content"), role, msg)
        out.append(dict(msg))
    return out


def _check_stop(stop: object) -> None:
    if isinstance(stop, str):
        return
    if not isinstance(stop, Sequence) or not all(isinstance(s, str) for s in stop):
        raise ValidationError("stop must be a string or a list of strings", param="stop")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise ValidationError(
            f"stop accepts at most {MAX_STOP_SEQUENCES} sequences, got {len(stop)}", param="stop"
        )


def _check_tools(tools: object) -> None:
    if not isinstance(tools, Sequence) or isinstance(tools, str):
        raise ValidationError("tools must be a list of function tools", param="tools")
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise ValidationError(
                f"tools[{i}] must look like {{'type': 'function', 'function': {{'name': ...}}}}",
                param=f"tools[{i}]",
            )


def build_chat_body(
    messages: Messages | None, *, model: object, stream: bool, params: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of a chat request, or ``ValidationError`` naming the first problem."""
    unknown = [k for k in params if k not in KNOWN_PARAMS]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, KNOWN_PARAMS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(KNOWN_PARAMS)}"
        raise ValidationError(f"unknown parameter {name!r}{hint}", param=name)
    if model is None or model == "":
        raise ValidationError(
            "model is required (a model id such as 'openai/gpt-4o')", param="model"
        )
    if not isinstance(model, str):
        raise ValidationError(f"model must be a string, got {type(model).__name__}", param="model")
    body: dict[str, Any] = {"model": model, "messages": normalize_messages(messages)}
    for name in KNOWN_PARAMS:
        value = params.get(name)
        if value is None or name == "extra_body":
            continue
        if name == "temperature":
            _check_range(name, value, 0, 2)
        elif name == "top_p":
            _check_range(name, value, 0, 1)
        elif name in ("frequency_penalty", "presence_penalty"):
            if not _is_number(value):
                raise ValidationError(f"{name} must be a number, got {value!r}", param=name)
        elif name == "max_tokens":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValidationError(
                    f"max_tokens must be a positive integer, got {value!r}", param=name
                )
        elif name == "stop":
            _check_stop(value)
            value = value if isinstance(value, str) else list(value)
        elif name == "tools":
            _check_tools(value)
            value = [dict(t) for t in value]
        elif name == "tool_choice":
            if not (value in ("none", "auto", "required") or isinstance(value, Mapping)):
                raise ValidationError(
                    f"tool_choice must be 'none', 'auto' or a dict, got {value!r}", param=name
                )
        elif name == "stream_options" and not isinstance(value, Mapping):
            raise ValidationError("stream_options must be a dict", param=name)
        body[name] = value
    if stream:
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
    extra = params.get("extra_body")
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise ValidationError(
                f"extra_body must be a dict, got {type(extra).__name__}", param="extra_body"
            )
        for key in extra:
            if key in BODY_FIELDS:
                raise ValidationError(
                    f"extra_body cannot set {key!r}: pass it as its own argument, where it is "
                    "checked",
                    param=f"extra_body[{key!r}]",
                )
            if not isinstance(key, str):
                raise ValidationError("extra_body keys must be strings", param="extra_body")
        body.update(extra)
    _check_json(body, extra_keys=set(extra or ()))
    return body


def _json_problem(value: object) -> str | None:
    """Why ``value`` cannot be sent as JSON (httpx's encoding: strict, UTF-8), or None."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return "it holds a lone surrogate, which UTF-8 cannot encode"
    except (TypeError, ValueError, RecursionError) as exc:
        return str(exc)
    return None


def _check_json(body: dict[str, Any], *, extra_keys: set[str]) -> None:
    """Refuse, naming the argument, a body that JSON cannot carry (NaN, sets, objects, ...)."""
    if _json_problem(body) is None:  # the common case: one encoding, nothing to look for
        return
    for name, value in body.items():
        problem = _json_problem(value)
        if problem is None:
            continue
        where = f"extra_body[{name!r}]" if name in extra_keys else name
        if name == "messages":
            for i, msg in enumerate(value):
                if _json_problem(msg) is not None:
                    where = f"messages[{i}]"
                    break
        raise ValidationError(f"{where} cannot be sent as JSON: {problem}", param=where)


# --------------------------------------------------------------------------- client options

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110 token)
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # printable ASCII and tabs: no line breaks
_KEY = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces
#: RFC 3986 ``pchar`` minus ``%``: what a model id keeps as it is inside its path segment.
_SEGMENT_SAFE = "-._~!$&'()*+,;=:@"


def check_api_key(key: str) -> None:
    """Refuse a key that cannot travel in an HTTP header (the message never shows it).

    Parameters
    ----------
    key
        The API key, from the argument, the environment or ``.env``.

    Raises
    ------
    ValidationError
        ``param="api_key"``: not a string, or not printable ASCII without spaces (a line
        break, a non-Latin-1 or accented character, ...).
    """
    if not isinstance(key, str):
        raise ValidationError(
            f"api_key must be a string, got {type(key).__name__}", param="api_key"
        )
    if not _KEY.fullmatch(key):
        raise ValidationError(
            "api_key must be printable ASCII without spaces or line breaks (check for a "
            "pasted newline, a quote or a non-ASCII character); the key is not shown here",
            param="api_key",
        )


def check_base_url(url: object) -> str:
    """The server root, checked: http or https, a host, no query or fragment.

    Parameters
    ----------
    url
        The base URL given (a path prefix, ``https://host/proxy``, is kept).

    Returns
    -------
    str
        ``url`` without a trailing slash.

    Raises
    ------
    ValidationError
        ``param="base_url"``, naming what is wrong (credentials in it are not shown).
    """
    if not isinstance(url, str):
        raise ValidationError(
            f"base_url must be a string, got {type(url).__name__}", param="base_url"
        )
    shown = mask_url(url)
    if not _HEADER_VALUE.fullmatch(url) or any(c.isspace() for c in url):
        raise ValidationError(
            f"base_url must be a URL without spaces or control characters, got {shown!r}",
            param="base_url",
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parses the port: "host:abc" raises here)
    except ValueError as exc:
        # urllib quotes the part it could not read, which may be a piece of a password.
        reason = str(exc) if shown == url else "its host or port does not parse"
        raise ValidationError(
            f"base_url {shown!r} is not a URL: {reason}", param="base_url"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError(
            f"base_url must start with http:// or https://, got {shown!r}", param="base_url"
        )
    if not parts.hostname:
        raise ValidationError(f"base_url {shown!r} has no host", param="base_url")
    if "?" in url or "#" in url:
        raise ValidationError(
            f"base_url cannot have a query or a fragment (the API paths are added to it), "
            f"got {shown!r}",
            param="base_url",
        )
    return url.rstrip("/")


def check_headers(headers: object) -> dict[str, str]:
    """Extra request headers, checked: a mapping of header names to one-line ASCII values.

    Parameters
    ----------
    headers
        The ``headers=`` argument of a client; None for none.

    Returns
    -------
    dict of str to str
        A copy, without any ``Authorization`` (the client sets that one).

    Raises
    ------
    ValidationError
        ``param="headers"`` or ``param="headers[NAME]"``.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValidationError(
            f"headers must be a dict of names to values, got {type(headers).__name__}",
            param="headers",
        )
    out: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValidationError(
                f"header name {name!r} is not a valid HTTP header name", param="headers"
            )
        if not isinstance(value, str):
            raise ValidationError(
                f"header {name} must be a string, got {type(value).__name__}",
                param=f"headers[{name!r}]",
            )
        if not _HEADER_VALUE.fullmatch(value):
            raise ValidationError(
                f"header {name} must be one line of printable ASCII (no line breaks)",
                param=f"headers[{name!r}]",
            )
        if name.lower() != "authorization":
            out[name] = value
    return out


def check_timeout(timeout: object) -> None:
    """Refuse a timeout httpx would misread.

    Parameters
    ----------
    timeout
        None (the default), a number of seconds > 0, or an ``httpx.Timeout``.

    Raises
    ------
    ValidationError
        ``param="timeout"``.
    """
    if timeout is None or isinstance(timeout, httpx.Timeout):
        return
    if not _is_number(timeout) or not timeout > 0:  # type: ignore[operator]
        raise ValidationError(
            f"timeout must be a number of seconds > 0 or an httpx.Timeout, got {timeout!r}",
            param="timeout",
        )


def check_ledger(ledger: object) -> None:
    """Refuse a ``ledger=`` that is neither None, False nor a ledger.

    Parameters
    ----------
    ledger
        None (the default ledger), False (none), or an object with ``record`` and
        ``check_budget`` methods (``UsageLedger``, or any ``LedgerLike``).

    Raises
    ------
    ValidationError
        ``param="ledger"``.
    """
    if ledger is None or ledger is False:
        return
    if not all(callable(getattr(ledger, m, None)) for m in ("record", "check_budget")):
        raise ValidationError(
            "ledger must be a UsageLedger (or an object with record() and check_budget()), "
            f"None for the default ledger, or False for none; got {type(ledger).__name__}",
            param="ledger",
        )


def model_path(model_id: object) -> str:
    """A model id as the last part of a URL path: each ``/``-separated part percent-escaped.

    Parameters
    ----------
    model_id
        An id such as ``"openai/gpt-4o"``: its ``/`` are kept, ``?``, ``#``, ``%`` and other
        characters outside a path segment are escaped.

    Returns
    -------
    str
        The id, safe to append after ``/models/``.

    Raises
    ------
    ValidationError
        ``param="model_id"``: not a non-empty string, or with an empty, ``.`` or ``..`` part
        (which would climb out of the models path).
    """
    if not isinstance(model_id, str) or not model_id:
        raise ValidationError("model_id must be a non-empty string", param="model_id")
    parts = model_id.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValidationError(
            f"model_id {model_id!r} has an empty, '.' or '..' part; model ids look like "
            "'openai/gpt-4o'",
            param="model_id",
        )
    return "/".join(quote(p, safe=_SEGMENT_SAFE) for p in parts)


def prompt_chars(messages: Sequence[Mapping[str, Any]]) -> int:
    """Characters of text in a message list (image parts count 0)."""
    total = 0
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, Sequence):
            for part in content:
                if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    total += len(part["text"])
    return total


# --------------------------------------------------------------------------- response types


def _float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _count(value: object) -> int | None:
    """A token count: a non-negative integer (a float such as 12.0 too), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0 or value != int(value):
        return None
    return int(value)


@dataclass(slots=True)
class Usage:
    """What a call cost, as the server reported it.

    ``cost`` is the server's ``total_cost``, not the sum of the breakdown (they may differ by
    rounding). An OpenAI-style usage without credit fields gives ``credit=None``: credits are
    never derived from token counts.

    Attributes
    ----------
    credit, cost
        Qolaba's ``total_credit`` and ``total_cost``; None when not sent.
    breakdown
        Qolaba's per-part breakdown, as sent.
    prompt_tokens, completion_tokens, total_tokens
        OpenAI-style token counts; None when the server did not send them (Qolaba does not).
    raw
        The usage object as sent.
    """

    credit: float | None
    cost: float | None
    breakdown: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @classmethod
    def from_raw(cls, raw: object) -> Usage | None:
        """The usage the server sent (``total_credit``, ``total_cost``, ``breakdown``), or
        None for an empty or missing one."""
        if not isinstance(raw, Mapping) or not raw:
            return None
        breakdown = raw.get("breakdown")
        return cls(
            credit=_float(raw.get("total_credit", raw.get("credit"))),
            cost=_float(raw.get("total_cost", raw.get("cost"))),
            breakdown=dict(breakdown) if isinstance(breakdown, Mapping) else {},
            raw=dict(raw),
            prompt_tokens=_count(raw.get("prompt_tokens")),
            completion_tokens=_count(raw.get("completion_tokens")),
            total_tokens=_count(raw.get("total_tokens")),
        )

    @property
    def has_credit(self) -> bool:
        """Whether the server said what the call cost (credits or USD)."""
        return self.credit is not None or self.cost is not None


@dataclass(slots=True)
class Model:
    """A model the API offers. ``id`` is what you pass as ``model=`` (it contains a ``/``)."""

    id: str
    owned_by: str | None = None
    created: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def provider(self) -> str:
        """Who serves the model: ``owned_by``, else the part of the id before ``/``."""
        return self.owned_by or (self.id.split("/", 1)[0] if "/" in self.id else "")


def _parse_model(item: object) -> Model | None:
    if isinstance(item, str):
        return Model(id=item, raw={"id": item})
    if not isinstance(item, Mapping):
        return None
    ident = item.get("id") or item.get("model") or item.get("name")
    if not isinstance(ident, str):
        return None
    owned = item.get("owned_by") or item.get("provider")
    created = item.get("created")
    return Model(
        id=ident,
        owned_by=owned if isinstance(owned, str) else None,
        created=created if isinstance(created, int) and not isinstance(created, bool) else None,
        raw=dict(item),
    )


def parse_model(payload: JSON) -> Model | None:
    if isinstance(payload, Mapping) and isinstance(payload.get("data"), Mapping):
        payload = payload["data"]
    return _parse_model(payload)


def parse_models(payload: JSON) -> list[Model]:
    """Models from ``{"data": [...]}``, ``{"models": [...]}`` or a bare list."""
    items: object = payload
    if isinstance(payload, Mapping):
        items = payload.get("data", payload.get("models"))
    if not isinstance(items, list):
        return []
    return [m for m in map(_parse_model, items) if m is not None]


def content_text(content: object) -> str:
    """The text of a message content: a string, or the text parts of a list, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


@dataclass(slots=True)
class Choice:
    """One choice of a reply (servers send several when asked for ``n`` > 1).

    Attributes
    ----------
    index
        The choice's ``index``.
    text
        Its text.
    message
        Its message, as an OpenAI-style dict.
    finish_reason
        Why it ended; None when it was cut.
    tool_calls
        Its tool calls, whole.
    reasoning
        Its reasoning text (``reasoning_content`` or ``reasoning``), None when none came.
    refusal
        Its refusal text, None when it did not refuse.
    logprobs
        Its log probabilities, ``{"content": [...], ...}`` with every chunk's entries joined;
        None when none came.
    """

    index: int
    text: str
    message: dict[str, Any]
    finish_reason: str | None
    tool_calls: list[dict[str, Any]]
    reasoning: str | None = None
    refusal: str | None = None
    logprobs: dict[str, Any] | None = None


@dataclass(slots=True)
class ChatCompletion:
    """A finished reply. ``usage`` is None when the server sent none (never zeros).

    ``text``, ``finish_reason``, ``tool_calls``, ``reasoning``, ``refusal`` and ``logprobs``
    are those of the first choice; ``choices`` has every choice (usually one), and the same
    values come from ``chat()`` and from a ``stream()`` of the same reply.
    """

    id: str | None
    model: str | None
    text: str
    message: dict[str, Any]
    finish_reason: str | None
    tool_calls: list[dict[str, Any]]
    usage: Usage | None
    request_id: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    reasoning: str | None = None
    refusal: str | None = None
    logprobs: dict[str, Any] | None = None
    choices: list[Choice] = field(default_factory=list, repr=False)

    @property
    def credit(self) -> float | None:
        """The credits the call cost, as the server reported them; None if it did not."""
        return self.usage.credit if self.usage else None

    @property
    def cost(self) -> float | None:
        """The cost of the call in USD, as the server reported it; None if it did not."""
        return self.usage.cost if self.usage else None

    def _repr_html_(self) -> str:
        # HTML, not Markdown: Jupyter's Markdown renderer would load images from a reply.
        from ._render import completion_html

        return completion_html(self.text, notes=(), **self._display_values())

    def _display_values(self) -> dict[str, Any]:
        """The plain values a display of this reply shows beside its text."""
        calls = [(str(fn.get("name")), str(fn.get("arguments"))) for fn in self._functions()]
        usage = self.usage
        return {
            "model": self.model,
            "tool_calls": calls,
            "credit": usage.credit if usage else None,
            "cost": usage.cost if usage else None,
            "reported": usage is not None,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
        }

    def _functions(self) -> list[dict[str, Any]]:
        out = []
        for call in self.tool_calls:
            fn = call.get("function")
            out.append(dict(fn) if isinstance(fn, Mapping) else {})
        return out


@dataclass(slots=True)
class ChatChunk:
    """One parsed stream event that carried a choice. ``delta`` is "" when it had no text.

    ``reasoning_delta`` is the reasoning text it carried (for live display; "" when none), and
    ``index`` the choice it belongs to (0 unless the server sends several).
    """

    delta: str
    tool_call_deltas: list[dict[str, Any]]
    finish_reason: str | None
    raw: dict[str, Any] = field(repr=False)
    reasoning_delta: str = ""
    index: int = 0


def reasoning_of(part: Mapping[str, Any]) -> str:
    """The reasoning text of a delta or a message: ``reasoning_content`` (vLLM, llama.cpp,
    DeepSeek) or ``reasoning`` (OpenRouter); "" when it has none."""
    value = part.get("reasoning_content")
    if not value or type(value) is not str:
        value = part.get("reasoning")
    return value if value and type(value) is str else ""


def merge_logprobs(into: dict[str, Any] | None, logprobs: object) -> dict[str, Any] | None:
    """``into`` with the lists of ``logprobs`` (``content``, ``refusal``) appended to its own;
    how a stream's per-chunk log probabilities add up to the whole reply's."""
    if not isinstance(logprobs, Mapping):
        return into
    for key, value in logprobs.items():
        if isinstance(value, list):
            if into is None:
                into = {}
            into.setdefault(key, []).extend(value)
    return into


def _parse_choice(position: int, choice: Mapping[str, Any]) -> Choice:
    message = choice.get("message")
    message = dict(message) if isinstance(message, Mapping) else {}
    tool_calls = message.get("tool_calls")
    finish = choice.get("finish_reason")
    index = choice.get("index", position)
    refusal = message.get("refusal")
    return Choice(
        index=index if isinstance(index, int) and not isinstance(index, bool) else position,
        text=content_text(message.get("content")),
        message=message,
        finish_reason=finish if isinstance(finish, str) else None,
        tool_calls=[dict(t) for t in tool_calls] if isinstance(tool_calls, list) else [],
        reasoning=reasoning_of(message) or None,
        refusal=refusal if isinstance(refusal, str) and refusal else None,
        logprobs=merge_logprobs(None, choice.get("logprobs")),
    )


def parse_completion(
    payload: JSON, *, request_id: str | None = None, latency_s: float | None = None
) -> ChatCompletion:
    """A ``ChatCompletion`` from the JSON body; missing parts become empty, never a crash."""
    data: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    raw_choices = data.get("choices")
    raw_choices = raw_choices if isinstance(raw_choices, list) else []
    choices = sorted(
        (_parse_choice(i, c) for i, c in enumerate(raw_choices) if isinstance(c, Mapping)),
        key=lambda c: c.index,
    )
    first = choices[0] if choices else Choice(0, "", {}, None, [])
    ident, model = data.get("id"), data.get("model")
    return ChatCompletion(
        id=ident if isinstance(ident, str) else None,
        model=model if isinstance(model, str) else None,
        text=first.text,
        message=first.message,
        finish_reason=first.finish_reason,
        tool_calls=first.tool_calls,
        usage=Usage.from_raw(data.get("usage")),
        request_id=request_id,
        latency_s=latency_s,
        raw=dict(data),
        reasoning=first.reasoning,
        refusal=first.refusal,
        logprobs=first.logprobs,
        choices=choices,
    )
