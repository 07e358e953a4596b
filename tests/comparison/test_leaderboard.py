"""The leaderboard: Bradley-Terry ratings with seeded intervals, judge scores, credits."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import qolaba_nb as q
from qolaba_nb._leaderboard import LEADERBOARD_COLUMNS, bradley_terry, leaderboard
from qolaba_nb._votes import Outcome
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ComparePanel

pytestmark = pytest.mark.integration

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash", "deepseek/deepseek-chat"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


def _games(strengths: dict[str, float], n: int, seed: int) -> list[Outcome]:
    rng = np.random.default_rng(seed)
    names = list(strengths)
    found = []
    for _ in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        pa = 1 / (1 + 10 ** ((strengths[names[b]] - strengths[names[a]]) / 400))
        winner, loser = (names[a], names[b]) if rng.random() < pa else (names[b], names[a])
        found.append(Outcome(winner, loser))
    return found


def test_bradley_terry_recovers_known_strengths() -> None:
    truth = {"x": 1200.0, "y": 1000.0, "z": 800.0}
    ratings = bradley_terry(list(truth), _games(truth, 3000, seed=1))
    assert sum(ratings.values()) / 3 == pytest.approx(1000)
    assert ratings["x"] > ratings["y"] > ratings["z"]
    for m in truth:  # within 40 points of the truth with 3,000 games
        assert abs(ratings[m] - truth[m]) < 40, ratings


def test_ties_and_symmetry_give_equal_ratings_and_an_unbeaten_model_stays_finite() -> None:
    even = bradley_terry(
        ["a", "b"], [Outcome("a", "b"), Outcome("b", "a"), Outcome("a", "b", True)]
    )
    assert even["a"] == pytest.approx(even["b"])
    unbeaten = bradley_terry(["a", "b"], [Outcome("a", "b")] * 20)
    assert math.isfinite(unbeaten["a"]) and unbeaten["a"] > unbeaten["b"]


async def test_leaderboard_from_the_ledger_of_a_blind_panel_and_a_judge(
    sim: Simulator, ledger_target: str
) -> None:
    with UsageLedger(ledger_target) as ledger:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            panel = ComparePanel(MODELS, client=c, blind=True, seed=2, tag="exp")
            for i in range(9):
                await panel.run(f"Name a river ({i}).")
                best = next(col for col in panel.columns if col.model == MODELS[0])
                panel.vote(best.label if i % 3 else "tie")
            scored = await q.ajudge(panel.results, model="openai/gpt-4o", client=c, tag="exp")
        board = leaderboard(ledger, seed=7)
        again = leaderboard(ledger, seed=7)
        by_tag = leaderboard(ledger, tag="exp", seed=7)
        other = leaderboard(ledger, tag="nothing-here")
        one_run = leaderboard(ledger, run_id=panel.votes[0].run_id)
        later = leaderboard(ledger, since="1h")

    assert list(board.columns) == LEADERBOARD_COLUMNS
    assert board["model"].tolist()[0] == MODELS[0]  # the one always voted best
    assert sorted(board["model"]) == sorted(MODELS)  # the judge's model is no contestant
    pd.testing.assert_frame_equal(board, again)  # seeded
    pd.testing.assert_frame_equal(board, by_tag)
    assert other.empty and list(other.columns) == LEADERBOARD_COLUMNS
    assert (board["votes"] == 9).all()
    top = board.iloc[0]
    assert top["wins"] == 12 and top["losses"] == 0 and top["ties"] == 6
    assert top["win_rate"] == pytest.approx((12 + 3) / 18)
    assert (board["rating_low"] <= board["rating"]).all()
    assert (board["rating"] <= board["rating_high"]).all()
    assert (board["calls"] == 9).all()  # the judge's 27 calls are not counted as replies
    judged = scored.groupby("model")["judge_score"].mean()
    for row in board.to_dict(orient="records"):
        assert row["judge_score"] == pytest.approx(judged[row["model"]])
        assert row["quality"] == pytest.approx(row["judge_score"])
        assert row["quality_per_credit"] == pytest.approx(row["quality"] / row["credit_per_call"])
        assert row["quality_low"] <= row["quality"] <= row["quality_high"]
    assert board["latency_median_s"].gt(0).all() and board["ttft_median_s"].gt(0).all()
    assert board["credit_per_call"].gt(0).all() and board["cost_per_call"].gt(0).all()
    assert one_run["votes"].sum() == 3 and later["votes"].sum() == 27

    from_frame = leaderboard(scored, seed=7)
    pd.testing.assert_series_equal(from_frame["rating"], board["rating"])
    pd.testing.assert_series_equal(from_frame["judge_score"], board["judge_score"])


def test_without_votes_quality_is_the_judge_score_and_ratings_are_nan(sim: Simulator) -> None:
    with UsageLedger(":memory:") as ledger:
        c = q.Client(sim.api_key, sim.base_url, ledger=ledger)
        df = q.compare(["a river", "a lake"], MODELS[:2], client=c, progress=False)
        pairs = q.judge(df, model="openai/gpt-4o", client=c, mode="pairwise")
        c.close()
    board = leaderboard(pairs)
    assert board["rating"].isna().all() and (board["votes"] == 0).all()
    # the two win rates of a prompt sum to 1, so the two mean qualities sum to 10
    assert board["quality"].sum() == pytest.approx(10.0)
