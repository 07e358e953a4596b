"""Bad input gets a ValidationError naming the argument, before anything is sent; an answer
that is not the API's gets one typed error naming what came."""

from __future__ import annotations

import gc
import math
import sys
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from tests.client.conftest import KEY, Harness

OK = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}


class Recorder:
    def __init__(self, response: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.response = response

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.response is not None:
            return self.response
        if "/models/" in request.url.path:
            return httpx.Response(200, json={"id": "openai/gpt-4o"})
        return httpx.Response(200, json=OK)


def make(h: Harness, rec: Recorder, **kw: Any) -> Any:
    return h.client(rec, **kw)


# ---------------------------------------------------------------- model ids stay in their segment


@pytest.mark.parametrize("model_id", ["../../v1/secret", "openai/../secret", "./x", "a//b", "a/"])
async def test_model_ids_cannot_climb_out_of_the_models_path(h: Harness, model_id: str) -> None:
    rec = Recorder()
    c = make(h, rec)
    with pytest.raises(q.ValidationError) as info:
        await h.call(c, "get_model", model_id)
    await h.close(c)
    assert info.value.param == "model_id" and rec.requests == []


@pytest.mark.parametrize(
    ("model_id", "path_end"),
    [
        ("x?admin=1", "/models/x%3Fadmin=1"),
        ("x#frag", "/models/x%23frag"),
        ("100%", "/models/100%25"),
        ("%2e%2e", "/models/%252e%252e"),
        ("openai/gpt-4o:free", "/models/openai/gpt-4o:free"),
    ],
)
async def test_model_ids_are_escaped_inside_their_segment(
    h: Harness, model_id: str, path_end: str
) -> None:
    rec = Recorder()
    c = make(h, rec)
    await h.call(c, "get_model", model_id)
    await h.close(c)
    url = rec.requests[0].url
    assert url.raw_path.decode().endswith(path_end) and url.query == b""
    assert url.raw_path.decode().startswith("/api/v1/chat/models/")


# ---------------------------------------------------------------- base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "qolaba.test",
        "ftp://qolaba.test",
        "http://",
        "http://qolaba.test/?a=1",
        "http://qolaba.test/api?",
        "http://qolaba.test#f",
        "http://qolaba.test:port",
        "http://qolaba .test",
        "http://qolaba.test/\n",
        42,
    ],
)
def test_a_bad_base_url_is_refused_when_the_client_is_made(base_url: Any) -> None:
    with pytest.raises(q.ValidationError) as info:
        q.Client(KEY, base_url, ledger=False)
    assert info.value.param == "base_url"


def test_credentials_in_the_base_url_are_masked_in_repr_and_errors() -> None:
    with q.Client(KEY, "https://alice:hunter2@proxy.test/base", ledger=False) as c:
        assert "hunter2" not in repr(c) and "alice" not in repr(c)
        assert "proxy.test/base" in repr(c)
    with pytest.raises(q.ValidationError) as info:
        q.Client(KEY, "ftp://alice:hunter2@proxy.test", ledger=False)
    assert "hunter2" not in str(info.value)


# ---------------------------------------------------------------- extra_body


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 9}, "extra_body['temperature']"),
        ({"messages": [{"role": "user", "content": "other"}]}, "extra_body['messages']"),
        ({"model": "other/model"}, "extra_body['model']"),
        ({"stream": False}, "extra_body['stream']"),
        ("seed=1", "extra_body"),
    ],
)
async def test_extra_body_cannot_replace_checked_fields(h: Harness, extra: Any, param: str) -> None:
    rec = Recorder()
    c = make(h, rec)
    with pytest.raises(q.ValidationError) as info:
        await h.call(c, "chat", "Hi", model="openai/gpt-4o", extra_body=extra)
    await h.close(c)
    assert info.value.param == param and rec.requests == [] and h.ledger.records == []


async def test_extra_body_still_adds_fields_the_client_does_not_know(h: Harness) -> None:
    rec = Recorder()
    c = make(h, rec)
    await h.call(c, "chat", "Hi", model="openai/gpt-4o", extra_body={"seed": 7})
    await h.close(c)
    assert b'"seed":7' in rec.requests[0].content


# ---------------------------------------------------------------- values JSON cannot carry

TOOL = {"type": "function", "function": {"name": "f", "parameters": {}}}


