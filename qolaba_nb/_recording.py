"""Record and replay HTTP exchanges, so a notebook written against the real API re-runs for free.

``Client(record="data/sessions/NAME.jsonl")`` appends one JSON line per exchange: the request
(method, path, query, JSON body, and its headers WITHOUT ``Authorization``) and the raw response
bytes (SSE included), with the key masked wherever the server echoed it: in headers, in text
and binary bodies, inside a compressed body (which is then stored decompressed), and in a
streamed reply's text even when it came split over several events (which are then stored
re-encoded, the mask in the event where the key began).
``Client(replay=...)`` serves them back, byte for byte, without a network: a request is matched
on method, path, query and body (recordings of the same request are served in order, the last
one again once they run out); a request with no recording raises ``ReplayMissError`` naming the
closest recorded one.

The transports wrap httpx's (``handle_request`` / ``handle_async_request``): the client's own
code, retries and stream reading included, runs unchanged in both modes.
"""

from __future__ import annotations

import base64
import difflib
import json
import os
import threading
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from ._config import Secret, redact, redact_bytes, redact_pieces, redact_value
from ._exceptions import ReplayMissError
from ._sse import SSEDecoder

#: Request headers never written: credentials, and what differs from machine to machine.
_DROP_REQUEST_HEADERS = {"authorization", "cookie", "proxy-authorization", "host", "user-agent"}
#: Response headers kept: what the client reads.
_KEEP_RESPONSE_HEADERS = {
    "content-type",
    "content-encoding",  # the body is stored as it came (gzip stays gzip), so this must stay
    "x-request-id",
    "request-id",
    "retry-after",
    "retry-after-ms",
}


def _body(request: httpx.Request) -> Any:
    content = request.content
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", errors="replace")


def request_key(method: str, path: str, query: str, body: Any) -> str:
    """The canonical text a request is matched on (stable key order, no whitespace)."""
    return json.dumps([method, path, query, body], sort_keys=True, separators=(",", ":"))


def _key_of(request: httpx.Request, prefix: str) -> str:
    path = request.url.path
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :]
    return request_key(request.method, path, request.url.query.decode(), _body(request))


def _encode(content: bytes) -> dict[str, str]:
    try:
        return {"text": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(content).decode("ascii")}


def _decode(data: dict[str, str]) -> bytes:
    if "base64" in data:
        return base64.b64decode(data["base64"])
    return data.get("text", "").encode("utf-8")


#: The text fields of a streamed delta that a reply's text is joined from.
_DELTA_TEXT = ("content", "reasoning_content", "reasoning", "refusal")


