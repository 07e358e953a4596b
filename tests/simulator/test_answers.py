"""What the models say: determinism, sampling parameters, truncation, tools, images, price."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qolaba_nb.simulator import MODELS
from qolaba_nb.simulator._app import Knobs, build_answer, validate
from qolaba_nb.simulator._text import SIMULATED_NOTICE

from .conftest import CHAT, ask, sse_events, text_of

# Prompts without a written answer (see test_tutor.py for those): the sampled prose.
PROMPTS = [
    "What is the capital of Peru?",
    "Explain photosynthesis to a child",
    "Write a haiku about autumn leaves",
    "How do vaccines train the immune system?",
    "Compare Python and Rust for web servers",
    "Why is the sky blue during the day?",
]


def _direct_text(**body: Any) -> str:
    """The answer text without HTTP, for tests that need many samples."""
    chat = validate({"model": "openai/gpt-4o", **body})
    knobs = Knobs(latency_s=None, ttft_s=None, chunk_delay_s=None, chunks=None, speed=0)
    text = build_answer(chat, knobs).text
    assert text is not None
    return text


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_same_inputs_same_bytes(client: httpx.Client) -> None:
    first = ask(client, temperature=0.7, top_p=0.9, presence_penalty=0.5)
    second = ask(client, temperature=0.7, top_p=0.9, presence_penalty=0.5)
    assert first.json()["choices"] == second.json()["choices"]
    assert first.json()["usage"] == second.json()["usage"]


@given(
    prompt=st.text(min_size=1, max_size=80),
    temperature=st.floats(0, 2),
    top_p=st.floats(0, 1),
)
@settings(max_examples=40, deadline=None)
def test_deterministic_for_any_input(prompt: str, temperature: float, top_p: float) -> None:
    body = {"messages": _user(prompt), "temperature": temperature, "top_p": top_p}
    assert _direct_text(**body) == _direct_text(**body)


def test_inputs_change_the_answer() -> None:
    base = {"messages": _user("Tell me about volcanoes")}
    texts = {
        _direct_text(**base),
        _direct_text(**base, temperature=0.5),
        _direct_text(**base, top_p=0.5),
        _direct_text(**base, frequency_penalty=1),
        _direct_text(messages=_user("Tell me about mountains")),
    }
    assert len(texts) == 5


def test_omitted_temperature_means_one() -> None:
    messages = _user("Tell me about rivers")
    assert _direct_text(messages=messages) == _direct_text(messages=messages, temperature=1)


def test_models_differ(client: httpx.Client) -> None:
    texts = {text_of(ask(client, model=m)) for m in ("openai/gpt-4o", "deepseek/deepseek-chat")}
    assert len(texts) == 2


@pytest.mark.parametrize("prompt", PROMPTS)
def test_answer_mentions_the_topic(prompt: str) -> None:
    text = _direct_text(messages=_user(prompt))
    first_words = prompt.split()[:3]
    assert text.startswith(SIMULATED_NOTICE + "About ")  # it says plainly what it is
    assert " ".join(first_words[1:]) in text
    assert 150 <= len(text) - len(SIMULATED_NOTICE) <= 800


def test_temperature_zero_is_plain() -> None:
    text = _direct_text(messages=_user("Tell me about mountains"), temperature=0)
    assert "Paradoxically" not in text and "Ostensibly" not in text
    # Greedy decoding walks down each word list in order, so it starts with the commonest.
    assert text.startswith(
        SIMULATED_NOTICE + "About tell me about mountains: The main idea depends on"
    )


def _vocabulary(temperature: float) -> int:
    words: set[str] = set()
    for prompt in PROMPTS:
        words |= set(
            re.findall(
                r"[a-z-]+", _direct_text(messages=_user(prompt), temperature=temperature).lower()
            )
        )
    return len(words)


def test_higher_temperature_more_variety() -> None:
    assert _vocabulary(0.2) < _vocabulary(1.0) < _vocabulary(2.0)


def _repeated_sentence_parts(**sampling: float) -> int:
    repeats = 0
    for prompt in PROMPTS:
        text = _direct_text(messages=_user(prompt), **sampling)
        sentences = [s.split(" ", 1)[-1] for s in text.split(". ")[1:]]
        words = " ".join(sentences).lower().split()
        bigrams = list(itertools.pairwise(words))
        repeats += len(bigrams) - len(set(bigrams))
    return repeats


@pytest.mark.parametrize("penalty", ["frequency_penalty", "presence_penalty"])
def test_penalties_reduce_repetition(penalty: str) -> None:
    plain = _repeated_sentence_parts(temperature=1.0)
    penalised = _repeated_sentence_parts(temperature=1.0, **{penalty: 2.0})
    assert penalised < plain


def test_max_tokens_truncates_with_length(client: httpx.Client) -> None:
    full = text_of(ask(client))
    response = ask(client, max_tokens=5)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == full[:20]
    assert response.json()["usage"]["total_credit"] < ask(client).json()["usage"]["total_credit"]


def test_max_tokens_larger_than_answer_changes_nothing(client: httpx.Client) -> None:
    assert ask(client, max_tokens=100_000).json()["choices"] == ask(client).json()["choices"]


def test_stop_cuts_before_the_sequence(client: httpx.Client) -> None:
    full = text_of(ask(client))
    stop = full.split()[5]
    choice = ask(client, stop=["zzz-never", stop]).json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"] == full[: full.index(stop)]
    assert stop not in choice["message"]["content"]


def test_stop_and_max_tokens_earliest_wins(client: httpx.Client) -> None:
    full = text_of(ask(client))
    late_stop = full[100:110]
    choice = ask(client, stop=late_stop, max_tokens=3).json()["choices"][0]
    assert (choice["finish_reason"], choice["message"]["content"]) == ("length", full[:12])


def test_credit_grows_with_length_and_cost_follows_rate(client: httpx.Client) -> None:
    rate = {m.id: m.usd_per_credit for m in MODELS}["openai/gpt-4o"]
    usages = [ask(client, max_tokens=n).json()["usage"] for n in (1, 10, 50)]
    credits = [u["total_credit"] for u in usages]
    assert credits == sorted(credits) and len(set(credits)) == 3
    for usage in usages:
        assert usage["total_cost"] == round(usage["total_credit"] * rate, 6)


def test_image_parts_are_seen(client: httpx.Client) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    one = text_of(ask(client, [{"type": "text", "text": "What is in this picture?"}, image]))
    assert one.startswith(SIMULATED_NOTICE + "About what is in this picture: I see 1 image.")
    two = text_of(ask(client, [{"type": "text", "text": "Compare these"}, image, image]))
    assert "I see 2 images." in two


def test_echo_is_verbatim_even_for_parts(client: httpx.Client) -> None:
    assert (
        text_of(ask(client, "  exact <b>text</b>\n", model="sim/echo")) == "  exact <b>text</b>\n"
    )
    parts = [{"type": "text", "text": "from parts"}]
    assert text_of(ask(client, parts, model="sim/echo")) == "from parts"


def test_xss_model_serves_hostile_html_and_markdown(client: httpx.Client) -> None:
    text = text_of(ask(client, model="sim/xss"))
    assert "<script>alert(1)</script>" in text
    assert '<img src=x onerror="window.__xss=1">' in text
    assert "\n# " in "\n" + text  # heading
    assert "\n- " in text  # list
    assert "| --- " in text or "| ------ |" in text  # table
    assert "```python" in text  # fenced code


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Current time in a timezone",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather forecast for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "metric": {"type": "boolean"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
]


def test_tool_call_picks_matching_tool(client: httpx.Client) -> None:
    body = ask(client, "What's the weather like in Paris?", tools=TOOLS).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    [call] = message["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    assert args == {"city": "Paris", "days": 1, "metric": True, "unit": "celsius"}
    assert body["usage"]["total_credit"] > 0


def test_tool_call_falls_back_to_first_tool(client: httpx.Client) -> None:
    message = ask(client, "Sing me something", tools=TOOLS).json()["choices"][0]["message"]
    assert message["tool_calls"][0]["function"]["name"] == "get_time"


def test_tool_choice_none_answers_in_text(client: httpx.Client) -> None:
    choice = ask(client, "Weather in Paris?", tools=TOOLS, tool_choice="none").json()["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


def test_tool_choice_can_force_a_function(client: httpx.Client) -> None:
    forced = {"type": "function", "function": {"name": "get_time"}}
    message = ask(client, "Weather in Paris?", tools=TOOLS, tool_choice=forced).json()
    assert message["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"


def test_streamed_tool_call_comes_in_fragments(client: httpx.Client) -> None:
    json_call = ask(client, "Weather in Paris?", tools=TOOLS).json()["choices"][0]["message"]
    response = ask(client, "Weather in Paris?", tools=TOOLS, stream=True)
    events = sse_events(response.text)
    chunks = [e for e in events if isinstance(e, dict) and "choices" in e]
    fragments = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert len(fragments) > 2
    first, rest = fragments[0], fragments[1:]
    assert first["index"] == 0 and first["id"].startswith("call_")
    assert first["type"] == "function" and first["function"]["name"] == "get_weather"
    assert all(set(f) == {"index", "function"} for f in rest)
    assert all(set(f["function"]) == {"arguments"} for f in rest)
    arguments = "".join(f["function"]["arguments"] for f in fragments)
    assert arguments == json_call["tool_calls"][0]["function"]["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-2] == "[DONE]" and "usage" in events[-1]


def test_invalid_tools_are_400(client: httpx.Client) -> None:
    response = ask(client, tools=[{"type": "function", "function": {}}])
    assert response.status_code == 400 and response.json()["error"]["param"] == "tools"
    response = client.post(
        CHAT,
        json={
            "model": "openai/gpt-4o",
            "messages": _user("x"),
            "tools": TOOLS,
            "tool_choice": "maybe",
        },
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "tool_choice"
