"""parse_models, parse_completion, Usage: defensive parsing of the shapes the reference allows."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from qolaba_nb._models import (
    Model,
    Usage,
    content_text,
    parse_completion,
    parse_model,
    parse_models,
)

# The reference's non-streaming example, verbatim.
REFERENCE_COMPLETION = json.loads(
    """
{
  "id": "chatcmpl-4dd9fded095b4d86bceed1e91042a",
  "object": "chat.completion",
  "created": 1774095579,
  "model": "google/gemini-2.5-flash",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Paris."
      },
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "total_credit": 0.25,
    "total_cost": 0.0012441,
    "breakdown": {
      "model": {
        "model": "google/gemini-2.5-flash",
        "credit": 0.25,
        "cost": 0.001244
      }
    }
  }
}
"""
)

IDS = ["openai/gpt-4o", "google/gemini-2.5-flash"]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "list", "data": [{"id": IDS[0], "owned_by": "openai"}, {"id": IDS[1]}]},
        [{"id": IDS[0]}, {"id": IDS[1]}],
        {"models": [{"id": IDS[0]}, {"id": IDS[1]}]},
        {"data": IDS},
        IDS,
        {"models": [{"model": IDS[0]}, {"name": IDS[1]}]},
        {"data": [{"id": IDS[0]}, 7, None, {"no": "id"}, {"id": 5}, IDS[1]]},
    ],
    ids=["openai-data", "bare-list", "models-key", "strings", "bare-strings", "alt-keys", "junk"],
)
def test_parse_models_accepts_every_documented_shape(payload: Any) -> None:
    assert [m.id for m in parse_models(payload)] == IDS


@pytest.mark.parametrize(
    "payload",
    [None, "garbage", 42, {}, {"data": None}, {"data": "x"}, {"error": "nope"}, []],
    ids=["none", "string", "int", "empty-dict", "data-none", "data-string", "error", "empty"],
)
def test_parse_models_garbage_gives_empty_list(payload: Any) -> None:
    assert parse_models(payload) == []


def test_model_fields_and_provider() -> None:
    [first, second] = parse_models(
        {"data": [{"id": IDS[0], "owned_by": "openai", "created": 1700000000}, {"id": IDS[1]}]}
    )
    assert (first.owned_by, first.created, first.provider) == ("openai", 1700000000, "openai")
    assert (second.owned_by, second.created, second.provider) == (None, None, "google")
    assert Model(id="plain").provider == ""


def test_bool_created_is_not_a_timestamp() -> None:
    assert parse_models([{"id": "a/b", "created": True}])[0].created is None


@pytest.mark.parametrize(
    "payload",
    [{"id": IDS[0]}, {"data": {"id": IDS[0]}}, IDS[0]],
    ids=["object", "wrapped", "string"],
)
def test_parse_model_single(payload: Any) -> None:
    model = parse_model(payload)
    assert model is not None and model.id == IDS[0]


def test_parse_model_garbage_gives_none() -> None:
    assert parse_model({"error": "not found"}) is None


# --------------------------------------------------------------------------- completion


def test_parse_completion_on_the_reference_example() -> None:
    done = parse_completion(REFERENCE_COMPLETION, request_id="req-1", latency_s=0.5)
    assert done.text == "Paris."
    assert done.finish_reason == "stop"
    assert done.id == "chatcmpl-4dd9fded095b4d86bceed1e91042a"
    assert done.model == "google/gemini-2.5-flash"
    assert done.message == {"role": "assistant", "content": "Paris."}
    assert done.tool_calls == []
    assert (done.request_id, done.latency_s) == ("req-1", 0.5)
    assert done.usage is not None
    assert done.usage.credit == 0.25
    # total_cost, not the breakdown's 0.001244
    assert done.usage.cost == 0.0012441
    assert done.cost == 0.0012441 and done.credit == 0.25
    assert done.usage.breakdown["model"]["cost"] == 0.001244
    assert done.raw == REFERENCE_COMPLETION


def test_parse_completion_without_usage_has_usage_none() -> None:
    payload = copy.deepcopy(REFERENCE_COMPLETION)
    del payload["usage"]
    done = parse_completion(payload)
    assert done.usage is None
    assert done.credit is None and done.cost is None


@pytest.mark.parametrize("usage", [None, {}, "free", 0], ids=["null", "empty", "string", "zero"])
def test_parse_completion_with_empty_usage_has_usage_none(usage: Any) -> None:
    assert parse_completion({**REFERENCE_COMPLETION, "usage": usage}).usage is None


@pytest.mark.parametrize(
    "payload",
    [None, [], "x", {}, {"choices": []}, {"choices": [None]}, {"choices": [{"message": "hi"}]}],
    ids=["none", "list", "string", "empty", "no-choices", "null-choice", "string-message"],
)
def test_parse_completion_never_crashes(payload: Any) -> None:
    done = parse_completion(payload)
    assert (done.text, done.finish_reason, done.usage, done.tool_calls) == ("", None, None, [])


def test_parse_completion_with_tool_calls_and_null_content() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    done = parse_completion(
        {
            "choices": [
                {
                    "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    assert (done.text, done.tool_calls, done.finish_reason) == ("", [call], "tool_calls")


def test_content_text_joins_text_parts() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {}}, {"text": "b"}]
    assert content_text(parts) == "ab"
    assert content_text(None) == ""


# --------------------------------------------------------------------------- usage


def test_usage_from_raw_with_string_numbers() -> None:
    usage = Usage.from_raw({"total_credit": "0.25", "total_cost": "0.0012441"})
    assert usage is not None
    assert (usage.credit, usage.cost) == (0.25, 0.0012441)
    assert usage.has_credit


def test_usage_from_raw_with_int_and_alternative_names() -> None:
    usage = Usage.from_raw({"credit": 2, "cost": "1e-3"})
    assert usage is not None and (usage.credit, usage.cost) == (2.0, 0.001)


@pytest.mark.parametrize(
    "raw",
    [
        {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        {"total_credit": "lots", "total_cost": None},
        {"total_credit": True},
    ],
    ids=["tokens-only", "unparseable", "bool"],
)
def test_usage_without_credit_fields_has_credit_none(raw: dict[str, Any]) -> None:
    usage = Usage.from_raw(raw)
    assert usage is not None
    assert (usage.credit, usage.cost, usage.has_credit) == (None, None, False)
    assert usage.raw == raw


@pytest.mark.parametrize(
    "raw", [None, {}, [], "0.25", 0.25], ids=["none", "empty", "list", "str", "num"]
)
def test_usage_from_non_mapping_is_none(raw: Any) -> None:
    assert Usage.from_raw(raw) is None


def test_zero_credit_usage_is_kept_as_zero() -> None:
    usage = Usage.from_raw({"total_credit": 0, "total_cost": 0})
    assert usage is not None and (usage.credit, usage.cost, usage.has_credit) == (0.0, 0.0, True)