def _redact_stream(body: bytes, secret: Secret) -> bytes:
    """An SSE body with the key masked in the reply's text where it spans several events.

    The pieces of each text (a choice's content, reasoning or refusal, a tool call's
    arguments) are joined and masked with ``redact_pieces``; when nothing spans events, the
    body is returned as it is, else re-encoded (comments dropped, every event kept in order).
    """
    # The bound cannot be passed (no event is longer than the body); the blank line ends a
    # last event the server did not end.
    events = SSEDecoder(max_event_bytes=len(body) + 1).feed(body + b"\n\n")
    payloads: list[Any] = []
    slots: dict[tuple[Any, ...], list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for event in events:
        try:
            payload = json.loads(event.data)
        except ValueError:
            payload = None
        payloads.append(payload)
        choices = payload.get("choices") if isinstance(payload, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            delta = choice.get("delta") or choice.get("message")
            if not isinstance(delta, dict):
                continue
            for name in _DELTA_TEXT:
                if isinstance(delta.get(name), str):
                    slots[(index, name)].append((delta, name))
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    slots[(index, "tool", call.get("index"))].append((fn, "arguments"))
    changed = False
    for places in slots.values():
        pieces = [holder[name] for holder, name in places]
        masked = redact_pieces(pieces, secret)
        if masked != pieces:
            changed = True
            for (holder, name), piece in zip(places, masked, strict=True):
                holder[name] = piece
    if not changed:
        return body
    out = []
    for event, payload in zip(events, payloads, strict=True):
        lines = [] if event.event == "message" else [f"event: {event.event}"]
        if event.id is not None:
            lines.append(f"id: {event.id}")
        data = event.data if payload is None else json.dumps(payload, ensure_ascii=False)
        lines += [f"data: {line}" for line in data.split("\n")]
        out.append("\n".join(lines) + "\n\n")
    return "".join(out).encode("utf-8")


class _Tee(httpx.SyncByteStream, httpx.AsyncByteStream):
    """Passes the response bytes through and writes the exchange when the body is closed."""

    def __init__(self, inner: Any, on_close: Any) -> None:
        self._inner = inner
        self._on_close = on_close
        self._parts: list[bytes] = []
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for part in self._inner:
            self._parts.append(part)
            yield part

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._inner:
            self._parts.append(part)
            yield part

    def _finish(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close(b"".join(self._parts))

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._finish()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._finish()


class RecordingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Sends for real (through ``inner``) and appends every exchange to a JSONL file."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        inner: Any,
        *,
        prefix: str = "",
        secret: Secret | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._inner = inner
        self._prefix = prefix
        self._secret = secret
        self._lock = threading.Lock()

    def _redacted_body(self, headers: dict[str, str], content: bytes) -> bytes:
        """The body with the key masked; a compressed body that held it is stored decoded."""
        masked = redact_bytes(content, self._secret)
        stream = "text/event-stream" in headers.get("content-type", "")
        if self._secret is None or not ("content-encoding" in headers or stream):
            return masked
        decoded = httpx.Response(200, headers=headers, content=content).content
        plain = redact_bytes(decoded, self._secret)
        if stream:
            plain = _redact_stream(plain, self._secret)
        if plain == decoded:
            return masked  # nothing to hide inside: keep the bytes as they came
        headers.pop("content-encoding", None)
        return plain

    def _write(self, request: httpx.Request, response: httpx.Response, content: bytes) -> None:
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST_HEADERS
        }
        kept = {
            k.lower(): v for k, v in response.headers.items() if k.lower() in _KEEP_RESPONSE_HEADERS
        }
        try:
            content = self._redacted_body(kept, content)
        except httpx.DecodingError:  # a body that does not decode as it says: mask it as is
            content = redact_bytes(content, self._secret)
        path = request.url.path
        if self._prefix and path.startswith(self._prefix):
            path = path[len(self._prefix) :]
        entry = {
            "request": {
                "method": request.method,
                "path": path,
                "query": request.url.query.decode(),
                "headers": redact_value(headers, self._secret),
                "body": _body(request),
            },
            "response": {
                "status": response.status_code,
                "headers": redact_value(kept, self._secret),
                **_encode(content),
            },
        }
        # belt and braces: no form of the key is ever written, whatever field it hid in
        line = redact(json.dumps(entry, ensure_ascii=False), self._secret)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _wrap(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        tee = _Tee(response.stream, lambda content: self._write(request, response, content))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=tee,
            extensions=response.extensions,
            request=request,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._wrap(request, self._inner.handle_request(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._wrap(request, await self._inner.handle_async_request(request))

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()


class ReplayTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers from a recording; never touches the network."""

    def __init__(self, path: str | os.PathLike[str], *, prefix: str = "") -> None:
        self.path = Path(path)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._queues: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._last: dict[str, dict[str, Any]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise ReplayMissError(f"no recording at {self.path}") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                req = entry["request"]
                key = request_key(req["method"], req["path"], req.get("query", ""), req["body"])
            except (ValueError, KeyError, TypeError):
                raise ReplayMissError(f"{self.path}:{number} is not a recorded exchange") from None
            self._queues[key].append(entry["response"])

    def _response(self, request: httpx.Request) -> httpx.Response:
        key = _key_of(request, self._prefix)
        with self._lock:
            queue = self._queues.get(key)
            if queue:
                self._last[key] = queue.popleft()
            answer = self._last.get(key)
        if answer is None:
            known = list(self._queues)
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.0)
            hint = f"; the closest recorded request is {close[0][:300]}" if close else ""
            raise ReplayMissError(
                f"no recording in {self.path} for {request.method} {request.url.path} with "
                f"body {key[:300]}{hint}"
            )
        return httpx.Response(
            answer["status"],
            headers=answer.get("headers", {}),
            stream=httpx.ByteStream(_decode(answer)),  # unread, as from the network
            request=request,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._response(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self._response(request)
