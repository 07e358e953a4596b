"""Deterministic answers: written answers for the shipped prompts, readable pseudo-English
(plainly marked as simulated) for any other, tool calls, truncation.

Nothing here is random in the test-breaking sense: every answer comes from a
``random.Random`` seeded with a hash of the inputs that a real model's output depends on
(model, messages, temperature, top_p, penalties). Same inputs, same bytes. ``max_tokens``
and ``stop`` are deliberately *not* part of the seed: they cut a fixed answer short, which is
what they do to a real model too.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._catalogue import SimModel
from ._tutor import find

# Word lists run from plain to fancy: a low temperature stays near the top of each list,
# a high one wanders down to the rare words, just as sampling does over a real vocabulary.
_OPENERS = [
    "In short,", "Put simply,", "In practice,", "Generally,", "Often,", "Notably,",
    "Interestingly,", "Admittedly,", "Conversely,", "Arguably,", "Paradoxically,",
    "Ostensibly,",
]  # fmt: skip
_SUBJECTS = [
    "the main idea", "the key point", "a simple approach", "the usual answer",
    "this question", "a good example", "the basic rule", "a careful reading",
    "the wider context", "an honest estimate", "the underlying mechanism", "a nuanced view",
    "the historical record", "an orthogonal perspective", "the idiosyncratic detail",
    "a heterodox reading",
]  # fmt: skip
_VERBS = [
    "depends on", "comes down to", "is about", "relates to", "builds on", "points to",
    "highlights", "reflects", "draws on", "hinges on", "illuminates", "presupposes",
    "reconciles", "problematises", "adumbrates",
]  # fmt: skip
# "{t}" is replaced by a word taken from the prompt, so answers stay on topic.
_OBJECTS = [
    "the role of {t}", "clear examples", "how {t} works", "simple steps",
    "what {t} means", "the trade-offs", "the cost of {t}", "the evidence",
    "the history of {t}", "a few assumptions", "the limits of {t}", "the details",
    "long-term effects on {t}", "edge cases", "the incentives around {t}",
    "latent structure", "second-order consequences of {t}", "epistemic humility",
]  # fmt: skip
_MODIFIERS = [
    "in practice", "over time", "for most people", "in many cases", "with some care",
    "at first glance", "on balance", "in the long run", "under pressure", "by and large",
    "in hindsight", "mutatis mutandis", "ceteris paribus",
]  # fmt: skip

_STOPWORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does",
    "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its",
    "me", "my", "of", "on", "or", "our", "please", "should", "so", "tell", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "what",
    "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "about",
    "give", "explain", "describe", "write", "some", "any",
])  # fmt: skip

XSS_ANSWER = """\
# About {topic}

Here is a *friendly* answer with a few **surprises**:

- a list item
- another item with `inline code`

| column | value |
| ------ | ----- |
| script | <script>alert(1)</script> |
| image  | <img src=x onerror="window.__xss=1"> |

```python
print("hello from a fenced code block")
```

If you can read the two HTML tags above as text, your renderer escapes correctly.
"""


@dataclass(frozen=True, slots=True)
class Sampling:
    """The request parameters that shape the wording of an answer."""

    temperature: float = 1.0
    top_p: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0


@dataclass(slots=True)
class Conversation:
    """What the simulator reads from ``messages``."""

    last_user_text: str
    images: int
    last_role: str
    tool_result: str | None


def content_text(content: object) -> str:
    """The text of a message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def _count_images(content: object) -> int:
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")


def read_conversation(messages: Sequence[Mapping[str, Any]]) -> Conversation:
    last_user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    last = messages[-1]
    return Conversation(
        last_user_text=content_text(last_user.get("content")) if last_user else "",
        images=_count_images(last_user.get("content")) if last_user else 0,
        last_role=str(last.get("role")),
        tool_result=content_text(last.get("content")) if last.get("role") == "tool" else None,
    )


def seed_for(model_id: str, messages: object, sampling: Sampling) -> int:
    material = json.dumps(
        [
            model_id,
            messages,
            sampling.temperature,
            sampling.top_p,
            sampling.frequency_penalty,
            sampling.presence_penalty,
        ],
        sort_keys=True,
        ensure_ascii=False,
    )
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9'_-]*", text)