@pytest.mark.parametrize(
    ("messages", "params", "param"),
    [
        ("Hi", {"tools": [{**TOOL, "function": {"name": "f", "x": math.nan}}]}, "tools"),
        ("Hi", {"extra_body": {"seed": math.inf}}, "extra_body['seed']"),
        ("Hi", {"extra_body": {"ids": {1, 2}}}, "extra_body['ids']"),
        ("Hi", {"extra_body": {"meta": object()}}, "extra_body['meta']"),
        ("lone \ud800 surrogate", {}, "messages[0]"),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "\udfff"}],
            {},
            "messages[1]",
        ),
    ],
    ids=["nan-in-tools", "inf-in-extra", "set", "object", "surrogate", "surrogate-2nd"],
)
async def test_values_json_cannot_encode_are_refused_before_sending(
    h: Harness, messages: Any, params: dict[str, Any], param: str
) -> None:
    rec = Recorder()
    c = make(h, rec)
    with pytest.raises(q.ValidationError) as info:
        await h.call(c, "chat", messages, model="openai/gpt-4o", **params)
    await h.close(c)
    assert info.value.param == param and rec.requests == []
    assert "JSON" in str(info.value)


# ---------------------------------------------------------------- keys, headers, argument types


@pytest.mark.parametrize(
    ("kw", "param"),
    [
        ({"api_key": "sk-ключ-123"}, "api_key"),
        ({"api_key": "sk-café-123"}, "api_key"),
        ({"api_key": "sk-abc123\n"}, "api_key"),
        ({"api_key": "sk abc"}, "api_key"),
        ({"headers": {"X-Note": "a\r\nX-Admin: 1"}}, "headers['X-Note']"),
        ({"headers": {"X Note": "a"}}, "headers"),
        ({"headers": {"X-Retry": 3}}, "headers['X-Retry']"),
        ({"headers": [("X-A", "b")]}, "headers"),
        ({"timeout": "10"}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"budget_credits": "5"}, "budget_credits"),
        ({"budget_credits": math.nan}, "budget_credits"),
        ({"budget_credits": -1}, "budget_credits"),
        ({"ledger": "usage.db"}, "ledger"),
        ({"ledger": True}, "ledger"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
@pytest.mark.parametrize("cls", [q.Client, q.AsyncClient], ids=["sync", "async"])
def test_wrong_client_arguments_are_named(cls: Any, kw: dict[str, Any], param: str) -> None:
    kw = {"api_key": KEY, **kw}
    with pytest.raises(q.ValidationError) as info:
        cls(base_url="http://qolaba.test", **kw)
    assert info.value.param == param
    assert "ключ" not in str(info.value) and "café" not in str(info.value)  # never the key


# ---------------------------------------------------------------- answers that are not the API's

PORTAL = b"<!doctype html><html><head><title>Sign in to Hotel WiFi</title></head><body>...</body>"


@pytest.mark.parametrize("method", ["list_models", "get_model"])
async def test_a_200_that_is_not_json_is_a_response_validation_error(
    h: Harness, method: str
) -> None:
    rec = Recorder(httpx.Response(200, content=PORTAL, headers={"content-type": "text/html"}))
    c = make(h, rec)
    args = ("openai/gpt-4o",) if method == "get_model" else ()
    with pytest.raises(q.APIResponseValidationError) as info:
        await h.call(c, method, *args)
    await h.close(c)
    err = info.value
    assert isinstance(err, q.APIError)
    assert "text/html" in str(err) and "Sign in to Hotel WiFi" in str(err)
    assert err.content_type == "text/html" and err.body_start.startswith("<!doctype html>")


async def test_a_stream_answered_with_a_web_page_is_not_read_as_sse(h: Harness) -> None:
    rec = Recorder(
        httpx.Response(200, content=PORTAL, headers={"content-type": "text/html; charset=utf-8"})
    )
    c = make(h, rec)
    with pytest.raises(q.APIResponseValidationError) as info:
        await h.call(c, "stream", "Hi", model="openai/gpt-4o")
    await h.close(c)
    assert "text/html" in str(info.value) and "Hotel WiFi" in str(info.value)
    assert h.ledger.records[0].status == "api_error"
    assert "APIResponseValidationError" in h.ledger.records[0].error


async def test_a_chat_answered_with_text_is_a_response_validation_error(h: Harness) -> None:
    rec = Recorder(httpx.Response(200, text="upstream says hello"))
    c = make(h, rec)
    with pytest.raises(q.APIResponseValidationError, match="text/plain"):
        await h.call(c, "chat", "Hi", model="openai/gpt-4o")
    await h.close(c)


# ---------------------------------------------------------------- the dashboard


def test_dashboard_refuses_a_poll_interval_that_would_spin() -> None:
    from qolaba_nb.widgets import UsageDashboard

    for poll_s in (0, -1, math.nan, "2"):
        with pytest.raises(q.ValidationError) as info:
            UsageDashboard(poll_s=poll_s)  # type: ignore[arg-type]
        assert info.value.param == "poll_s"


def test_a_failing_dashboard_constructor_leaves_no_error_from_its_finaliser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qolaba_nb.widgets import UsageDashboard

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with pytest.raises(ValueError):
        UsageDashboard(plot="no such plot")
    gc.collect()
    assert unraisable == []
