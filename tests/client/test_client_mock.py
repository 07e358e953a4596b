"""The client over ``httpx.MockTransport``: one body for sync and async (the ``mode`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from tests.client.conftest import KEY, Harness

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "google/gemini-2.5-flash",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {
        "total_credit": 0.25,
        "total_cost": 0.0012441,
        "breakdown": {
            "model": {"model": "google/gemini-2.5-flash", "credit": 0.25, "cost": 0.001244}
        },
    },
}


def ev(payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    delta = {} if content is None else {"content": content}
    return ev(
        {
            "id": "c1",
            "model": "m/x",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
    )


USAGE = ev({"usage": {"total_credit": 0.5, "total_cost": 0.002}})
QOLABA_STREAM = [chunk("Par"), chunk("is."), chunk(None, "stop"), ev("[DONE]"), USAGE]


async def test_chat_returns_text_usage_and_request_id(h: Harness) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=COMPLETION, headers={"x-request-id": "req_9"})

    client = h.client(handler)
    reply = await h.call(
        client,
        "chat",
        "What is the capital of France?",
        model="google/gemini-2.5-flash",
        temperature=0.2,
    )
    assert reply.text == "Paris."
    assert reply.usage.credit == 0.25 and reply.usage.cost == 0.0012441
    assert reply.finish_reason == "stop" and reply.request_id == "req_9"
    assert reply.latency_s is not None and reply.latency_s >= 0
    assert seen[0].url == "http://qolaba.test/api/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(seen[0].content)
    assert body == {
        "model": "google/gemini-2.5-flash",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0.2,
    }
    [rec] = h.ledger.records
    assert (rec.status, rec.kind, rec.credit, rec.cost, rec.http_status) == (
        "ok",
        "chat",
        0.25,
        0.0012441,
        200,
    )
    assert rec.params == {"temperature": 0.2} and rec.request_id == "req_9"
    assert rec.prompt_chars == len("What is the capital of France?") and rec.completion_chars == 6


async def test_chat_without_usage_reports_none_and_books_an_estimate(h: Harness) -> None:
    body = {k: v for k, v in COMPLETION.items() if k != "usage"}
    client = h.client(lambda r: httpx.Response(200, json=body), reserve_credits=0.3)
    reply = await h.call(client, "chat", "hi", model="m/x")
    assert reply.usage is None  # the reply says what the server said: nothing
    rec = h.ledger.records[0]
    # The server answered, so it may have charged: the reservation stands in for the credit.
    assert (rec.credit, rec.credit_source, rec.cost) == (0.3, "estimated", None)


async def test_stream_reads_past_done_for_the_usage_event(h: Harness) -> None:
    client = h.client(lambda r: h.sse_response(QOLABA_STREAM))
    stream = await h.call(client, "stream", "hi", model="m/x")
    deltas = [c.delta for c in await h.chunks(stream)]
    assert deltas == ["Par", "is.", ""]
    reply = await h.call(stream, "completion")
    assert reply.text == "Paris." and reply.finish_reason == "stop"
    assert reply.usage is not None and reply.usage.credit == 0.5 and reply.usage.cost == 0.002
    assert reply.ttft_s is not None and reply.latency_s >= reply.ttft_s
    assert stream.usage.credit == 0.5
    [rec] = h.ledger.records
    assert (rec.status, rec.kind, rec.credit, rec.completion_chars) == ("ok", "stream", 0.5, 6)
    assert rec.ttft_s == reply.ttft_s


async def test_stream_request_body_asks_for_usage(h: Harness) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return h.sse_response(QOLABA_STREAM)

    client = h.client(handler)
    stream = await h.call(client, "stream", "hi", model="m/x")
    await h.call(stream, "completion")
    assert seen[0]["stream"] is True and seen[0]["stream_options"] == {"include_usage": True}


async def test_completion_after_partial_iteration_reads_the_rest(h: Harness) -> None:
    client = h.client(lambda r: h.sse_response(QOLABA_STREAM))
    stream = await h.call(client, "stream", "hi", model="m/x")
    first = await (anext(stream) if h.mode == "async" else _next(stream))
    assert first.delta == "Par" and stream.text == "Par"
    reply = await h.call(stream, "completion")
    assert reply.text == "Paris." and reply.usage.credit == 0.5


async def _next(stream: Any) -> Any:
    return next(stream)


async def test_text_deltas_yields_only_text(h: Harness) -> None:
    client = h.client(lambda r: h.sse_response(QOLABA_STREAM))
    stream = await h.call(client, "stream", "hi", model="m/x")
    if h.mode == "sync":
        got = list(stream.text_deltas())
    else:
        got = [d async for d in stream.text_deltas()]
    assert got == ["Par", "is."]


@pytest.mark.parametrize(
    "events",
    [
        [
            chunk("Hi", usage=None),
            chunk(None, "stop", usage={"total_credit": 1, "total_cost": 0.1}),
            ev("[DONE]"),
        ],
        [
            chunk("Hi", usage=None),
            chunk(None, "stop", usage=None),
            ev({"choices": [], "usage": {"total_credit": 1, "total_cost": 0.1}}),
            ev("[DONE]"),
        ],
    ],
    ids=["usage-on-finish-chunk", "openai-style-usage-chunk"],
)
async def test_stream_accepts_openai_style_usage(h: Harness, events: list[bytes]) -> None:
    client = h.client(lambda r: h.sse_response(events))
    stream = await h.call(client, "stream", "hi", model="m/x")
    reply = await h.call(stream, "completion")
    assert reply.text == "Hi" and reply.usage.credit == 1.0 and reply.usage.cost == 0.1


@pytest.mark.parametrize(
    ("events", "error"),
    [
        (QOLABA_STREAM, None),
        ([chunk("Par")], q.IncompleteStreamError),
        ([chunk("Par"), ev({"error": {"message": "boom"}})], q.StreamError),
    ],
    ids=["complete", "cut", "error-event"],
)
async def test_chat_answered_with_sse_is_read_as_a_stream(
    h: Harness, events: list[bytes], error: type[Exception] | None
) -> None:
    body = b"".join(events)
    headers = {"content-type": "text/event-stream"}
    client = h.client(lambda r: httpx.Response(200, content=body, headers=headers))
    if error is None:
        reply = await h.call(client, "chat", "hi", model="m/x")
        assert reply.text == "Paris." and reply.usage.credit == 0.5
        assert h.ledger.records[0].status == "ok"
    else:
        with pytest.raises(error):
            await h.call(client, "chat", "hi", model="m/x")
        assert h.ledger.records[0].status in ("truncated", "api_error")


async def test_stream_answered_with_json_is_read_as_json(h: Harness) -> None:
    client = h.client(lambda r: httpx.Response(200, json=COMPLETION))
    stream = await h.call(client, "stream", "hi", model="m/x")
    chunks = await h.chunks(stream)
    assert [c.delta for c in chunks] == ["Paris."]
    reply = await h.call(stream, "completion")
    assert reply.text == "Paris." and reply.usage.credit == 0.25 and reply.finish_reason == "stop"


async def test_stream_tool_call_fragments_are_joined_by_index(h: Harness) -> None:
    def tc(index: int, **fields: Any) -> bytes:
        return ev(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": index, **fields}]},
                        "finish_reason": None,
                    }
                ]
            }
        )

    events = [
        tc(0, id="call_a", type="function", function={"name": "get_weather", "arguments": ""}),
        tc(1, id="call_b", type="function", function={"name": "get_time", "arguments": '{"tz"'}),
        tc(0, function={"arguments": '{"city": '}),
        tc(1, function={"arguments": ': "UTC"}'}),
        tc(0, function={"arguments": '"Paris"}'}),
        chunk(None, "tool_calls"),
        ev("[DONE]"),
    ]
    client = h.client(lambda r: h.sse_response(events))
    stream = await h.call(
        client,
        "stream",
        "weather?",
        model="m/x",
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
    )
    reply = await h.call(stream, "completion")
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == [
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
    assert reply.ttft_s is not None


async def test_stream_cut_without_finish_or_done_is_incomplete(h: Harness) -> None:
    client = h.client(lambda r: h.sse_response([chunk("Hel"), chunk("lo")]))
    stream = await h.call(client, "stream", "hi", model="m/x")
    with pytest.raises(q.IncompleteStreamError) as info:
        await h.chunks(stream)
    assert info.value.partial_text == "Hello"
    assert h.ledger.records[0].status == "truncated"
    assert h.ledger.records[0].completion_chars == 5


async def test_error_event_mid_stream_raises_stream_error_with_partial_text(h: Harness) -> None:
    events = [
        chunk("Par"),
        ev({"error": {"message": "upstream exploded", "type": "upstream_error"}}),
    ]
    client = h.client(lambda r: h.sse_response(events))
    stream = await h.call(client, "stream", "hi", model="m/x")
    with pytest.raises(q.StreamError, match="upstream exploded") as info:
        await h.call(stream, "completion")
    assert info.value.partial_text == "Par"
    [rec] = h.ledger.records
    assert rec.status == "api_error" and "upstream exploded" in rec.error
    # asking again gives the same error, not a silent partial reply
    with pytest.raises(q.StreamError):
        await h.call(stream, "completion")


async def test_connection_lost_mid_stream_keeps_partial_text(h: Harness) -> None:
    client = h.client(lambda r: h.sse_response([chunk("Par")], fail_after=httpx.ReadError("reset")))
    stream = await h.call(client, "stream", "hi", model="m/x")
    with pytest.raises(q.APIConnectionError) as info:
        await h.call(stream, "completion")
    assert info.value.partial_text == "Par"
    assert h.ledger.records[0].status == "connection_error"


async def test_server_hanging_up_mid_stream_is_an_incomplete_stream(h: Harness) -> None:
    cut = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    client = h.client(lambda r: h.sse_response([chunk("Par")], fail_after=cut))
    stream = await h.call(client, "stream", "hi", model="m/x")
    with pytest.raises(q.IncompleteStreamError) as info:
        await h.call(stream, "completion")
    assert info.value.partial_text == "Par"
    assert h.ledger.records[0].status == "truncated"


async def test_connection_lost_after_done_loses_nothing(h: Harness) -> None:
    events = [chunk("Paris."), chunk(None, "stop"), ev("[DONE]")]
    client = h.client(lambda r: h.sse_response(events, fail_after=httpx.ReadError("reset")))
    stream = await h.call(client, "stream", "hi", model="m/x")
    reply = await h.call(stream, "completion")
    assert reply.text == "Paris." and reply.usage is None and reply.finish_reason == "stop"
    assert h.ledger.records[0].status == "ok"


async def test_closing_a_stream_early_records_it_cancelled(h: Harness) -> None:
    client = h.client(lambda r: h.sse_response(QOLABA_STREAM))
    stream = await h.call(client, "stream", "hi", model="m/x")
    if h.mode == "sync":
        with stream:
            next(stream)
    else:
        async with stream:
            await anext(stream)
    assert stream.closed
    [rec] = h.ledger.records
    assert rec.status == "cancelled" and rec.completion_chars == 3
    reply = await h.call(stream, "completion")  # what arrived is kept
    assert reply.text == "Par" and reply.finish_reason is None


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": None}, "model"),
        ({"model": 42}, "model"),
        ({"model": "m/x", "temperature": 2.5}, "temperature"),
        ({"model": "m/x", "top_p": 1.5}, "top_p"),
        ({"model": "m/x", "max_tokens": 0}, "max_tokens"),
        ({"model": "m/x", "max_tokens": True}, "max_tokens"),
        ({"model": "m/x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "m/x", "temprature": 1}, "temprature"),
    ],
    ids=[
        "no-model",
        "model-not-str",
        "temperature",
        "top_p",
        "max_tokens-0",
        "max_tokens-bool",
        "stop-5",
        "typo",
    ],
)
@pytest.mark.parametrize("method", ["chat", "stream"])
async def test_invalid_requests_are_refused_before_sending(
    h: Harness, kwargs: dict[str, Any], param: str, method: str
) -> None:
    sent: list[httpx.Request] = []
    client = h.client(lambda r: sent.append(r) or httpx.Response(200, json=COMPLETION))
    with pytest.raises(q.ValidationError) as info:
        await h.call(client, method, "hi", **kwargs)
    assert info.value.param == param and isinstance(info.value, ValueError)
    assert sent == [] and h.ledger.records == []


@pytest.mark.parametrize(
    "messages",
    [
        [],
        {"role": "user", "content": "hi"},
        [{"role": "robot", "content": "hi"}],
        [{"role": "user"}],
    ],
    ids=["empty", "not-a-list", "bad-role", "no-content"],
)
async def test_invalid_messages_are_refused_before_sending(h: Harness, messages: Any) -> None:
    sent: list[httpx.Request] = []
    client = h.client(lambda r: sent.append(r) or httpx.Response(200, json=COMPLETION))
    with pytest.raises(q.ValidationError):
        await h.call(client, "chat", messages, model="m/x")
    assert sent == []


async def test_structured_and_tool_messages_are_sent_as_given(h: Harness) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=COMPLETION)

    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "look", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]
    client = h.client(handler)
    await h.call(
        client,
        "chat",
        messages,
        model="m/x",
        tool_choice="auto",
        stop="END",
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        top_p=0.9,
        max_tokens=50,
    )
    assert seen[0]["messages"] == messages
    assert (
        seen[0]["tool_choice"] == "auto"
        and seen[0]["stop"] == "END"
        and seen[0]["max_tokens"] == 50
    )


async def test_missing_api_key_is_a_clear_error_before_sending(
    h: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QOLABA_API_KEY", raising=False)
    sent: list[httpx.Request] = []
    cls = q.Client if h.mode == "sync" else q.AsyncClient
    client = cls(
        None,
        "http://qolaba.test",
        transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)),
        ledger=False,
    )
    with pytest.raises(q.ValidationError, match="QOLABA_API_KEY"):
        await h.call(client, "chat", "hi", model="m/x")
    assert sent == []


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, q.BadRequestError),
        (401, q.AuthenticationError),
        (403, q.PermissionDeniedError),
        (404, q.NotFoundError),
        (500, q.InternalServerError),
    ],
    ids=["400", "401", "403", "404", "500"],
)
async def test_error_statuses_map_to_typed_exceptions_without_retry(
    h: Harness, status: int, cls: type[q.APIStatusError]
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(
            status,
            json={"error": {"message": "nope", "type": "x"}},
            headers={"x-request-id": "req_e"},
        )

    client = h.client(handler)
    with pytest.raises(cls) as info:
        await h.call(client, "chat", "hi", model="m/x")
    assert info.value.status_code == status and info.value.message == "nope"
    assert info.value.request_id == "req_e"
    assert len(sent) == 1
    [rec] = h.ledger.records
    assert rec.status == "api_error" and rec.http_status == status and rec.credit is None


async def test_the_key_never_appears_in_errors_even_when_the_server_echoes_it(h: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"bad token {request.headers['authorization']}")

    client = h.client(handler)
    with pytest.raises(q.AuthenticationError) as info:
        await h.call(client, "chat", "hi", model="m/x")
    assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert KEY not in str(info.value.body)
    assert KEY not in h.ledger.records[0].error
    assert KEY not in repr(client) and KEY not in str(client)


async def test_429_is_retried_after_retry_after(h: Harness, no_backoff: list[float]) -> None:
    answers = [
        httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "2"}),
        httpx.Response(200, json=COMPLETION),
    ]
    client = h.client(lambda r: answers.pop(0))
    reply = await h.call(client, "chat", "hi", model="m/x")
    assert reply.text == "Paris."
    assert no_backoff == [2.0]
    assert h.ledger.records[0].retries == 1 and h.ledger.records[0].status == "ok"


async def test_retries_stop_after_max_retries(h: Harness, no_backoff: list[float]) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(502, text="<html><title>502 Bad Gateway</title></html>")

    client = h.client(handler, max_retries=2)
    with pytest.raises(q.UpstreamError, match="502 Bad Gateway"):
        await h.call(client, "chat", "hi", model="m/x")
    assert len(sent) == 3 and len(no_backoff) == 2
    assert h.ledger.records[0].retries == 2


async def test_rate_limit_error_carries_retry_after(h: Harness) -> None:
    client = h.client(
        lambda r: httpx.Response(
            429, json={"error": {"message": "rate"}}, headers={"retry-after": "1"}
        ),
        max_retries=0,
    )
    with pytest.raises(q.RateLimitError) as info:
        await h.call(client, "chat", "hi", model="m/x")
    assert info.value.retry_after == 1.0


async def test_connection_errors_are_retried_then_raised(
    h: Harness, no_backoff: list[float]
) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused")

    client = h.client(handler, max_retries=1)
    with pytest.raises(q.APIConnectionError):
        await h.call(client, "chat", "hi", model="m/x")
    assert len(calls) == 2
    assert h.ledger.records[0].status == "connection_error"


async def test_timeouts_raise_api_timeout_error(h: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    client = h.client(handler, max_retries=0)
    with pytest.raises(q.APITimeoutError):
        await h.call(client, "chat", "hi", model="m/x")


async def test_a_stream_is_never_retried_once_it_has_yielded(h: Harness) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return h.sse_response([chunk("Par")], fail_after=httpx.ReadError("reset"))

    client = h.client(handler, max_retries=3)
    stream = await h.call(client, "stream", "hi", model="m/x")
    with pytest.raises(q.APIConnectionError):
        await h.call(stream, "completion")
    assert len(sent) == 1


async def test_a_stream_that_fails_before_yielding_is_retried(h: Harness) -> None:
    answers = [httpx.Response(503, text="busy"), h.sse_response(QOLABA_STREAM)]
    client = h.client(lambda r: answers.pop(0))
    stream = await h.call(client, "stream", "hi", model="m/x")
    reply = await h.call(stream, "completion")
    assert reply.text == "Paris."


@pytest.mark.parametrize(
    "payload",
    [
        {
            "object": "list",
            "data": [
                {"id": "openai/gpt-4o", "owned_by": "openai"},
                {"id": "google/gemini-2.5-flash"},
            ],
        },
        [{"id": "openai/gpt-4o"}, "google/gemini-2.5-flash"],
        {"models": [{"id": "openai/gpt-4o"}, {"id": "google/gemini-2.5-flash"}]},
    ],
    ids=["openai-shape", "bare-list", "models-key"],
)
async def test_list_models_accepts_every_shape(h: Harness, payload: Any) -> None:
    client = h.client(lambda r: httpx.Response(200, json=payload))
    models = await h.call(client, "list_models")
    assert [m.id for m in models] == ["openai/gpt-4o", "google/gemini-2.5-flash"]


async def test_list_models_falls_back_to_the_other_path_on_404(h: Harness) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path == "/api/v1/chat/models":
            return httpx.Response(404, json={"error": {"message": "no route"}})
        return httpx.Response(200, json={"data": [{"id": "openai/gpt-4o"}]})

    client = h.client(handler)
    assert [m.id for m in await h.call(client, "list_models")] == ["openai/gpt-4o"]
    assert paths == ["/api/v1/chat/models", "/v1/chat/models"]


async def test_get_model_keeps_the_slash_and_the_base_url_prefix(h: Harness) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"id": "openai/gpt-4o", "object": "model"})

    cls = q.Client if h.mode == "sync" else q.AsyncClient
    client = cls(
        KEY, "http://qolaba.test/proxy/", transport=httpx.MockTransport(handler), ledger=False
    )
    model = await h.call(client, "get_model", "openai/gpt-4o")
    assert model.id == "openai/gpt-4o"
    assert paths == ["/proxy/api/v1/chat/models/openai/gpt-4o"]


async def test_get_model_unknown_raises_not_found(h: Harness) -> None:
    client = h.client(lambda r: httpx.Response(404, json={"error": {"message": "model not found"}}))
    with pytest.raises(q.NotFoundError, match="model not found"):
        await h.call(client, "get_model", "nope/nope")


async def test_budget_refuses_the_call_whose_reservation_does_not_fit(h: Harness) -> None:
    sent: list[httpx.Request] = []
    client = h.client(
        lambda r: sent.append(r) or httpx.Response(200, json=COMPLETION),
        budget_credits=0.5,
        reserve_credits=0.25,
    )
    await h.call(client, "chat", "hi", model="m/x")
    await h.call(client, "chat", "hi", model="m/x")
    with pytest.raises(q.BudgetExceededError, match=r"Client budget of 0\.5 credits: 0\.5 spent"):
        await h.call(client, "chat", "hi", model="m/x")
    assert client.spent_credit == 0.5 and len(sent) == 2
    # A call that reserves nothing still fits in nothing; the budget is exactly spent.
    assert client.budget.remaining == 0 and client.budget.reserved == 0


async def test_custom_headers_are_sent_but_cannot_replace_the_key(h: Harness) -> None:
    seen: list[httpx.Request] = []
    client = h.client(
        lambda r: seen.append(r) or httpx.Response(200, json=COMPLETION),
        headers={"X-Trace": "t1", "Authorization": "Bearer other"},
    )
    await h.call(client, "chat", "hi", model="m/x")
    assert seen[0].headers["x-trace"] == "t1"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


async def test_tag_and_run_id_reach_the_ledger(h: Harness) -> None:
    client = h.client(lambda r: httpx.Response(200, json=COMPLETION), tag="client-tag")
    await h.call(client, "chat", "hi", model="m/x")
    await h.call(client, "chat", "hi", model="m/x", tag="call-tag", run_id="run-1")
    assert [(r.tag, r.run_id) for r in h.ledger.records] == [
        ("client-tag", None),
        ("call-tag", "run-1"),
    ]


async def test_clients_are_context_managers(h: Harness) -> None:
    client = h.client(lambda r: httpx.Response(200, json=COMPLETION))
    if h.mode == "sync":
        with client as c:
            assert c is client
        assert client._http.is_closed
    else:
        async with client as c:
            assert c is client
        assert client._http.is_closed
