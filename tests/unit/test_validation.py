"""build_chat_body: every documented 400 is caught before sending; valid input passes through."""

from __future__ import annotations

from typing import Any

import pytest

from qolaba_nb._exceptions import QolabaError, ValidationError
from qolaba_nb._models import build_chat_body

MODEL = "google/gemini-2.5-flash"
USER = [{"role": "user", "content": "What is the capital of France?"}]


def body(
    messages: Any = USER, *, model: Any = MODEL, stream: bool = False, **params: Any
) -> dict[str, Any]:
    return build_chat_body(messages, model=model, stream=stream, params=params)


def rejects(param: str, messages: Any = USER, *, model: Any = MODEL, **params: Any) -> str:
    with pytest.raises(ValidationError) as info:
        body(messages, model=model, **params)
    assert info.value.param == param
    return str(info.value)


def test_validation_error_is_a_value_error_and_a_qolaba_error() -> None:
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ValidationError, QolabaError)
    with pytest.raises(ValueError):
        body(temperature=3)


# --------------------------------------------------------------------------- model


@pytest.mark.parametrize(
    "model", [None, "", 42, ["openai/gpt-4o"]], ids=["none", "empty", "int", "list"]
)
def test_model_missing_or_not_a_string(model: Any) -> None:
    rejects("model", model=model)


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    "messages",
    [None, {"role": "user", "content": "hi"}, 7, [], "", ("not", "dicts")],
    ids=["missing", "dict", "int", "empty-list", "empty-string", "list-of-strings"],
)
def test_messages_missing_not_a_list_or_empty(messages: Any) -> None:
    with pytest.raises(ValidationError) as info:
        body(messages)
    assert info.value.param is not None and info.value.param.startswith("messages")


def test_message_that_is_not_a_dict_names_its_index() -> None:
    rejects("messages[1]", [USER[0], "hello"])


@pytest.mark.parametrize(
    "role",
    ["developer", "bot", "", None, "User"],
    ids=["developer", "bot", "empty", "none", "case"],
)
def test_role_outside_system_user_assistant_tool(role: Any) -> None:
    rejects("messages[0].role", [{"role": role, "content": "hi"}])


def test_message_without_role() -> None:
    rejects("messages[0].role", [{"content": "hi"}])


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "user"}, "messages[0].content"),
        ({"role": "user", "content": None}, "messages[0].content"),
        ({"role": "assistant", "content": None}, "messages[0].content"),
        ({"role": "user", "content": 5}, "messages[0].content"),
        ({"role": "user", "content": {"type": "text", "text": "x"}}, "messages[0].content"),
        ({"role": "user", "content": [{"type": "text"}]}, "messages[0].content[0]"),
        ({"role": "user", "content": [{"type": "text", "text": 3}]}, "messages[0].content[0]"),
        ({"role": "user", "content": [{"type": "image_url"}]}, "messages[0].content[0]"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {}}]},
            "messages[0].content[0]",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": ""}}]},
            "messages[0].content[0]",
        ),
        ({"role": "user", "content": ["plain string part"]}, "messages[0].content[0]"),
        ({"role": "user", "content": [{"text": "no type"}]}, "messages[0].content[0]"),
    ],
    ids=[
        "no-content",
        "user-content-none",
        "assistant-none-without-tool-calls",
        "int-content",
        "dict-content",
        "text-part-without-text",
        "text-part-non-string",
        "image-part-without-image-url",
        "image-part-without-url",
        "image-part-empty-url",
        "string-part",
        "part-without-type",
    ],
)
def test_bad_content(message: dict[str, Any], param: str) -> None:
    rejects(param, [message])


# --------------------------------------------------------------------------- sampling params


@pytest.mark.parametrize(
    "value",
    [-0.1, 2.01, "1", True, False, float("nan"), float("inf"), [1]],
    ids=["below-0", "above-2", "string", "true", "false", "nan", "inf", "list"],
)
def test_temperature_outside_0_2_or_not_a_number(value: Any) -> None:
    rejects("temperature", temperature=value)


@pytest.mark.parametrize("value", [0, 0.0, 1, 2, 2.0, 0.7], ids=str)
def test_temperature_in_range_is_kept(value: float) -> None:
    assert body(temperature=value)["temperature"] == value


@pytest.mark.parametrize(
    "value", [-0.01, 1.01, 2, "0.5", True], ids=["below-0", "above-1", "two", "string", "bool"]
)
def test_top_p_outside_0_1(value: Any) -> None:
    rejects("top_p", top_p=value)


@pytest.mark.parametrize("value", [0, 0.5, 1], ids=str)
def test_top_p_in_range_is_kept(value: float) -> None:
    assert body(top_p=value)["top_p"] == value