def topic_words(text: str) -> list[str]:
    """Content words of the prompt, in order, without duplicates."""
    seen: dict[str, str] = {}
    for word in _words(text):
        low = word.lower()
        if len(low) > 2 and low not in _STOPWORDS and low not in seen:
            seen[low] = word
    return list(seen.values())


def topic_phrase(text: str, max_words: int = 6) -> str:
    """The first few words of the prompt, for the "About ...:" opening."""
    words = text.split()
    if not words:
        return "your message"
    phrase = " ".join(words[:max_words]).rstrip(".,;:!?")
    if len(words) > max_words:
        phrase += "…"
    # "What is X" reads better mid-sentence as "what is X"; leave acronyms ("NASA") alone.
    if len(phrase) > 1 and phrase[0].isupper() and not phrase[1].isupper():
        phrase = phrase[0].lower() + phrase[1:]
    return phrase or "your message"


@dataclass(slots=True)
class _Sampler:
    """Picks phrases the way a sampler picks tokens: by rank, temperature, penalties, top_p."""

    rng: random.Random
    sampling: Sampling
    counts: dict[str, int] = field(default_factory=dict)

    def pick(self, options: Sequence[str]) -> str:
        s = self.sampling
        if s.temperature == 0:
            # Greedy decoding: always the most likely option. Preferring the least-used one
            # keeps the plain answer from repeating a single sentence forever.
            choice = min(options, key=lambda o: (self.counts.get(o, 0), options.index(o)))
        else:
            weights = []
            for rank, option in enumerate(options):
                used = self.counts.get(option, 0)
                logit = -rank / (3.0 * s.temperature)
                logit -= s.frequency_penalty * used + s.presence_penalty * (used > 0)
                weights.append(math.exp(logit))
            total = sum(weights)
            probs = sorted(((w / total, i) for i, w in enumerate(weights)), reverse=True)
            # Nucleus sampling: keep the smallest set of options holding top_p of the mass.
            kept: list[tuple[float, int]] = []
            mass = 0.0
            for prob, index in probs:
                kept.append((prob, index))
                mass += prob
                if mass >= s.top_p:
                    break
            index = self.rng.choices([i for _, i in kept], weights=[p for p, _ in kept])[0]
            choice = options[index]
        self.counts[choice] = self.counts.get(choice, 0) + 1
        return choice

    def chance(self, probability: float) -> bool:
        # Greedy decoding takes no optional detours.
        return self.sampling.temperature > 0 and self.rng.random() < probability


def _sentence(sampler: _Sampler, topics: list[str]) -> str:
    parts = []
    if sampler.chance(0.35):
        parts.append(sampler.pick(_OPENERS))
    parts += [sampler.pick(_SUBJECTS), sampler.pick(_VERBS)]
    obj = sampler.pick(_OBJECTS)
    if "{t}" in obj:
        obj = obj.replace("{t}", sampler.pick(topics) if topics else "the question")
    parts.append(obj)
    if sampler.chance(0.5) or sampler.sampling.temperature == 0:
        parts.append(sampler.pick(_MODIFIERS))
    text = " ".join(parts) + "."
    return text[0].upper() + text[1:]


def prose(rng: random.Random, sampling: Sampling, topics: list[str], target_chars: int) -> str:
    sampler = _Sampler(rng, sampling)
    sentences: list[str] = []
    length = 0
    while length < target_chars:
        sentence = _sentence(sampler, topics)
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)


#: How a reply to a prompt without a written answer begins: it says plainly what it is.
SIMULATED_NOTICE = "(Simulated reply: the offline simulator has no written answer to this prompt.) "


def written_answer(
    prompt: str, messages: Sequence[Mapping[str, Any]], rng: random.Random, sampling: Sampling
) -> str | None:
    """The hand-written answer to ``prompt`` (see ``_tutor``), one of its variants picked by
    the sampler (temperature 0: the first), or None when the prompt has none."""
    found = find(prompt)
    if found is None:
        return None
    answer, groups = found
    labels = [str(i) for i in range(len(answer.variants))]
    variant = answer.variants[int(_Sampler(rng, sampling).pick(labels))]
    text = variant if isinstance(variant, str) else variant(groups, messages)
    return text or None


