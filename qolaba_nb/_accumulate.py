"""Turns decoded stream events into chunks and, at the end, one ``ChatCompletion``. Pure.

Qolaba sends its usage event AFTER ``data: [DONE]``, so the stream is read to its real end;
OpenAI-style usage (a ``choices: []`` chunk, usage on the finish chunk, ``usage: null`` on every
chunk) is understood as well. Tool-call fragments are joined by their ``index``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._exceptions import IncompleteStreamError, StreamError
from ._models import ChatChunk, ChatCompletion, Usage, content_text, parse_completion
from ._sse import ServerSentEvent

# ``JSONDecoder.raw_decode`` skips the two whitespace regex matches ``json.loads`` does per call;
# this runs once per streamed token. Leading whitespace falls back to json.loads.
_raw_decode = json.JSONDecoder().raw_decode


def _error_message(error: object) -> str:
    if isinstance(error, Mapping):
        msg = error.get("message")
        return str(msg) if msg else json.dumps(dict(error))[:500]
    return str(error)


class StreamAccumulator:
    """Feed it events (``handle_event``) or parsed payloads (``handle``); ask it for the result."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._text = ""
        self._joined = 0  # how many parts ``_text`` holds
        self._tool_calls: dict[int, dict[str, Any]] = {}
        self.id: str | None = None
        self.model: str | None = None
        self.role = "assistant"
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False  # saw data: [DONE]
        self.events = 0

    @property
    def text(self) -> str:
        """The text received so far (cheap to ask often: joins only what is new)."""
        if self._joined != len(self._parts):
            self._text += "".join(self._parts[self._joined :])
            self._joined = len(self._parts)
        return self._text

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [self._tool_calls[i] for i in sorted(self._tool_calls)]

    @property
    def complete(self) -> bool:
        """The server said the reply is over (a finish reason or ``[DONE]``)."""
        return self.done or self.finish_reason is not None

    def handle_event(self, event: ServerSentEvent) -> ChatChunk | None:
        data = event.data
        if not data.startswith("{") and data.strip() == "[DONE]":
            self.done = True
            return None
        try:
            try:
                payload, end = _raw_decode(data)
            except ValueError:
                # raw_decode refuses leading whitespace that json.loads accepts ("data:  {...}",
                # "data:\t{...}", a first empty data line): such a chunk is valid JSON and its
                # text must not be dropped. Only this rare path pays for the second parse.
                payload, end = json.loads(data), len(data)
            if end != len(data) and data[end:].strip():
                raise ValueError("extra data after the JSON value")
        except ValueError:
            if event.event == "error":
                # An ``event: error`` with a plain-text body is still an error: ignoring it (as
                # noise) hid the server's message and ended in a vague IncompleteStreamError.
                return self.handle({"error": {"message": data.strip() or "error event"}})
            # Not JSON: a keep-alive with data, or noise. Nothing in it belongs to the reply.
            return None
        if event.event == "error" and not (isinstance(payload, dict) and "error" in payload):
            payload = {"error": payload}
        return self.handle(payload)

    def handle(self, payload: object) -> ChatChunk | None:
        # This runs once per streamed token: ``type(x) is dict`` instead of ``isinstance(x,
        # Mapping)`` (an ABC check) keeps it cheap; json.loads only ever gives dicts.
        if type(payload) is not dict:
            if not isinstance(payload, Mapping):
                return None
            payload = dict(payload)
        self.events += 1
        error = payload.get("error")
        if error:
            raise StreamError(
                f"the stream reported an error: {_error_message(error)}",
                body=payload,
                partial_text=self.text,
            )
        usage = payload.get("usage")
        if usage:
            parsed = Usage.from_raw(usage)
            # A credit-less (token-only) usage never replaces one that has credits.
            if parsed is not None and (parsed.has_credit or self.usage is None):
                self.usage = parsed
        choices = payload.get("choices")
        if not choices or type(choices) is not list:
            return None
        if self.id is None and isinstance(payload.get("id"), str):
            self.id = payload["id"]
        if self.model is None and isinstance(payload.get("model"), str):
            self.model = payload["model"]
        choice = choices[0]
        if type(choice) is not dict:
            return None
        delta = choice.get("delta")
        if type(delta) is not dict:
            delta = choice.get("message")  # some servers send whole messages as chunks
            delta = delta if isinstance(delta, dict) else {}
        content = delta.get("content")
        text = ""
        if content:
            text = content if type(content) is str else content_text(content)
            if text:
                self._parts.append(text)
        role = delta.get("role")
        if role and type(role) is str:
            self.role = role
        fragments = delta.get("tool_calls")
        tool_deltas = self._merge_tool_calls(fragments) if type(fragments) is list else []
        finish = choice.get("finish_reason")
        if finish and type(finish) is str:
            self.finish_reason = finish
        else:
            finish = None
        return ChatChunk(text, tool_deltas, finish, payload)

    def _merge_tool_calls(self, fragments: list[Any]) -> list[dict[str, Any]]:
        out = []
        for position, frag in enumerate(fragments):
            if not isinstance(frag, Mapping):
                continue
            index = frag.get("index", position)
            index = index if isinstance(index, int) else position
            call = self._tool_calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if isinstance(frag.get("id"), str):
                call["id"] = frag["id"]
            if isinstance(frag.get("type"), str):
                call["type"] = frag["type"]
            fn = frag.get("function")
            if isinstance(fn, Mapping):
                if isinstance(fn.get("name"), str):
                    call["function"]["name"] += fn["name"]
                if isinstance(fn.get("arguments"), str):
                    call["function"]["arguments"] += fn["arguments"]
            out.append(dict(frag))
        return out

    def take_completion(self, payload: object) -> ChatChunk:
        """A ``stream: true`` request answered with plain JSON: the whole reply as one chunk."""
        done = parse_completion(payload)
        if done.text:
            self._parts.append(done.text)
        self.id, self.model = done.id, done.model
        self.finish_reason = done.finish_reason
        self.usage = done.usage
        for i, call in enumerate(done.tool_calls):
            self._tool_calls[i] = call
        self.done = True
        return ChatChunk(done.text, done.tool_calls, done.finish_reason, done.raw)

    def check_complete(self) -> None:
        """At the end of the bytes: a reply with neither finish reason nor [DONE] was cut."""
        if not self.complete:
            raise IncompleteStreamError(
                "the stream ended before the reply was complete (no finish reason, no [DONE])",
                partial_text=self.text,
            )

    def completion(
        self,
        *,
        request_id: str | None = None,
        latency_s: float | None = None,
        ttft_s: float | None = None,
    ) -> ChatCompletion:
        message: dict[str, Any] = {"role": self.role, "content": self.text or None}
        calls = self.tool_calls
        if calls:
            message["tool_calls"] = calls
        raw: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            raw["usage"] = self.usage.raw
        return ChatCompletion(
            id=self.id,
            model=self.model,
            text=self.text,
            message=message,
            finish_reason=self.finish_reason,
            tool_calls=calls,
            usage=self.usage,
            request_id=request_id,
            latency_s=latency_s,
            ttft_s=ttft_s,
            raw=raw,
        )