@pytest.mark.parametrize(
    "value",
    [0, -1, 1.5, 10.0, "10", True],
    ids=["zero", "negative", "float", "float-int", "str", "bool"],
)
def test_max_tokens_not_a_positive_integer(value: Any) -> None:
    rejects("max_tokens", max_tokens=value)


def test_max_tokens_positive_integer_is_kept() -> None:
    assert body(max_tokens=1)["max_tokens"] == 1


@pytest.mark.parametrize("name", ["frequency_penalty", "presence_penalty"])
@pytest.mark.parametrize("value", ["0.5", True, float("nan")], ids=["str", "bool", "nan"])
def test_penalties_must_be_numbers(name: str, value: Any) -> None:
    rejects(name, **{name: value})


def test_none_valued_params_are_left_out() -> None:
    assert body(temperature=None, max_tokens=None) == {"model": MODEL, "messages": USER}


# --------------------------------------------------------------------------- stop


def test_more_than_four_stop_sequences() -> None:
    assert "at most 4" in rejects("stop", stop=["a", "b", "c", "d", "e"])


@pytest.mark.parametrize(
    ("stop", "sent"),
    [(["a", "b", "c", "d"], ["a", "b", "c", "d"]), ("END", "END"), (("x", "y"), ["x", "y"])],
    ids=["exactly-four", "single-string", "tuple"],
)
def test_up_to_four_stop_sequences_or_one_string_accepted(stop: Any, sent: Any) -> None:
    assert body(stop=stop)["stop"] == sent


@pytest.mark.parametrize("stop", [[1, 2], 5, {"a": 1}], ids=["ints", "int", "dict"])
def test_stop_must_be_strings(stop: Any) -> None:
    rejects("stop", stop=stop)


# --------------------------------------------------------------------------- accepted shapes


def test_a_string_becomes_one_user_message() -> None:
    assert body("hello")["messages"] == [{"role": "user", "content": "hello"}]


def test_structured_content_with_text_and_image_parts() -> None:
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
    ]
    assert body([{"role": "user", "content": content}])["messages"][0]["content"] == content


def test_tool_conversation_is_accepted() -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}},
        }
    ]
    sent = body(messages, tools=tools, tool_choice="auto")
    assert sent["messages"] == messages
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "auto"


@pytest.mark.parametrize(
    "choice",
    ["none", "auto", {"type": "function", "function": {"name": "f"}}],
    ids=["none", "auto", "named"],
)
def test_tool_choice_accepted(choice: Any) -> None:
    assert body(tool_choice=choice)["tool_choice"] == choice


@pytest.mark.parametrize("choice", ["always", 1, ["auto"]], ids=["word", "int", "list"])
def test_tool_choice_rejected(choice: Any) -> None:
    rejects("tool_choice", tool_choice=choice)


@pytest.mark.parametrize(
    "tools",
    ["get_weather", [{"type": "function"}], [{"function": {"name": 1}}], [None]],
    ids=["string", "no-function", "name-not-string", "none-item"],
)
def test_malformed_tools_rejected(tools: Any) -> None:
    with pytest.raises(ValidationError) as info:
        body(tools=tools)
    assert info.value.param is not None and info.value.param.startswith("tools")


def test_stream_false_sends_no_stream_fields() -> None:
    sent = body()
    assert sent == {"model": MODEL, "messages": USER}


def test_stream_true_adds_stream_and_include_usage() -> None:
    sent = body(stream=True)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


def test_explicit_stream_options_are_kept() -> None:
    sent = body(stream=True, stream_options={"include_usage": False})
    assert sent["stream_options"] == {"include_usage": False}


def test_stream_options_must_be_a_dict() -> None:
    rejects("stream_options", stream_options=True)


def test_unknown_parameter_gets_a_did_you_mean_hint() -> None:
    message = rejects("temprature", temprature=0.5)
    assert "did you mean 'temperature'" in message


def test_unknown_parameter_without_close_match_lists_known_ones() -> None:
    assert "known:" in rejects("zzzzzz", zzzzzz=1)


def test_extra_body_is_merged() -> None:
    sent = body(temperature=0.2, extra_body={"seed": 7, "provider": {"order": ["a"]}})
    assert sent["seed"] == 7
    assert sent["provider"] == {"order": ["a"]}
    assert sent["temperature"] == 0.2
    assert "extra_body" not in sent


def test_input_messages_are_copied_not_mutated() -> None:
    messages = [{"role": "user", "content": "hi"}]
    sent = body(messages, extra_body={"x": 1})
    sent["messages"][0]["content"] = "changed"
    assert messages == [{"role": "user", "content": "hi"}]


def test_all_reference_params_together() -> None:
    params: dict[str, Any] = {
        "temperature": 1,
        "max_tokens": 256,
        "top_p": 0.9,
        "frequency_penalty": -2.0,
        "presence_penalty": 2.0,
        "stop": ["\n\n"],
    }
    assert body(**params) == {"model": MODEL, "messages": USER, **params}