def answer_text(model: SimModel, messages: Sequence[Mapping[str, Any]], sampling: Sampling) -> str:
    """The full (uncut) text answer of ``model`` to ``messages``."""
    convo = read_conversation(messages)
    if model.behaviour == "echo":
        return convo.last_user_text
    if model.behaviour == "xss":
        return XSS_ANSWER.format(topic=topic_phrase(convo.last_user_text))
    rng = random.Random(seed_for(model.id, list(messages), sampling))
    if convo.tool_result is None and not convo.images:
        written = written_answer(convo.last_user_text, messages, rng, sampling)
        if written:
            return written
    topics = topic_words(convo.last_user_text)
    target = max(40, int(model.answer_chars * rng.uniform(0.75, 1.25)))
    if convo.tool_result is not None:
        result = " ".join(convo.tool_result.split())
        if len(result) > 300:
            result = result[:300] + "…"
        return f"The tool returned {result}. " + prose(rng, sampling, topics, target // 3)
    intro = SIMULATED_NOTICE + f"About {topic_phrase(convo.last_user_text)}: "
    if convo.images:
        intro += f"I see {convo.images} image{'s' if convo.images != 1 else ''}. "
    return intro + prose(rng, sampling, topics, target - len(intro))


def cut_answer(text: str, stop: Sequence[str], max_tokens: int | None) -> tuple[str, str]:
    """Apply ``stop`` then ``max_tokens`` (about 4 characters a token); return (text, reason)."""
    hits = [text.find(s) for s in stop if s]
    hits = [h for h in hits if h >= 0]
    if hits:
        text = text[: min(hits)]
    if max_tokens is not None and len(text) > max_tokens * 4:
        return text[: max_tokens * 4], "length"
    return text, "stop"


def split_chunks(text: str) -> list[str]:
    """A word (with its trailing space) per chunk, like a tokenizer that likes words."""
    return re.findall(r"\S+\s*|\s+", text)


def fixed_chunks(text: str, count: int) -> list[str]:
    """Exactly ``count`` short chunks, cycling through the words of ``text``."""
    words = text.split() or ["ok"]
    return [words[i % len(words)] + " " for i in range(count)]


# --- tool calls --------------------------------------------------------------------------


def _name_words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if len(w) > 2}


def choose_tool(
    tools: Sequence[Mapping[str, Any]], tool_choice: object, prompt: str
) -> Mapping[str, Any]:
    """The function definition to call: forced by ``tool_choice``, else the best word match."""
    functions: list[Mapping[str, Any]] = [t["function"] for t in tools]
    if isinstance(tool_choice, dict):
        wanted = tool_choice.get("function", {}).get("name")
        for fn in functions:
            if fn["name"] == wanted:
                return fn
    prompt_words = {w.lower() for w in topic_words(prompt)}
    for fn in functions:
        words = _name_words(fn["name"]) | {
            w.lower() for w in topic_words(str(fn.get("description", "")))
        }
        if words & prompt_words:
            return fn
    return functions[0]


def _prompt_values(prompt: str) -> list[str]:
    words = topic_words(prompt)
    # Capitalised words after the first are usually names ("weather in Paris"), the most
    # likely thing a tool argument wants.
    names = [w for w in words[1:] if w[0].isupper()]
    return names + [w for w in words if w not in names] or ["example"]


def _fill(schema: Mapping[str, Any], values: list[str], counter: list[int]) -> object:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items")
        return [_fill(items, values, counter)] if isinstance(items, dict) else []
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: _fill(v, values, counter) for k, v in props.items() if isinstance(v, dict)}
    value = values[counter[0] % len(values)]
    counter[0] += 1
    return value


def tool_arguments(function: Mapping[str, Any], prompt: str) -> str:
    """JSON arguments for ``function``, filled in from its JSON-schema ``parameters``."""
    params = function.get("parameters")
    if not isinstance(params, dict):
        return "{}"
    args = _fill({"type": "object", **params}, _prompt_values(prompt), [0])
    return json.dumps(args, ensure_ascii=False)


def tool_call_id(seed: int) -> str:
    return "call_" + hashlib.sha256(str(seed).encode()).hexdigest()[:24]
