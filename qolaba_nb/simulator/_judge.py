"""The simulator as a judge: a parseable verdict for the judge prompts of ``qolaba_nb._judge``.

A judge prompt carries the question in ``<question>`` and the replies in ``<reply>`` (pointwise)
or ``<reply_a>`` / ``<reply_b>`` (pairwise). The verdict depends only on the question and the
replies, never on their order: a reply scores from how many of the question's key words it
covers, plus a small jitter from a hash of its text. So the same replies always get the same
verdict, and a pairwise verdict swaps with the order of the replies.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import _text

_TAG = re.compile(r"<(question|reply|reply_a|reply_b)>\n?(.*?)\n?</\1>", re.DOTALL)


def _parts(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _TAG.finditer(text)}


def score(question: str, reply: str) -> int:
    """1 to 10: the share of the question's key words in the reply, and a jitter of -1 to 1."""
    wanted = set(_text.topic_words(question))
    words = set(_text.topic_words(reply))
    covered = len(wanted & words) / len(wanted) if wanted else 0.5
    jitter = hashlib.sha256(reply.encode()).digest()[0] % 3 - 1
    return max(1, min(10, round(3 + 6 * covered) + jitter + (1 if len(reply) > 80 else -1)))


def verdict(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The judge's answer to a judge prompt; None for any other conversation."""
    users = [m for m in messages if m.get("role") == "user"]
    if not users:
        return None
    text = _text.content_text(users[-1].get("content"))
    parts = _parts(text)
    question = parts.get("question")
    if question is None:
        return None
    if "reply" in parts and "SCORE:" in text:
        points = score(question, parts["reply"])
        wanted = len(set(_text.topic_words(question)))
        return (
            f"SCORE: {points}\nREASON: Covers the question's {wanted} key words {points}/10 well."
        )
    if "reply_a" in parts and "reply_b" in parts and "WINNER:" in text:
        a, b = score(question, parts["reply_a"]), score(question, parts["reply_b"])
        winner = "A" if a > b else "B" if b > a else "tie"
        return f"WINNER: {winner}\nREASON: Reply A rates {a}/10 and reply B {b}/10."
    return None
