"""Turns decoded stream events into chunks and, at the end, one ``ChatCompletion``. Pure.

Qolaba sends its usage event AFTER ``data: [DONE]``, so the stream is read to its real end;
OpenAI-style usage (a ``choices: []`` chunk, usage on the finish chunk, ``usage: null`` on every
chunk) is understood as well. Tool-call fragments are joined by their ``index``; fragments
without one (some servers send one whole call per chunk) continue the last call, and one with a
new ``id`` starts the next. Every choice is kept apart (``index`` 0, 1, ...), and with its text
its reasoning (``reasoning_content`` / ``reasoning``), refusal and log probabilities: a stream
gives the same ``ChatCompletion`` as ``chat()`` of the same reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ._exceptions import IncompleteStreamError, StreamError, error_message
from ._models import (
    ChatChunk,
    ChatCompletion,
    Choice,
    Usage,
    content_text,
    merge_logprobs,
    parse_completion,
    reasoning_of,
)
from ._sse import ServerSentEvent

# ``JSONDecoder.raw_decode`` skips the two whitespace regex matches ``json.loads`` does per call;
# this runs once per streamed token. Leading whitespace falls back to json.loads.
_raw_decode = json.JSONDecoder().raw_decode


def _error_message(payload: Mapping[str, Any]) -> str:
    found = error_message(payload)
    if found:
        return found
    error = payload.get("error")
    return json.dumps(dict(error))[:500] if isinstance(error, Mapping) else str(error)


class _ChoiceState:
    """What one choice has received so far."""

    __slots__ = (
        "_joined",
        "_text",
        "finish_reason",
        "last_tool",
        "logprobs",
        "parts",
        "reasoning",
        "refusal",
        "role",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._text = ""
        self._joined = 0  # how many parts ``_text`` holds
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.last_tool: int | None = None  # where a fragment without an index belongs
        self.role = "assistant"
        self.finish_reason: str | None = None
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.logprobs: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """The text received so far (cheap to ask often: joins only what is new)."""
        if self._joined != len(self.parts):
            self._text += "".join(self.parts[self._joined :])
            self._joined = len(self.parts)
        return self._text

    def merge_tool_calls(self, fragments: list[Any]) -> list[dict[str, Any]]:
        out = []
        for frag in fragments:
            if not isinstance(frag, Mapping):
                continue
            index = frag.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                index = self._index_for(frag.get("id"))
            self.last_tool = index
            call = self.tool_calls.setdefault(
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

    def _index_for(self, call_id: object) -> int:
        """A fragment without ``index``: the last call's, unless its ``id`` names a new call."""
        last = self.last_tool
        if last is None:
            return 0
        known = self.tool_calls[last]["id"]
        if isinstance(call_id, str) and call_id and known and call_id != known:
            return max(self.tool_calls) + 1
        return last

    def choice(self, index: int) -> Choice:
        message: dict[str, Any] = {"role": self.role, "content": self.text or None}
        calls = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        if calls:
            message["tool_calls"] = calls
        # Reasoning and refusal stay out of ``message``: it may be sent back as history, and
        # some servers refuse a reasoning_content field in a request.
        reasoning = "".join(self.reasoning) or None
        refusal = "".join(self.refusal) or None
        return Choice(
            index=index,
            text=self.text,
            message=message,
            finish_reason=self.finish_reason,
            tool_calls=calls,
            reasoning=reasoning,
            refusal=refusal,
            logprobs=self.logprobs,
        )


