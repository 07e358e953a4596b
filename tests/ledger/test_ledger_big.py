"""Reading big ledgers: partial frames, SQL summaries and summaries that keep up by themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qolaba_nb.ledger import COLUMNS, UsageLedger

from .conftest import RecordFactory


@pytest.fixture
def many(ledger: UsageLedger, make_rec: RecordFactory) -> UsageLedger:
    rng = np.random.default_rng(7)
    ledger.record_many(
        [
            make_rec(
                age=100 - i,
                model=f"m{i % 3}",
                tag=None if i % 4 == 0 else f"t{i % 2}",
                credit=None if i % 7 == 0 else float(rng.uniform(0.1, 1)),
                credit_source="estimated" if i % 5 == 0 else None,
                latency_s=float(rng.uniform(0.1, 3)),
                ttft_s=None if i % 3 == 0 else float(rng.uniform(0.01, 0.5)),
                status="ok" if i % 6 else "api_error",
                request_id=f"r{i}",
            )
            for i in range(60)
        ]
    )
    return ledger


def test_to_dataframe_limit_columns_and_after_id(many: UsageLedger) -> None:
    full = many.to_dataframe()
    last = many.to_dataframe(limit=5)
    assert list(last["request_id"]) == [f"r{i}" for i in range(55, 60)]  # oldest first
    assert list(last.columns) == list(COLUMNS)
    few = many.to_dataframe(limit=3, columns=["request_id", "credit"])
    assert list(few.columns) == ["request_id", "credit"]
    pd.testing.assert_frame_equal(
        few.reset_index(drop=True), full[["request_id", "credit"]].tail(3).reset_index(drop=True)
    )
    after = many.to_dataframe(after_id=int(full["id"].iloc[49]), columns=["id"])
    assert list(after["id"]) == list(full["id"].iloc[50:])
    assert many.to_dataframe(limit=0).empty
    with pytest.raises(ValueError, match="columns"):
        many.to_dataframe(columns=["nope"])
    with pytest.raises(ValueError, match="limit"):
        many.to_dataframe(limit=-1)


def test_sql_summary_matches_pandas(many: UsageLedger) -> None:
    df = many.to_dataframe()
    for by in (["model"], ["tag"], ["model", "tag"]):
        s = many.summary(by=by)  # type: ignore[arg-type]
        g = df.groupby(by, dropna=False, observed=True)
        assert list(s["calls"]) == list(g.size())
        np.testing.assert_allclose(s["credit"], g["credit"].sum(min_count=1))
        np.testing.assert_allclose(s["latency_p95"], g["latency_s"].quantile(0.95))
        np.testing.assert_allclose(s["ttft_p50"], g["ttft_s"].quantile(0.5))
        np.testing.assert_allclose(s["ttft_mean"], g["ttft_s"].mean())
        est = df[df["credit_source"] == "estimated"].groupby(by, dropna=False)["credit"].sum()
        np.testing.assert_allclose(s["credit_estimated"].fillna(0), est.reindex(s.index).fillna(0))


def test_live_summary_keeps_up_with_new_calls(many: UsageLedger, make_rec: RecordFactory) -> None:
    live = many.live_summary(by="model", tag="t1")
    assert live.update() == 0
    many.record(make_rec(model="m9", tag="t1", credit=2.0, latency_s=1.0))
    many.record(make_rec(model="m0", tag="t0", credit=5.0))  # filtered out
    many.record(make_rec(model="m0", tag="t1", credit=1.0, replayed=True))  # counts nowhere
    assert live.update() == 1
    pd.testing.assert_frame_equal(live.frame(), many.summary(by="model", tag="t1"))
    assert live.last_id == many.last_id() - 2
