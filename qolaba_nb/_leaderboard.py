"""Which model for my money: votes, judge scores and credits, one row per model.

    board = leaderboard()                       # everything in the default ledger
    board = leaderboard(run_id=df.attrs["run_id"])
    board = leaderboard(panel.results)          # or straight from a comparison frame

Ratings are Bradley-Terry strengths fitted to the pairwise outcomes of the votes (a "better"
vote beats every other reply, a ranking orders them, "tie" and "both bad" are ties, a failed
reply takes no part), on an Elo-like scale: 1000 is the field's average and 400 points mean
ten-to-one odds. Each model also plays one virtual tie against an average opponent, so an
unbeaten model gets a large but finite rating. The 95% interval comes from a seeded bootstrap
over the outcomes.

"Quality" is the mean judge score (1 to 10) when there are judge scores, else ten times the
vote win rate; ``quality_per_credit`` divides it by the mean credit per call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from ._votes import Outcome, Vote, outcomes

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .ledger import UsageLedger

__all__ = ["LEADERBOARD_COLUMNS", "bradley_terry", "leaderboard"]

LEADERBOARD_COLUMNS: Final = [
    "model",
    "votes",
    "wins",
    "ties",
    "losses",
    "win_rate",
    "rating",
    "rating_low",
    "rating_high",
    "judge_score",
    "judged",
    "calls",
    "credit_per_call",
    "cost_per_call",
    "latency_median_s",
    "ttft_median_s",
    "quality",
    "quality_low",
    "quality_high",
    "quality_per_credit",
]

_SCALE: Final = 400 / math.log(10)


def bradley_terry(
    models: Sequence[str], games: Sequence[Outcome], *, iterations: int = 200
) -> dict[str, float]:
    """Bradley-Terry ratings (Elo-like scale, mean 1000) fitted to pairwise ``games``.

    Parameters
    ----------
    models : sequence of str
        Every model to rate (a model with no game gets 1000).
    games : sequence of Outcome
        The pairwise results; a tie counts half a win each way.
    iterations : int, default 200
        Most minorisation-maximisation steps (it stops earlier once converged).

    Returns
    -------
    dict
        Model -> rating.
    """
    import numpy as np

    if not models:
        return {}
    index = {m: i for i, m in enumerate(models)}
    n = len(models)
    wins = np.zeros((n + 1, n + 1))  # wins[i, j]: how often i beat j; row n: the virtual player
    for g in games:
        i, j = index[g.a], index[g.b]
        if g.tie:
            wins[i, j] += 0.5
            wins[j, i] += 0.5
        else:
            wins[i, j] += 1.0
    return dict(zip(models, _fit(wins, iterations).tolist(), strict=True))


def _fit(wins: np.ndarray[Any, Any], iterations: int = 200) -> np.ndarray[Any, Any]:
    import numpy as np

    n = wins.shape[0] - 1
    wins = wins.copy()
    wins[:n, n] += 0.5  # one virtual tie each against an average player (strength 1)
    wins[n, :n] += 0.5
    played = wins + wins.T
    won = wins.sum(axis=1)
    p = np.ones(n + 1)
    for _ in range(iterations):
        denom = (played / (p[:, None] + p[None, :])).sum(axis=1)
        new = won / denom
        new[n] = 1.0  # the virtual player stays put
        if np.max(np.abs(np.log(new[:n]) - np.log(p[:n]))) < 1e-9:
            p = new
            break
        p = new
    logs = np.log(p[:n])
    rating: np.ndarray[Any, Any] = 1000.0 + _SCALE * (logs - logs.mean())
    return rating


def _bootstrap(
    models: Sequence[str], games: Sequence[Outcome], rounds: int, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """2.5th and 97.5th percentiles of the ratings over ``rounds`` resamples of the games."""
    import numpy as np

    if not games or rounds <= 0:
        nan = dict.fromkeys(models, math.nan)
        return nan, dict(nan)
    index = {m: i for i, m in enumerate(models)}
    n = len(models)
    a = np.array([index[g.a] for g in games])
    b = np.array([index[g.b] for g in games])
    tie = np.array([g.tie for g in games])
    rng = np.random.default_rng(seed)
    ratings = np.empty((rounds, n))
    for r in range(rounds):
        pick = rng.integers(0, len(games), len(games))
        wins = np.zeros((n + 1, n + 1))
        np.add.at(wins, (a[pick], b[pick]), np.where(tie[pick], 0.5, 1.0))
        np.add.at(wins, (b[pick][tie[pick]], a[pick][tie[pick]]), 0.5)
        ratings[r] = _fit(wins, iterations=100)
    low, high = np.percentile(ratings, [2.5, 97.5], axis=0)
    return dict(zip(models, low.tolist(), strict=True)), dict(
        zip(models, high.tolist(), strict=True)
    )


def _mean_interval(
    values: np.ndarray[Any, Any], rounds: int, rng: Any
) -> tuple[float, float, float]:
    import numpy as np

    if len(values) == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if len(values) == 1 or rounds <= 0:
        return mean, math.nan, math.nan
    means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return mean, float(low), float(high)


def _is_judge_tag(tag: Any) -> bool:
    return isinstance(tag, str) and (tag == "judge" or tag.endswith("/judge"))


def _votes_of_frame(df: pd.DataFrame) -> list[Vote]:
    """The votes a comparison frame carries (``ComparePanel.results``: rank and choice)."""
    import pandas as pd

    if "choice" not in df.columns or "rank" not in df.columns:
        return []
    found = []
    keys = [c for c in ("run_id", "prompt") if c in df.columns]
    for _, group in df[df["choice"].notna()].groupby(keys, sort=False):
        choice = str(group["choice"].iloc[0])
        models = tuple(str(m) for m in group["model"])
        ranked = group[group["rank"].notna()]
        eligible = tuple(str(m) for m in group.loc[group["status"] == "ok", "model"])
        ranking: tuple[str, ...] = ()
        if choice == "better":
            ranking = tuple(str(m) for m in ranked.loc[ranked["rank"] == 1, "model"])
        elif choice == "rank":
            ranking = tuple(str(m) for m in ranked.sort_values("rank", kind="stable")["model"])
        found.append(
            Vote(
                run_id=str(group["run_id"].iloc[0]) if "run_id" in group else "",
                prompt=str(group["prompt"].iloc[0]) if "prompt" in group else "",
                models=models,
                labels=tuple(str(x) for x in group.get("label", pd.Series(models))),
                choice=choice,  # type: ignore[arg-type]
                ranking=ranking,
                eligible=eligible,
            )
        )
    return found


def _votes_of_ledger(frame: pd.DataFrame) -> list[Vote]:
    return [
        Vote(
            run_id=r["run_id"],
            prompt=r["prompt"],
            models=tuple(r["models"]),
            labels=tuple(r["labels"]),
            choice=r["choice"],
            ranking=tuple(r["ranking"]),
            eligible=tuple(r["eligible"]),
            blind=bool(r["blind"]),
        )
        for r in frame.to_dict(orient="records")
    ]


def leaderboard(
    ledger: UsageLedger | pd.DataFrame | None = None,
    *,
    run_id: str | Sequence[str] | None = None,
    tag: str | None = None,
    since: datetime | timedelta | str | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
) -> pd.DataFrame:
    """One row per model: votes, win rate, rating with a 95% interval, judge score, credits.

    Parameters
    ----------
    ledger : UsageLedger, pandas.DataFrame or None, default None
        Where the votes, judge scores and calls come from: a ledger (None: the default
        ledger), or a comparison frame (``acompare``'s, with judge columns, or
        ``ComparePanel.results`` with its vote columns).
    run_id : str, sequence of str or None, default None
        Only these comparison runs (None: every run).
    tag : str or None, default None
        Only the calls and votes with this tag (None: any tag); the judge's own calls never
        count as replies.
    since : datetime, timedelta, str or None, default None
        Only what happened at or after this moment (as ``UsageLedger.to_dataframe``: a
        timedelta counts back from now, a str is an ISO date/time or a duration such as
        ``"1h"``); None: since the start.
    seed : int, default 0
        Seed of the bootstrap: the same data and seed give the same intervals.
    bootstrap : int, default 1000
        Bootstrap resamples for the 95% intervals (0: no intervals).

    Returns
    -------
    pandas.DataFrame
        The columns of ``LEADERBOARD_COLUMNS``, best rating first (then best quality).
        ``votes`` counts the votes a model's reply could be chosen in; ``wins``, ``ties`` and
        ``losses`` are pairwise; ``judged`` counts judge scores; medians are over calls that
        succeeded.

    Raises
    ------
    ValueError
        A frame without a ``model`` column, or a ``since`` that is neither a date/time nor a
        duration.

    Examples
    --------
    >>> df = compare(["Name three rivers."], ["sim/echo", "sim/lorem"])  # doctest: +SKIP
    >>> board = leaderboard(run_id=df.attrs["run_id"])  # doctest: +SKIP
    >>> board[["model", "rating", "judge_score", "quality_per_credit"]]  # doctest: +SKIP
    """
    import numpy as np
    import pandas as pd

    if isinstance(ledger, pd.DataFrame):
        calls, scores, votes = _from_frame(ledger, run_id, tag)
    else:
        calls, scores, votes = _from_ledger(ledger, run_id, tag, since)

    games = [g for v in votes for g in outcomes(v)]
    models = sorted(
        set(calls["model"].astype(str))
        | set(scores["model"].astype(str))
        | {m for v in votes for m in (v.eligible or v.models)}
    )
    players = sorted({m for g in games for m in (g.a, g.b)})
    ratings = dict.fromkeys(models, math.nan) | bradley_terry(players, games)
    low, high = dict.fromkeys(models, math.nan), dict.fromkeys(models, math.nan)
    found_low, found_high = _bootstrap(players, games, bootstrap, seed)
    low.update(found_low)
    high.update(found_high)
    rng = np.random.default_rng(seed + 1)
    rows = []
    for model in models:
        won = sum(1 for g in games if g.a == model and not g.tie)
        lost = sum(1 for g in games if g.b == model and not g.tie)
        tied = sum(1 for g in games if g.tie and model in (g.a, g.b))
        played = won + lost + tied
        mine = calls[calls["model"] == model]
        ok = mine[mine["status"] == "ok"]
        credit = pd.to_numeric(mine["credit"], errors="coerce").dropna()
        cost = pd.to_numeric(mine["cost"], errors="coerce").dropna()
        judged = (
            pd.to_numeric(scores.loc[scores["model"] == model, "score"], errors="coerce")
            .dropna()
            .to_numpy(dtype=float)
        )
        win_rate = (won + tied / 2) / played if played else math.nan
        if len(judged):
            quality, q_low, q_high = _mean_interval(judged, bootstrap, rng)
            score = quality
        else:
            score = math.nan
            outcomes_01 = np.array([1.0] * won + [0.5] * tied + [0.0] * lost)
            quality, q_low, q_high = (
                tuple(10 * x for x in _mean_interval(outcomes_01, bootstrap, rng))
                if played
                else (math.nan, math.nan, math.nan)
            )
        per_call = float(credit.mean()) if len(credit) else math.nan
        rows.append(
            {
                "model": model,
                "votes": sum(1 for v in votes if model in (v.eligible or v.models)),
                "wins": won,
                "ties": tied,
                "losses": lost,
                "win_rate": win_rate,
                "rating": ratings[model],
                "rating_low": low[model],
                "rating_high": high[model],
                "judge_score": score,
                "judged": len(judged),
                "calls": len(mine),
                "credit_per_call": per_call,
                "cost_per_call": float(cost.mean()) if len(cost) else math.nan,
                "latency_median_s": _median(ok["latency_s"]),
                "ttft_median_s": _median(ok["ttft_s"]),
                "quality": quality,
                "quality_low": q_low,
                "quality_high": q_high,
                "quality_per_credit": quality / per_call if per_call and per_call > 0 else math.nan,
            }
        )
    board = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    for column in ("votes", "wins", "ties", "losses", "judged", "calls"):
        board[column] = board[column].astype("int64")
    board = board.sort_values(
        ["rating", "quality", "model"],
        ascending=[False, False, True],
        na_position="last",
        kind="stable",
    )
    return board.reset_index(drop=True)


def _median(values: Iterable[Any]) -> float:
    import pandas as pd

    series = pd.to_numeric(pd.Series(list(values), dtype="float64"), errors="coerce").dropna()
    return float(series.median()) if len(series) else math.nan


def _from_frame(
    df: pd.DataFrame, run_id: str | Sequence[str] | None, tag: str | None
) -> tuple[pd.DataFrame, pd.DataFrame, list[Vote]]:
    import pandas as pd

    if "model" not in df.columns:
        raise ValueError(f"leaderboard() needs a 'model' column; the frame has {list(df.columns)}")
    if run_id is not None and "run_id" in df.columns:
        ids = [run_id] if isinstance(run_id, str) else list(run_id)
        df = df[df["run_id"].isin(ids)]
    if tag is not None and "tag" in df.columns:
        df = df[df["tag"] == tag]
    calls = pd.DataFrame(
        {
            c: df[c] if c in df.columns else pd.Series([math.nan] * len(df), index=df.index)
            for c in ("model", "status", "credit", "cost", "latency_s", "ttft_s")
        }
    )
    if "judge_score" in df.columns:
        score = df["judge_score"]
    elif "judge_win_rate" in df.columns:  # pairwise judging: on the same 0-10 scale
        score = 10 * df["judge_win_rate"]
    else:
        score = pd.Series([], dtype="float64")
    scores = pd.DataFrame({"model": df["model"] if len(score) else [], "score": score})
    return calls, scores, _votes_of_frame(df)


def _from_ledger(
    ledger: UsageLedger | None,
    run_id: str | Sequence[str] | None,
    tag: str | None,
    since: datetime | timedelta | str | None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Vote]]:
    import pandas as pd

    from .ledger import default_ledger

    led = ledger if ledger is not None else default_ledger()
    calls = led.to_dataframe(since=since, tag=tag, run_id=run_id)
    calls = calls[~calls["tag"].map(_is_judge_tag).astype(bool)]
    if "replayed" in calls.columns:
        calls = calls[~calls["replayed"].fillna(False).astype(bool)]
    calls = calls.assign(model=calls["model"].astype(str), status=calls["status"].astype(str))
    cells = led.cells(run_id=run_id, tag=tag, since=since)
    cells = cells[
        ~cells["tag"].map(_is_judge_tag).astype(bool)
    ]  # the judge's own calls are no replies
    scores = pd.DataFrame({"model": cells["model"], "score": cells["judge_score"]})
    votes = _votes_of_ledger(led.votes(run_id=run_id, tag=tag, since=since))
    return calls, scores, votes
