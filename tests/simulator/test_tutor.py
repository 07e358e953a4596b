"""The simulator answers the shipped prompts like a tutor, in several variants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qolaba_nb.simulator._app import Knobs, build_answer, validate
from qolaba_nb.simulator._text import SIMULATED_NOTICE
from qolaba_nb.simulator._tutor import TABLE, find

DATA = Path(__file__).resolve().parents[2] / "data" / "prompts"
SHIPPED = [
    json.loads(line)["prompt"]
    for path in sorted(DATA.glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]
NOTEBOOKS = [
    "What is the capital of France?",
    "Tell me about rivers.",
    "Hello",
    "Hello?",
    "Name three rivers in Europe.",
    "Name three rivers in Asia.",
    "Tell me a very long story about a lighthouse.",
    "Suggest a name for a cat café.",
    "Explain tides briefly.",
    "Explain glaciers briefly.",
    "Explain deltas briefly.",
    "Write a one-line product description for gadget number 7.",
    "Explain how rivers shape valleys.",
]


def answer(messages: list[dict[str, Any]], model: str = "openai/gpt-4o", **params: Any) -> str:
    chat = validate({"model": model, "messages": messages, **params})
    knobs = Knobs(latency_s=None, ttft_s=None, chunk_delay_s=None, chunks=None, speed=0)
    text = build_answer(chat, knobs).text
    assert text is not None
    return text


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("prompt", SHIPPED + NOTEBOOKS)
def test_every_shipped_prompt_has_a_written_answer(prompt: str) -> None:
    assert find(prompt) is not None
    text = answer(user(prompt))
    assert SIMULATED_NOTICE not in text and "About " not in text[:6]
    assert text == answer(user(prompt))  # deterministic


def test_each_written_answer_has_several_variants() -> None:
    assert all(len(a.variants) >= 2 for a in TABLE)


def test_temperature_zero_takes_the_first_variant_and_sampling_varies() -> None:
    prompt = "Explain how rivers shape valleys."
    plain = {answer(user(prompt), temperature=0) for _ in range(3)}
    assert len(plain) == 1
    # the simulator's seed is a hash of model, messages and sampling parameters
    sampled = {
        answer(user(prompt), model=model, temperature=t / 10)
        for model in ("openai/gpt-4o", "google/gemini-2.5-flash")
        for t in range(5, 20, 3)
    }
    assert len(sampled) >= 3  # a sampling demo shows real variety


def test_follow_up_answers_read_the_conversation() -> None:
    first = user("Name three rivers in Europe.")
    reply = answer(first, temperature=0)
    assert "Danube" in reply and "Volga" in reply
    convo = [*first, {"role": "assistant", "content": reply}]
    longest = answer([*convo, *user("Which of them is the longest?")], temperature=0)
    assert "**Volga** is the longest" in longest
    recalled = answer([*convo, *user("What did I ask you in my previous message?")], temperature=0)
    assert "Name three rivers in Europe." in recalled


def test_any_other_prompt_says_it_is_simulated() -> None:
    text = answer(user("What is the airspeed of an unladen swallow?"))
    assert text.startswith(SIMULATED_NOTICE)


def test_echo_stays_verbatim() -> None:
    assert answer(user("Explain how rivers shape valleys."), model="sim/echo") == (
        "Explain how rivers shape valleys."
    )
