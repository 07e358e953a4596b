"""The judge against the simulator: pointwise scores, pairwise in both orders, its own tag."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pandas as pd
import pytest

import qolaba_nb as q
from qolaba_nb.comparison import acompare
from qolaba_nb.judge import JUDGE_COLUMNS, ajudge, judge, parse_verdict
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator, _judge

pytestmark = pytest.mark.integration

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash", "sim/upstream-error"]
PROMPTS = ["Name three rivers in Europe.", "Explain recursion in one paragraph."]
JUDGE = "openai/gpt-4o"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


@pytest.fixture
def ledger() -> Iterator[UsageLedger]:
    with UsageLedger(":memory:") as led:
        yield led


@pytest.fixture
async def client(sim: Simulator, ledger: UsageLedger) -> AsyncIterator[q.AsyncClient]:
    async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
        yield c


@pytest.fixture
async def replies(client: q.AsyncClient) -> pd.DataFrame:
    return await acompare(PROMPTS, MODELS, client=client, progress=False, temperature=0)


async def test_pointwise_scores_every_ok_reply_from_its_text(
    client: q.AsyncClient, ledger: UsageLedger, replies: pd.DataFrame
) -> None:
    scored = await ajudge(replies, model=JUDGE, client=client)

    assert list(scored.columns) == [*replies.columns, *JUDGE_COLUMNS["pointwise"]]
    pd.testing.assert_frame_equal(scored[replies.columns], replies)  # the replies untouched
    ok = scored["status"] == "ok"
    assert scored.loc[ok, "judge_score"].between(1, 10).all()
    assert scored.loc[~ok, "judge_score"].isna().all()  # a failed reply is not judged
    assert scored.loc[ok, "judge_reason"].str.len().gt(0).all()
    # the verdict is tied to the reply it judges, and deterministic
    for row in scored[ok].itertuples():
        assert row.judge_score == _judge.score(str(row.prompt), str(row.text))
    again = await ajudge(replies, model=JUDGE, client=client)
    pd.testing.assert_series_equal(again["judge_score"], scored["judge_score"])


async def test_judge_calls_have_their_own_tag_and_credits_apart(
    client: q.AsyncClient, ledger: UsageLedger, replies: pd.DataFrame
) -> None:
    scored = await ajudge(replies, model=JUDGE, client=client, tag="exp")
    calls = ledger.to_dataframe()
    judged = calls[calls["tag"] == "exp/judge"]
    assert len(judged) == int((replies["status"] == "ok").sum())
    assert set(judged["model"]) == {JUDGE}
    assert scored.attrs["judge_credit"] == pytest.approx(judged["credit"].sum())
    assert scored["judge_credit"].sum() == pytest.approx(judged["credit"].sum())
    # the replies' own credits are not mixed with the judge's
    assert scored["credit"].sum(min_count=1) == pytest.approx(replies["credit"].sum())


async def test_pairwise_asks_both_orders_and_a_position_biased_judge_cancels_out(
    client: q.AsyncClient,
    ledger: UsageLedger,
    replies: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fair = await ajudge(replies, model=JUDGE, client=client, mode="pairwise")
    ok = fair["status"] == "ok"
    # two ok replies per prompt: one pair, asked twice
    assert len(ledger.to_dataframe(tag="judge")) == 2 * len(PROMPTS)
    rates = fair.loc[ok, "judge_win_rate"]
    assert rates.between(0, 1).all()
    for _, group in fair[ok].groupby("prompt"):
        assert group["judge_win_rate"].sum() == pytest.approx(1.0)
        a, b = (_judge.score(p, t) for p, t in zip(group["prompt"], group["text"], strict=True))
        if a != b:
            assert group["judge_win_rate"].iloc[0] == (1.0 if a > b else 0.0)

    # a judge that always prefers the first reply shown: both orders make every pair a tie
    monkeypatch.setattr(_judge, "verdict", lambda messages: "WINNER: A\nREASON: first is best")
    biased = await ajudge(replies, model=JUDGE, client=client, mode="pairwise")
    assert biased.loc[ok, "judge_win_rate"].tolist() == [0.5] * int(ok.sum())


async def test_an_unparseable_verdict_is_a_row_with_its_error(
    client: q.AsyncClient, replies: pd.DataFrame
) -> None:
    scored = await ajudge(replies, model="sim/echo", client=client)  # echoes the prompt back
    ok = scored["status"] == "ok"
    assert scored.loc[ok, "judge_score"].isna().all()
    assert scored.loc[ok, "judge_error"].str.contains("SCORE").all()
    failing = await ajudge(replies, model="sim/upstream-error", client=client)
    assert failing.loc[ok, "judge_error"].str.startswith("judge call failed").all()


def test_compare_with_judge_and_judge_from_plain_code(sim: Simulator, ledger: UsageLedger) -> None:
    c = q.Client(sim.api_key, sim.base_url, ledger=ledger)
    df = q.compare(PROMPTS[:1], MODELS[:2], client=c, progress=False, judge=JUDGE)
    assert df["judge_score"].between(1, 10).all()
    again = judge(df, model=JUDGE, client=c, mode="pairwise")
    assert again["judge_win_rate"].sum() == pytest.approx(1.0)
    c.close()


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("SCORE: 7\nREASON: fine", "pointwise", (7.0, None, "fine")),
        ("**Score:** 9/10\nReason: good", "pointwise", (9.0, None, "good")),
        ("WINNER: b\nREASON: shorter", "pairwise", (None, "B", "shorter")),
        ("Winner: tie", "pairwise", (None, "tie", "")),
    ],
    ids=["plain", "markdown", "pairwise", "tie"],
)
def test_parse_verdict_reads_the_asked_format(
    text: str, mode: str, expected: tuple[float | None, str | None, str]
) -> None:
    v = parse_verdict(text, mode)  # type: ignore[arg-type]
    assert (v.score, v.winner, v.reason) == expected and v.error is None


@pytest.mark.parametrize("text", ["SCORE: 11", "I liked it", "SCORE: <1-10>"])
def test_parse_verdict_refuses_anything_else(text: str) -> None:
    assert parse_verdict(text, "pointwise").error is not None
