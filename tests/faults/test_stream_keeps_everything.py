"""A stream keeps everything the server sent, as popular OpenAI-compatible servers send it:
reasoning, refusals, log probabilities, every choice, tool calls without an index, token
counts, and the server's own words when it reports an error."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from tests.client.conftest import Harness

TOKENS = [
    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []},
    {"token": "!", "logprob": -0.5, "bytes": [33], "top_logprobs": []},
]


def sse(*payloads: Any, done: bool = True) -> list[bytes]:
    out = [f"data: {json.dumps(p)}\n\n".encode() for p in payloads]
    return [*out, b"data: [DONE]\n\n"] if done else out


def chunk(delta: dict[str, Any], *, finish: str | None = None, **choice: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **choice}],
    }


async def streamed(h: Harness, chunks: list[bytes], **kw: Any) -> Any:
    c = h.client(lambda request: h.sse_response(chunks))
    stream = await h.call(c, "stream", "Hi", model="m", **kw)
    seen = await h.chunks(stream)
    reply = await h.call(stream, "completion")
    await h.close(c)
    return reply, seen


async def chatted(h: Harness, body: dict[str, Any]) -> Any:
    c = h.client(lambda request: httpx.Response(200, json=body))
    reply = await h.call(c, "chat", "Hi", model="m")
    await h.close(c)
    return reply


# (the stream's chunks, the same reply as one JSON body)
REPLIES: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "reasoning_content (vLLM, llama.cpp, DeepSeek)": (
        [
            chunk({"role": "assistant", "reasoning_content": "Let me "}),
            chunk({"reasoning_content": "think."}),
            chunk({"content": "Four."}, finish="stop"),
        ],
        {
            "message": {
                "role": "assistant",
                "content": "Four.",
                "reasoning_content": "Let me think.",
            }
        },
    ),
    "reasoning (OpenRouter)": (
        [chunk({"reasoning": "Let me think."}), chunk({"content": "Four."}, finish="stop")],
        {"message": {"role": "assistant", "content": "Four.", "reasoning": "Let me think."}},
    ),
    "refusal": (
        [chunk({"refusal": "I can't "}), chunk({"refusal": "help with that."}, finish="stop")],
        {"message": {"role": "assistant", "content": None, "refusal": "I can't help with that."}},
    ),
    "logprobs": (
        [
            chunk({"content": "Hi"}, logprobs={"content": TOKENS[:1], "refusal": None}),
            chunk({"content": "!"}, finish="stop", logprobs={"content": TOKENS[1:]}),
        ],
        {
            "message": {"role": "assistant", "content": "Hi!"},
            "logprobs": {"content": TOKENS, "refusal": None},
        },
    ),
}


@pytest.mark.parametrize("kind", list(REPLIES))
async def test_stream_and_chat_keep_the_same_reasoning_refusal_and_logprobs(
    h: Harness, kind: str
) -> None:
    chunks, choice = REPLIES[kind]
    body = {"id": "c1", "model": "m", "choices": [{"index": 0, "finish_reason": "stop", **choice}]}
    from_stream, _ = await streamed(h, sse(*chunks))
    from_chat = await chatted(h, body)
    for name in ("text", "reasoning", "refusal", "logprobs", "finish_reason"):
        assert getattr(from_stream, name) == getattr(from_chat, name), name
    assert [c.text for c in from_stream.choices] == [c.text for c in from_chat.choices]
    kept = from_stream.reasoning or from_stream.refusal or from_stream.logprobs
    assert kept, "something the server sent was dropped"


async def test_a_refusal_is_not_an_empty_reply(h: Harness) -> None:
    reply, _ = await streamed(h, sse(*REPLIES["refusal"][0]))
    assert reply.text == "" and reply.refusal == "I can't help with that."


async def test_reasoning_arrives_as_live_deltas(h: Harness) -> None:
    _, seen = await streamed(h, sse(*REPLIES["reasoning_content (vLLM, llama.cpp, DeepSeek)"][0]))
    assert [c.reasoning_delta for c in seen] == ["Let me ", "think.", ""]
    assert [c.delta for c in seen] == ["", "", "Four."]


def test_reasoning_is_not_put_into_the_message_sent_back_as_history() -> None:
    from qolaba_nb._accumulate import StreamAccumulator

    acc = StreamAccumulator()
    acc.handle(chunk({"reasoning_content": "hmm"}))
    acc.handle(chunk({"content": "ok"}, finish="stop"))
    assert acc.completion().message == {"role": "assistant", "content": "ok"}


async def test_tool_calls_without_index_one_per_chunk_stay_apart(h: Harness) -> None:
    def call(i: str, name: str, args: str) -> dict[str, Any]:
        return {"id": i, "type": "function", "function": {"name": name, "arguments": args}}

    reply, _ = await streamed(
        h,
        sse(
            chunk({"tool_calls": [call("call_1", "get_weather", '{"city":')]}),
            chunk({"tool_calls": [{"function": {"arguments": '"Paris"}'}}]}),  # continues
            chunk({"tool_calls": [call("call_2", "get_time", "{}")]}),  # a new id: a new call
            chunk({}, finish="tool_calls"),
        ),
    )
    assert [
        (t["id"], t["function"]["name"], t["function"]["arguments"]) for t in reply.tool_calls
    ] == [
        ("call_1", "get_weather", '{"city":"Paris"}'),
        ("call_2", "get_time", "{}"),
    ]


async def test_several_choices_are_kept_apart(h: Harness) -> None:
    def two(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": index, "delta": {"content": text}, "finish_reason": finish}]}

    chunks = sse(two(0, "Red "), two(1, "Blue "), two(0, "apple", "stop"), two(1, "sky", "stop"))
    c = h.client(lambda request: h.sse_response(chunks))
    stream = await h.call(c, "stream", "Hi", model="m", extra_body={"n": 2})
    deltas = []
    if h.mode == "sync":
        deltas = list(stream.text_deltas())
    else:
        deltas = [d async for d in stream.text_deltas()]
    reply = await h.call(stream, "completion")
    await h.close(c)
    assert deltas == ["Red ", "apple"] and stream.text == "Red apple"
    assert reply.text == "Red apple"
    assert [(ch.index, ch.text, ch.finish_reason) for ch in reply.choices] == [
        (0, "Red apple", "stop"),
        (1, "Blue sky", "stop"),
    ]


async def test_chat_keeps_every_choice_too(h: Harness) -> None:
    body = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "B"}, "finish_reason": "stop"},
        ]
    }
    reply = await chatted(h, body)
    assert reply.text == "A" and [ch.text for ch in reply.choices] == ["A", "B"]


async def test_openai_token_counts_are_kept_without_inventing_credits(h: Harness) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    reply, _ = await streamed(
        h, sse(chunk({"content": "ok"}, finish="stop"), {"choices": [], "usage": usage})
    )
    u = reply.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (5, 7, 12)
    assert u.credit is None and u.cost is None and reply.credit is None
    qolaba = q.Usage.from_raw({"total_credit": 2.5, "total_cost": 0.01})
    assert qolaba is not None and qolaba.prompt_tokens is None and qolaba.total_tokens is None


async def test_a_nestjs_error_body_gives_its_message_not_the_reason_phrase(h: Harness) -> None:
    body = {"message": "upstream model crashed", "statusCode": 502, "error": "Bad Gateway"}
    c = h.client(lambda request: httpx.Response(502, json=body), max_retries=0)
    with pytest.raises(q.UpstreamError) as info:
        await h.call(c, "chat", "Hi", model="m")
    await h.close(c)
    assert info.value.message == "upstream model crashed"
    # a plain string error that is not a reason phrase is still the message
    assert (
        q._exceptions.error_message({"error": "quota exceeded", "message": "x"}) == "quota exceeded"
    )
    assert (
        q._exceptions.error_message({"message": ["a is bad", "b is bad"], "error": "Bad Request"})
        == "a is bad; b is bad"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b'error: {"code": 500, "message": "context size exceeded", "type": "server_error"}',
            "context size exceeded",
        ),
        (b"error: the model crashed", "the model crashed"),
    ],
    ids=["json", "text"],
)
async def test_an_error_field_line_keeps_the_server_message(
    h: Harness, line: bytes, expected: str
) -> None:
    chunks = [*sse(chunk({"content": "Hel"}), done=False), line + b"\n\n"]
    c = h.client(lambda request: h.sse_response(chunks))
    stream = await h.call(c, "stream", "Hi", model="m")
    with pytest.raises(q.StreamError) as info:
        await h.chunks(stream)
    await h.close(c)
    assert expected in str(info.value) and info.value.partial_text == "Hel"
    assert not isinstance(info.value, q.IncompleteStreamError)