class StreamAccumulator:
    """Feed it events (``handle_event``) or parsed payloads (``handle``); ask it for the result."""

    def __init__(self) -> None:
        self._first = _ChoiceState()  # index 0: what ``text`` and the chunks' deltas show
        self._others: dict[int, _ChoiceState] = {}
        self.id: str | None = None
        self.model: str | None = None
        self.usage: Usage | None = None
        self.done = False  # saw data: [DONE]
        self.events = 0

    @property
    def text(self) -> str:
        """The text of the first choice received so far."""
        return self._first.text

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        calls = self._first.tool_calls
        return [calls[i] for i in sorted(calls)]

    @property
    def finish_reason(self) -> str | None:
        return self._first.finish_reason

    @property
    def role(self) -> str:
        return self._first.role

    @property
    def complete(self) -> bool:
        """The server said the reply is over (a finish reason or ``[DONE]``)."""
        return self.done or self._first.finish_reason is not None

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
                f"the stream reported an error: {_error_message(payload)}",
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
        first: ChatChunk | None = None
        for position, choice in enumerate(choices):
            if type(choice) is not dict:
                continue
            index = choice.get("index", position)
            if type(index) is not int:
                index = position
            if index == 0:
                state = self._first
            else:
                state = self._others.get(index) or self._others.setdefault(index, _ChoiceState())
            chunk = self._apply(state, index, choice, payload)
            if first is None or (index == 0 and first.index != 0):
                first = chunk
        return first

    def _apply(
        self, state: _ChoiceState, index: int, choice: dict[str, Any], payload: dict[str, Any]
    ) -> ChatChunk:
        delta = choice.get("delta")
        if type(delta) is not dict:
            delta = choice.get("message")  # some servers send whole messages as chunks
            delta = delta if isinstance(delta, dict) else {}
        content = delta.get("content")
        text = ""
        if content:
            text = content if type(content) is str else content_text(content)
            if text:
                state.parts.append(text)
        reasoning = ""
        if "reasoning_content" in delta or "reasoning" in delta:  # cheap test, once per token
            reasoning = reasoning_of(delta)
            if reasoning:
                state.reasoning.append(reasoning)
        refusal = delta.get("refusal")
        if refusal and type(refusal) is str:
            state.refusal.append(refusal)
        logprobs = choice.get("logprobs")
        if logprobs:
            state.logprobs = merge_logprobs(state.logprobs, logprobs)
        role = delta.get("role")
        if role and type(role) is str:
            state.role = role
        fragments = delta.get("tool_calls")
        tool_deltas = state.merge_tool_calls(fragments) if type(fragments) is list else []
        finish = choice.get("finish_reason")
        if finish and type(finish) is str:
            state.finish_reason = finish
        else:
            finish = None
        return ChatChunk(text, tool_deltas, finish, payload, reasoning, index)

    def take_completion(self, payload: object) -> ChatChunk:
        """A ``stream: true`` request answered with plain JSON: the whole reply as one chunk."""
        done = parse_completion(payload)
        self.id, self.model = done.id, done.model
        self.usage = done.usage
        for choice in done.choices:
            state = (
                self._first
                if choice.index == 0
                else self._others.setdefault(choice.index, _ChoiceState())
            )
            if choice.text:
                state.parts.append(choice.text)
            state.finish_reason = choice.finish_reason
            state.tool_calls = dict(enumerate(choice.tool_calls))
            state.role = str(choice.message.get("role") or "assistant")
            state.reasoning = [choice.reasoning] if choice.reasoning else []
            state.refusal = [choice.refusal] if choice.refusal else []
            state.logprobs = choice.logprobs
        self.done = True
        return ChatChunk(
            done.text,
            done.tool_calls,
            done.finish_reason,
            done.raw,
            done.reasoning or "",
        )

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
        first = self._first.choice(0)
        choices = [first, *(self._others[i].choice(i) for i in sorted(self._others))]
        raw: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {
                    "index": c.index,
                    "message": c.message,
                    "finish_reason": c.finish_reason,
                    **({"logprobs": c.logprobs} if c.logprobs is not None else {}),
                }
                for c in choices
            ],
        }
        if self.usage is not None:
            raw["usage"] = self.usage.raw
        return ChatCompletion(
            id=self.id,
            model=self.model,
            text=first.text,
            message=first.message,
            finish_reason=first.finish_reason,
            tool_calls=first.tool_calls,
            usage=self.usage,
            request_id=request_id,
            latency_s=latency_s,
            ttft_s=ttft_s,
            raw=raw,
            reasoning=first.reasoning,
            refusal=first.refusal,
            logprobs=first.logprobs,
            choices=choices,
        )
