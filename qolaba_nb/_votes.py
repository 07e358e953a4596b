"""Votes on a comparison: what a voter said, and the pairwise outcomes it implies.

A vote is about one prompt's replies, shown side by side (in a blind vote under shuffled
labels). Its ``choice`` is one of:

- ``"better"``: one reply is the best (``ranking`` holds that one model);
- ``"rank"``: the replies are ranked (``ranking`` holds every ranked model, best first);
- ``"tie"``: the replies are as good as each other;
- ``"both bad"``: none is good; for ratings it counts as a tie, as Chatbot Arena does.

Failed replies are shown but cannot be chosen or ranked: they take part in no outcome.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal

__all__ = ["CHOICES", "Choice", "Outcome", "Vote", "outcomes"]

Choice = Literal["better", "rank", "tie", "both bad"]
CHOICES: Final[tuple[str, ...]] = ("better", "rank", "tie", "both bad")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One pairwise result: ``a`` beat ``b``, or (``tie``) neither did."""

    a: str
    b: str
    tie: bool = False


@dataclass(frozen=True, slots=True)
class Vote:
    """One vote on one prompt's replies."""

    run_id: str
    prompt: str
    models: tuple[str, ...]  # in the order they were shown
    labels: tuple[str, ...]  # what the voter saw in their place
    choice: Choice
    ranking: tuple[str, ...] = ()  # models, best first ("better": just the best)
    eligible: tuple[str, ...] = ()  # the models whose reply did not fail
    blind: bool = False
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    session: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, not {self.choice!r}")
        if len(self.models) != len(self.labels):
            raise ValueError("one label per model shown")
        eligible = self.eligible or self.models
        stray = [m for m in self.ranking if m not in eligible]
        if stray:
            raise ValueError(f"{stray} cannot be chosen: not a model with a reply in this vote")
        if self.choice == "better" and len(self.ranking) != 1:
            raise ValueError("a 'better' vote names exactly one model")
        if self.choice == "rank" and len(set(self.ranking)) != len(self.ranking):
            raise ValueError("a ranking names each model once")

    def rank_of(self, model: str) -> int | None:
        """1 for the best; equal ranks for a tie; None when the vote ranks nothing."""
        eligible = self.eligible or self.models
        if model not in eligible or self.choice == "both bad":
            return None
        if self.choice == "tie":
            return 1
        if model in self.ranking:
            return self.ranking.index(model) + 1
        return len(self.ranking) + 1  # "better": every other reply shares second place


def outcomes(vote: Vote) -> list[Outcome]:
    """The pairwise results a vote implies, over the models whose reply did not fail."""
    eligible = list(vote.eligible or vote.models)
    result = []
    for a, b in itertools.combinations(eligible, 2):
        ra, rb = vote.rank_of(a), vote.rank_of(b)
        if ra is None or rb is None or ra == rb:
            result.append(Outcome(a, b, tie=True))
        elif ra < rb:
            result.append(Outcome(a, b))
        else:
            result.append(Outcome(b, a))
    return result
