"""Routes, authentication, validation and error bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from qolaba_nb.simulator import DEFAULT_API_KEY, MODELS, Simulator

from .conftest import CHAT, ask, text_of

PREFIXES = ["/v1", "/api/v1"]


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"].startswith("req_")
    error: dict[str, Any] = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize("prefix", PREFIXES)
def test_list_models(client: httpx.Client, prefix: str) -> None:
    body = client.get(f"{prefix}/chat/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == [m.id for m in MODELS]
    assert {"openai/gpt-4o", "google/gemini-2.5-flash", "sim/flaky", "sim/echo"} <= set(ids)
    for card in body["data"]:
        assert card["object"] == "model"
        assert isinstance(card["owned_by"], str) and isinstance(card["created"], int)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_retrieve_model_with_slash_in_id(client: httpx.Client, prefix: str) -> None:
    card = client.get(f"{prefix}/chat/models/meta-llama/llama-3.1-70b-instruct").json()
    assert card["id"] == "meta-llama/llama-3.1-70b-instruct"
    assert card["object"] == "model"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_retrieve_unknown_model_is_404(client: httpx.Client, prefix: str) -> None:
    error = _error(client.get(f"{prefix}/chat/models/nobody/nothing"), 404)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "model_not_found"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_completions_under_both_prefixes(client: httpx.Client, prefix: str) -> None:
    response = client.post(
        f"{prefix}/chat/completions",
        json={"model": "sim/echo", "messages": [{"role": "user", "content": "ping"}]},
    )
    assert text_of(response) == "ping"


def test_response_shape_matches_reference(client: httpx.Client) -> None:
    response = ask(client, model="google/gemini-2.5-flash")
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["model"] == "google/gemini-2.5-flash"
    [choice] = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    usage = body["usage"]
    assert usage["breakdown"]["model"] == {
        "model": "google/gemini-2.5-flash",
        "credit": usage["total_credit"],
        "cost": usage["total_cost"],
    }
    assert usage["total_credit"] > 0 and usage["total_cost"] > 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/chat/models"), ("GET", "/api/v1/chat/models/openai/gpt-4o"), ("POST", CHAT)],
)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic abc", "Bearer"])
def test_bad_or_missing_key_is_401(
    sim: Simulator, method: str, path: str, auth: str | None
) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    response = httpx.request(
        method,
        sim.base_url + path,
        headers=headers,
        json={"model": "sim/echo", "messages": [{"role": "user", "content": "x"}]},
    )
    error = _error(response, 401)
    assert error["type"] == "authentication_error"
    assert error["code"] == "invalid_api_key"
    assert "wrong-key" not in response.text


def test_key_never_logged_or_echoed(sim: Simulator, client: httpx.Client) -> None:
    response = ask(client, model="sim/echo", content="hello")
    assert DEFAULT_API_KEY not in response.text
    assert DEFAULT_API_KEY not in repr(sim.requests_log)
    entry = sim.requests_log[-1]
    assert entry["method"] == "POST" and entry["path"] == CHAT
    assert entry["json"]["messages"][0]["content"] == "hello"
    assert "authorization" not in entry["headers"]
    assert entry["status"] == 200


def test_extra_keys_are_accepted() -> None:
    with Simulator(speed=0, api_keys=["second-key"]) as sim:
        for key in (sim.api_key, "second-key"):
            response = httpx.get(
                sim.base_url + "/v1/chat/models", headers={"Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 200


_MSG = [{"role": "user", "content": "hi"}]

BAD_BODIES = [
    ({"messages": _MSG}, "model"),
    ({"model": 42, "messages": _MSG}, "model"),
    ({"model": "openai/gpt-4o"}, "messages"),
    ({"model": "openai/gpt-4o", "messages": "hi"}, "messages"),
    ({"model": "openai/gpt-4o", "messages": {"role": "user"}}, "messages"),
    ({"model": "openai/gpt-4o", "messages": []}, "messages"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "temperature": -0.1}, "temperature"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "temperature": 2.01}, "temperature"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "temperature": "hot"}, "temperature"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "top_p": -0.5}, "top_p"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "top_p": 1.5}, "top_p"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "max_tokens": 0}, "max_tokens"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "max_tokens": -3}, "max_tokens"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "max_tokens": 2.5}, "max_tokens"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "max_tokens": "10"}, "max_tokens"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "max_tokens": True}, "max_tokens"),
    ({"model": "openai/gpt-4o", "messages": _MSG, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
]


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
def test_documented_400s(client: httpx.Client, body: dict[str, Any], param: str) -> None:
    error = _error(client.post(CHAT, json=body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert "code" in error


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": 0},
        {"temperature": 2},
        {"top_p": 0},
        {"top_p": 1},
        {"max_tokens": 1},
        {"stop": ["a", "b", "c", "d"]},
        {"stop": "x"},
    ],
)
def test_boundaries_are_accepted(client: httpx.Client, extra: dict[str, Any]) -> None:
    assert ask(client, **extra).status_code == 200


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post(
        CHAT, content=b'{"model": "openai/gpt-4o", ', headers={"Content-Type": "application/json"}
    )
    assert _error(response, 400)["code"] == "invalid_json"


def test_body_must_be_an_object(client: httpx.Client) -> None:
    _error(client.post(CHAT, json=["not", "an", "object"]), 400)


def test_unknown_model_in_completions_is_404(client: httpx.Client) -> None:
    error = _error(ask(client, model="openai/gpt-7"), 404)
    assert error["param"] == "model" and error["code"] == "model_not_found"


def test_unknown_route_has_error_body(client: httpx.Client) -> None:
    _error(client.get("/api/v2/anything"), 404)
    _error(client.get(CHAT), 405)


def test_bad_knob_header_is_400(client: httpx.Client) -> None:
    for name, value in [("x-sim-chunks", "lots"), ("x-sim-latency", "-1")]:
        response = client.post(
            CHAT,
            headers={name: value},
            json={"model": "sim/echo", "messages": _MSG},
        )
        assert _error(response, 400)["param"] == name


def test_roles_and_assistant_tool_calls_are_accepted(client: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    response = client.post(CHAT, json={"model": "openai/gpt-4o", "messages": messages})
    assert text_of(response).startswith("The tool returned sunny, 21 C.")


def test_bad_role_is_400(client: httpx.Client) -> None:
    response = client.post(
        CHAT, json={"model": "openai/gpt-4o", "messages": [{"role": "robot", "content": "x"}]}
    )
    assert _error(response, 400)["param"] == "messages[0].role"
