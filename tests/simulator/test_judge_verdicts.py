"""The simulator answers a judge prompt with a parseable verdict tied to the replies."""

from __future__ import annotations

import httpx

from qolaba_nb._judge import _PAIRWISE, _POINTWISE, parse_verdict
from qolaba_nb.simulator import _judge

from .conftest import CHAT

Q = "Name three rivers in Europe."
GOOD = "Three rivers in Europe: the Danube, the Rhine and the Loire, all long rivers."
POOR = "I like turtles."


def _ask(client: httpx.Client, content: str, model: str = "openai/gpt-4o") -> str:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    reply = client.post(CHAT, json=body)
    assert reply.status_code == 200
    return str(reply.json()["choices"][0]["message"]["content"])


def test_pointwise_verdict_parses_and_depends_on_the_reply(client: httpx.Client) -> None:
    good = _ask(client, _POINTWISE.format(rubric="r", question=Q, reply=GOOD))
    poor = _ask(client, _POINTWISE.format(rubric="r", question=Q, reply=POOR))
    g, p = parse_verdict(good, "pointwise"), parse_verdict(poor, "pointwise")
    assert g.error is None and p.error is None
    assert g.score is not None and p.score is not None and g.score > p.score
    # deterministic, and the same for any judge model
    assert _ask(client, _POINTWISE.format(rubric="r", question=Q, reply=GOOD)) == good
    assert (
        _ask(
            client, _POINTWISE.format(rubric="x", question=Q, reply=GOOD), "deepseek/deepseek-chat"
        )
        == good
    )


def test_pairwise_verdict_follows_the_replies_not_their_order(client: httpx.Client) -> None:
    ab = parse_verdict(
        _ask(client, _PAIRWISE.format(rubric="r", question=Q, a=GOOD, b=POOR)), "pairwise"
    )
    ba = parse_verdict(
        _ask(client, _PAIRWISE.format(rubric="r", question=Q, a=POOR, b=GOOD)), "pairwise"
    )
    assert (ab.winner, ba.winner) == ("A", "B")
    same = _PAIRWISE.format(rubric="r", question=Q, a=GOOD, b=GOOD)
    assert parse_verdict(_ask(client, same), "pairwise").winner == "tie"


def test_an_ordinary_prompt_gets_an_ordinary_answer() -> None:
    assert _judge.verdict([{"role": "user", "content": "SCORE: what is <reply>?"}]) is None
    assert _judge.verdict([{"role": "system", "content": "x"}]) is None
