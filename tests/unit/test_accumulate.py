"""StreamAccumulator: stream events in, one ChatCompletion out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qolaba_nb._accumulate import StreamAccumulator
from qolaba_nb._exceptions import IncompleteStreamError, StreamError
from qolaba_nb._sse import ServerSentEvent, SSEDecoder

CREDIT_USAGE = {"total_credit": 0.25, "total_cost": 0.0012441, "breakdown": {"model": {}}}
TOKEN_USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def chunk(
    content: str | None = None,
    *,
    finish: str | None = None,
    usage: Any = ...,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    payload: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "google/gemini-2.5-flash",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not ...:
        payload["usage"] = usage
    return payload


def event(payload: object, name: str = "message") -> ServerSentEvent:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return ServerSentEvent(data, event=name)


def run(*items: object) -> StreamAccumulator:
    acc = StreamAccumulator()
    for item in items:
        acc.handle_event(item if isinstance(item, ServerSentEvent) else event(item))
    return acc


def test_text_is_joined_in_order() -> None:
    acc = run(chunk("Par"), chunk(""), chunk("is"), chunk("."), chunk(finish="stop"))
    assert acc.text == "Paris."
    assert acc.completion().text == "Paris."


def test_reference_stream_with_usage_after_done() -> None:
    # The reference's stream, as bytes: Qolaba sends the usage event AFTER data: [DONE].
    stream = (
        b'data: {"id":"c1","object":"chat.completion.chunk","model":"google/gemini-2.5-flash",'
        b'"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
        b'data: {"id":"c1","object":"chat.completion.chunk","model":"google/gemini-2.5-flash",'
        b'"choices":[{"index":0,"delta":{"content":"Paris."},"finish_reason":null}]}\n\n'
        b'data: {"id":"c1","object":"chat.completion.chunk","model":"google/gemini-2.5-flash",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b"data: [DONE]\n\n"
        b'data: {"usage":{"total_credit":0.25,"total_cost":0.0012441,"breakdown":{"model":'
        b'{"model":"google/gemini-2.5-flash","credit":0.25,"cost":0.001244}}}}\n\n'
    )
    acc = StreamAccumulator()
    for ev in SSEDecoder().feed(stream):
        acc.handle_event(ev)
    done = acc.completion()
    assert acc.done
    assert (done.text, done.finish_reason, done.id, done.model) == (
        "Paris.",
        "stop",
        "c1",
        "google/gemini-2.5-flash",
    )
    assert done.usage is not None
    assert (done.usage.credit, done.usage.cost) == (0.25, 0.0012441)
    assert done.raw["usage"]["total_credit"] == 0.25


def test_openai_style_usage_on_an_empty_choices_chunk() -> None:
    acc = run(
        chunk("hi", finish="stop"), {"id": "x", "choices": [], "usage": CREDIT_USAGE}, "[DONE]"
    )
    assert acc.usage is not None and acc.usage.credit == 0.25


def test_usage_on_the_finish_chunk() -> None:
    acc = run(chunk("hi"), chunk(finish="stop", usage=CREDIT_USAGE))
    assert acc.completion().credit == 0.25


def test_usage_null_on_every_chunk_does_not_erase_a_previous_usage() -> None:
    acc = run(
        chunk("a", usage=None),
        chunk(finish="stop", usage=CREDIT_USAGE),
        chunk(usage=None),
        {"choices": [], "usage": None},
        "[DONE]",
    )
    assert acc.usage is not None and acc.usage.cost == 0.0012441


def test_usage_null_everywhere_gives_none() -> None:
    assert run(chunk("a", usage=None), chunk(finish="stop", usage=None)).usage is None


def test_token_only_usage_does_not_replace_a_credit_usage() -> None:
    acc = run(
        chunk("a", finish="stop", usage=CREDIT_USAGE),
        {"choices": [], "usage": TOKEN_USAGE},
        "[DONE]",
    )
    assert acc.usage is not None and acc.usage.credit == 0.25


def test_credit_usage_replaces_an_earlier_token_only_usage() -> None:
    acc = run(
        {"choices": [], "usage": TOKEN_USAGE},
        chunk(finish="stop"),
        "[DONE]",
        {"usage": CREDIT_USAGE},
    )
    assert acc.usage is not None and acc.usage.credit == 0.25


def test_token_only_usage_alone_is_kept_without_credits() -> None:
    acc = run(chunk(finish="stop"), {"choices": [], "usage": TOKEN_USAGE})
    assert acc.usage is not None
    assert (acc.usage.credit, acc.usage.cost) == (None, None)


def test_parallel_tool_call_fragments_are_joined_by_index() -> None:
    def frag(index: int, **kw: Any) -> dict[str, Any]:
        return chunk(tool_calls=[{"index": index, **kw}])

    acc = run(
        frag(0, id="call_a", type="function", function={"name": "get_", "arguments": ""}),
        frag(1, id="call_b", type="function", function={"name": "get_time", "arguments": ""}),
        frag(0, function={"name": "weather", "arguments": '{"city":'}),
        frag(1, function={"arguments": '{"tz":'}),
        frag(0, function={"arguments": ' "Paris"}'}),
        frag(1, function={"arguments": ' "UTC"}'}),
        chunk(finish="tool_calls"),
    )
    done = acc.completion()
    assert done.finish_reason == "tool_calls"
    assert done.tool_calls == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'},
        },
    ]
    assert json.loads(done.tool_calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert done.message["tool_calls"] == done.tool_calls
    assert done.message["content"] is None  # no text: content None, as OpenAI sends it


@pytest.mark.parametrize(
    "payload",
    [
        {"error": {"message": "upstream exploded", "code": 502}},
        {"error": "upstream exploded"},
    ],
    ids=["error-object", "error-string"],
)
def test_error_event_raises_stream_error_with_partial_text(payload: dict[str, Any]) -> None:
    acc = run(chunk("Hello, "), chunk("wor"))
    with pytest.raises(StreamError, match="upstream exploded") as info:
        acc.handle_event(event(payload))
    assert info.value.partial_text == "Hello, wor"
    assert info.value.body == payload


@pytest.mark.parametrize(
    "data",
    ['{"message": "model overloaded"}', "model overloaded"],
    ids=["json", "plain-text"],
)
def test_sse_event_named_error_raises_stream_error(data: str) -> None:
    acc = run(chunk("partial"))
    with pytest.raises(StreamError, match="model overloaded") as info:
        acc.handle_event(ServerSentEvent(data, event="error"))
    assert info.value.partial_text == "partial"


def test_error_null_on_chunks_is_not_an_error() -> None:
    assert run({**chunk("ok", finish="stop"), "error": None}).text == "ok"


def test_check_complete_raises_when_neither_finish_reason_nor_done_was_seen() -> None:
    acc = run(chunk("half a sen"))
    with pytest.raises(IncompleteStreamError) as info:
        acc.check_complete()
    assert info.value.partial_text == "half a sen"


@pytest.mark.parametrize(
    "last",
    [chunk(finish="stop"), chunk(finish="length"), "[DONE]", " [DONE] "],
    ids=["finish-stop", "finish-length", "done", "done-padded"],
)
def test_check_complete_passes_with_finish_reason_or_done(last: object) -> None:
    acc = run(chunk("text"), last)
    acc.check_complete()
    assert acc.complete


def test_take_completion_for_a_json_answer_to_a_stream_request() -> None:
    acc = StreamAccumulator()
    got = acc.take_completion(
        {
            "id": "chatcmpl-9",
            "model": "openai/gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris."},
                    "finish_reason": "stop",
                }
            ],
            "usage": CREDIT_USAGE,
        }
    )
    assert got.delta == "Paris." and got.finish_reason == "stop"
    acc.check_complete()
    done = acc.completion()
    assert (done.text, done.id, done.model, done.credit) == (
        "Paris.",
        "chatcmpl-9",
        "openai/gpt-4o",
        0.25,
    )


@pytest.mark.parametrize(
    "data",
    ["keep-alive", "{not json", "", "[1, 2]", '"a string"', "null"],
    ids=["text", "broken-json", "empty", "list", "string", "null"],
)
def test_non_json_or_non_object_data_is_ignored(data: str) -> None:
    acc = run(chunk("a"), ServerSentEvent(data), chunk("b", finish="stop"))
    assert acc.text == "ab"
    assert acc.usage is None


def test_completion_without_usage_has_usage_none_never_zeros() -> None:
    done = run(chunk("hi"), chunk(finish="stop"), "[DONE]").completion(request_id="req-1")
    assert done.usage is None
    assert done.credit is None and done.cost is None
    assert "usage" not in done.raw
    assert (done.text, done.tool_calls, done.finish_reason, done.request_id) == (
        "hi",
        [],
        "stop",
        "req-1",
    )
    assert done.message == {"role": "assistant", "content": "hi"}


def test_completion_of_a_cut_stream_has_no_finish_reason() -> None:
    done = run(chunk("par")).completion()
    assert (done.text, done.finish_reason) == ("par", None)


def test_chunks_report_their_delta_and_finish_reason() -> None:
    acc = StreamAccumulator()
    first = acc.handle_event(event(chunk("Hi")))
    last = acc.handle_event(event(chunk(finish="stop")))
    assert first is not None and (first.delta, first.finish_reason) == ("Hi", None)
    assert last is not None and (last.delta, last.finish_reason) == ("", "stop")
    assert acc.handle_event(event("[DONE]")) is None


def test_text_property_is_current_after_every_chunk() -> None:
    acc = StreamAccumulator()
    seen = []
    for piece in ["a", "b", "c"]:
        acc.handle_event(event(chunk(piece)))
        seen.append(acc.text)
    assert seen == ["a", "ab", "abc"]


@pytest.mark.parametrize(
    "prefix", [" ", "\t", "\n", "  \n "], ids=["space", "tab", "empty-first-line", "mixed"]
)
def test_json_with_leading_whitespace_is_not_dropped(prefix: str) -> None:
    # "data:  {...}" keeps one space after the decoder removed the first; still valid JSON.
    acc = run(ServerSentEvent(prefix + json.dumps(chunk("kept", finish="stop"))))
    assert (acc.text, acc.finish_reason) == ("kept", "stop")


def test_json_followed_by_garbage_is_ignored() -> None:
    acc = run(chunk("a"), ServerSentEvent(json.dumps(chunk("b")) + " trailing"), chunk("c"))
    assert acc.text == "ac"


def test_json_with_trailing_whitespace_is_parsed() -> None:
    assert run(ServerSentEvent(json.dumps(chunk("x")) + " \n")).text == "x"
