"""Writing, reading, filtering, summarising and exporting."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_string_dtype

from qolaba_nb._record import SESSION_ID, CallRecord
from qolaba_nb.ledger import COLUMNS, UsageLedger

from .conftest import RecordFactory

INT64 = ("http_status", "prompt_chars", "completion_chars", "retries")
FLOATS = ("credit", "cost", "latency_s", "ttft_s")
STRS = (
    "kind",
    "error",
    "finish_reason",
    "request_id",
    "session",
    "tag",
    "run_id",
    "prompt_text",
    "completion_text",
)


def check_dtypes(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(COLUMNS)
    assert df["id"].dtype == np.int64
    assert df["ts"].dtype == "datetime64[ns, UTC]"
    for c in FLOATS:
        assert df[c].dtype == np.float64, c
    for c in INT64:
        assert df[c].dtype == "Int64", c
    for c in ("model", "status"):
        assert isinstance(df[c].dtype, pd.CategoricalDtype), c
    for c in STRS:
        assert is_string_dtype(df[c].dtype), c
    assert df["params"].dtype == object


def full_record(**kw: object) -> CallRecord:
    base: dict[str, object] = dict(
        model="claude-3-5-sonnet",
        kind="stream",
        status="ok",
        ts=datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        http_status=200,
        error=None,
        credit=1.25,
        cost=0.0125,
        latency_s=2.5,
        ttft_s=0.4,
        prompt_chars=120,
        completion_chars=900,
        finish_reason="stop",
        request_id="req-1",
        retries=2,
        params={"temperature": 0.2, "max_tokens": 256, "stop": ["\n\n"]},
        tag="demo",
        run_id="run-1",
        prompt_text="Hello?",
        completion_text="Hi!",
    )
    base.update(kw)
    return CallRecord(**base)  # type: ignore[arg-type]


# ---- round trip ----------------------------------------------------------------------------


def test_round_trip_values_and_dtypes(ledger: UsageLedger) -> None:
    rec = full_record()
    ledger.record(rec)
    df = ledger.to_dataframe()
    check_dtypes(df)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["id"] == 1
    assert row["ts"] == pd.Timestamp("2025-03-04T05:06:07.891011Z")
    assert row["model"] == "claude-3-5-sonnet"
    assert row["kind"] == "stream"
    assert row["status"] == "ok"
    assert row["http_status"] == 200
    assert pd.isna(row["error"])
    assert (row["credit"], row["cost"], row["latency_s"], row["ttft_s"]) == (1.25, 0.0125, 2.5, 0.4)
    assert (row["prompt_chars"], row["completion_chars"], row["retries"]) == (120, 900, 2)
    assert row["finish_reason"] == "stop"
    assert row["request_id"] == "req-1"
    assert row["params"] == {"temperature": 0.2, "max_tokens": 256, "stop": ["\n\n"]}
    assert row["session"] == SESSION_ID
    assert (row["tag"], row["run_id"]) == ("demo", "run-1")


def test_unknown_amounts_are_nan_never_zero(ledger: UsageLedger) -> None:
    ledger.record(full_record(credit=None, cost=None, http_status=None, ttft_s=None))
    df = ledger.to_dataframe()
    check_dtypes(df)
    assert df["credit"].isna().all() and df["cost"].isna().all()
    assert df["http_status"].isna().all() and df["ttft_s"].isna().all()
    raw = ledger._conn.execute("SELECT credit, cost FROM calls").fetchone()
    assert raw == (None, None)


def test_timestamps_are_stored_as_utc_iso(ledger: UsageLedger) -> None:
    plus2 = timezone(timedelta(hours=2))
    ledger.record(full_record(ts=datetime(2025, 1, 1, 12, 0, tzinfo=plus2)))
    ledger.record(full_record(ts=datetime(2025, 1, 1, 12, 0)))  # naive: taken as UTC
    stored = [r[0] for r in ledger._conn.execute("SELECT ts FROM calls ORDER BY id")]
    assert stored == ["2025-01-01T10:00:00.000000+00:00", "2025-01-01T12:00:00.000000+00:00"]
    df = ledger.to_dataframe()
    assert list(df["ts"]) == [
        pd.Timestamp("2025-01-01T10:00Z"),
        pd.Timestamp("2025-01-01T12:00Z"),
    ]


def test_params_come_back_as_independent_dicts(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.record_many([make_rec(params={"temperature": 0.5}) for _ in range(3)])
    ledger.record(make_rec())
    df = ledger.to_dataframe()
    assert list(df["params"]) == [{"temperature": 0.5}] * 3 + [{}]
    df["params"].iloc[0]["temperature"] = 9
    assert df["params"].iloc[1] == {"temperature": 0.5}


def test_params_that_json_cannot_encode(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.record(make_rec(params={"temperature": np.float32(0.5), "when": datetime(2025, 1, 1)}))
    assert ledger.to_dataframe()["params"].iloc[0] == {
        "temperature": 0.5,
        "when": "2025-01-01 00:00:00",
    }


def test_empty_ledger_gives_empty_frame_with_dtypes(ledger: UsageLedger) -> None:
    df = ledger.to_dataframe()
    assert df.empty
    check_dtypes(df)


def test_record_many(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    assert ledger.record_many([]) == 0
    assert ledger.record_many(make_rec(request_id=str(i)) for i in range(50)) == 50
    df = ledger.to_dataframe()
    assert list(df["request_id"]) == [str(i) for i in range(50)]
    assert list(df["id"]) == list(range(1, 51))


def test_record_many_is_all_or_nothing(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    bad = make_rec()
    bad.model = None  # type: ignore[assignment]  # violates NOT NULL
    with pytest.raises(Exception, match=r"(?i)not[ -]null"):  # sqlite3 | psycopg
        ledger.record_many([make_rec(), bad, make_rec()])
    assert len(ledger) == 0
    ledger.record(make_rec())  # the connection is usable afterwards
    assert len(ledger) == 1


@pytest.mark.parametrize("store_text", [False, True])
def test_store_text(tmp_path: Path, store_text: bool) -> None:
    with UsageLedger(tmp_path / "t.sqlite", store_text=store_text) as led:
        led.record(full_record(prompt_text="secret prompt", completion_text="secret answer"))
        df = led.to_dataframe()
        raw = led._conn.execute("SELECT prompt_text, completion_text FROM calls").fetchone()
    if store_text:
        assert raw == ("secret prompt", "secret answer")
        assert df["prompt_text"].iloc[0] == "secret prompt"
        assert df["completion_text"].iloc[0] == "secret answer"
    else:
        assert raw == (None, None)
        assert df["prompt_text"].isna().all() and df["completion_text"].isna().all()


def test_memory_ledgers_work_and_are_separate(make_rec: RecordFactory) -> None:
    with UsageLedger(":memory:") as a, UsageLedger(":memory:") as b:
        a.record(make_rec())
        a.record(make_rec())
        b.record(make_rec())
        assert (len(a), len(b)) == (2, 1)
        check_dtypes(a.to_dataframe())
        assert a.summary().loc["gpt-4o-mini", "calls"] == 2


def test_repr_len_close_and_context_manager(tmp_path: Path, make_rec: RecordFactory) -> None:
    path = tmp_path / "r.sqlite"
    with UsageLedger(path) as led:
        assert repr(led) == f"UsageLedger({str(path)!r}, 0 calls)"
        led.record(make_rec())
        assert repr(led) == f"UsageLedger({str(path)!r}, 1 call)"
        led.record(make_rec())
        assert len(led) == 2
        assert "2 calls" in repr(led)
    assert repr(led) == f"UsageLedger({str(path)!r}, closed)"
    with pytest.raises(ValueError, match="closed"):
        led.record(make_rec())
    with pytest.raises(ValueError, match="closed"):
        led.to_dataframe()
    led.close()  # twice is fine


# ---- filters --------------------------------------------------------------------------------


@pytest.fixture
def varied(ledger: UsageLedger, make_rec: RecordFactory) -> UsageLedger:
    """Ten calls: two models, tags a/b/None, two sessions, two runs, ages 0..9 hours."""
    recs = []
    for i in range(10):
        recs.append(
            make_rec(
                age=i * 3600 + 60,
                model="m-a" if i % 2 == 0 else "m-b",
                tag=("a", "b", None)[i % 3],
                session=SESSION_ID if i < 7 else "other-session",
                run_id="r1" if i < 5 else "r2",
                request_id=str(i),
                credit=float(i),
            )
        )
    ledger.record_many(recs)
    return ledger


def _ids(df: pd.DataFrame) -> set[int]:
    return {int(x) for x in df["request_id"]}


def test_filter_model(varied: UsageLedger) -> None:
    df = varied.to_dataframe(model="m-a")
    assert _ids(df) == {0, 2, 4, 6, 8}
    assert list(df["model"].cat.categories) == ["m-a"]
    assert _ids(varied.to_dataframe(model=["m-a", "m-b"])) == set(range(10))
    assert varied.to_dataframe(model="nope").empty


def test_filter_tag_session_run(varied: UsageLedger) -> None:
    assert _ids(varied.to_dataframe(tag="a")) == {0, 3, 6, 9}
    assert _ids(varied.to_dataframe(tag=["a", "b"])) == {0, 1, 3, 4, 6, 7, 9}
    assert _ids(varied.to_dataframe(session="current")) == set(range(7))
    assert _ids(varied.to_dataframe(session=SESSION_ID)) == set(range(7))
    assert _ids(varied.to_dataframe(session="other-session")) == {7, 8, 9}
    assert _ids(varied.to_dataframe(run_id="r2")) == {5, 6, 7, 8, 9}


def test_filters_combine(varied: UsageLedger) -> None:
    df = varied.to_dataframe(since="5h", model="m-a", tag="a", run_id="r1", session="current")
    assert _ids(df) == {0}


@pytest.mark.parametrize(
    "since",
    [
        lambda: "3h",
        lambda: "180min",
        lambda: pd.Timedelta(hours=3),
        lambda: timedelta(hours=3),
        # Absolute moments are taken when the test runs, not when it is collected: a long
        # suite would otherwise move them minutes into the past.
        lambda: datetime.now(UTC) - timedelta(hours=3),
        lambda: (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
        lambda: (datetime.now(UTC) - timedelta(hours=3)).replace(tzinfo=None),  # naive: UTC
        lambda: pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=3),
    ],
    ids=["3h", "180min", "pd.Timedelta", "timedelta", "datetime", "iso", "naive", "pd.Timestamp"],
)
def test_filter_since(varied: UsageLedger, since: Callable[[], object]) -> None:
    # Ages are i hours + 1 minute: the last 3 hours hold calls 0, 1, 2.
    assert _ids(varied.to_dataframe(since=since())) == {0, 1, 2}  # type: ignore[arg-type]


def test_filter_since_date_string(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    ledger.record(make_rec(ts=datetime(2024, 12, 31, 23, 59, tzinfo=UTC), request_id="1"))
    ledger.record(make_rec(ts=datetime(2025, 1, 1, 0, 0, tzinfo=UTC), request_id="2"))
    assert _ids(ledger.to_dataframe(since="2025-01-01")) == {2}
    assert _ids(ledger.to_dataframe(since="2025-01-01T01:00:00+02:00")) == {1, 2}


@pytest.mark.parametrize("since", ["5", "yesterday-ish", "-1h"])
def test_bad_since(ledger: UsageLedger, since: str) -> None:
    with pytest.raises(ValueError, match="since"):
        ledger.to_dataframe(since=since)


def test_bad_since_type(ledger: UsageLedger) -> None:
    with pytest.raises(TypeError, match="since"):
        ledger.to_dataframe(since=5)  # type: ignore[arg-type]


# ---- summary ------------------------------------------------------------------------------


def test_summary_numbers(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    rng = np.random.default_rng(1)
    lat_a = rng.uniform(0.1, 5, 37)
    ttft_a = rng.uniform(0.05, 1, 37)
    recs = [
        make_rec(
            model="a",
            kind="stream",
            latency_s=float(lat_a[i]),
            ttft_s=float(ttft_a[i]),
            credit=0.5,
            cost=0.01 if i % 2 else None,
            status="ok" if i % 5 else "api_error" if i % 2 else "cancelled",
        )
        for i in range(37)
    ]
    lat_b = rng.uniform(0.1, 5, 11)
    recs += [make_rec(model="b", latency_s=float(x), credit=None, cost=None) for x in lat_b]
    ledger.record_many(recs)

    s = ledger.summary()
    assert list(s.columns) == [
        "calls",
        "errors",
        "stopped",
        "credit",
        "credit_reported",
        "credit_estimated",
        "cost",
        "latency_mean",
        "latency_p50",
        "latency_p95",
        "ttft_mean",
        "ttft_p50",
        "ttft_p95",
    ]
    assert list(s.index) == ["a", "b"]
    assert s.index.name == "model"
    a, b = s.loc["a"], s.loc["b"]
    assert a["calls"] == 37 and b["calls"] == 11
    # i = 0, 5, ..., 35: the odd ones failed, the even ones were stopped (not errors)
    assert a["errors"] == 4 and a["stopped"] == 4 and b["errors"] == b["stopped"] == 0
    assert a["credit"] == pytest.approx(37 * 0.5)
    assert a["credit_reported"] == pytest.approx(37 * 0.5) and np.isnan(a["credit_estimated"])
    assert a["cost"] == pytest.approx(18 * 0.01)
    assert np.isnan(b["credit"]) and np.isnan(b["cost"])  # none known: NaN, not 0
    assert a["latency_mean"] == pytest.approx(lat_a.mean())
    assert a["latency_p50"] == pytest.approx(np.percentile(lat_a, 50))
    assert a["latency_p95"] == pytest.approx(np.percentile(lat_a, 95))
    assert a["ttft_mean"] == pytest.approx(ttft_a.mean())
    assert a["ttft_p50"] == pytest.approx(np.percentile(ttft_a, 50))
    assert a["ttft_p95"] == pytest.approx(np.percentile(ttft_a, 95))
    assert b["latency_p95"] == pytest.approx(np.percentile(lat_b, 95))
    assert np.isnan(b["ttft_mean"]) and np.isnan(b["ttft_p95"])
    assert s["calls"].dtype == np.int64 and s["errors"].dtype == np.int64


@pytest.mark.parametrize("by", ["tag", "session", "status", "kind", "run_id"])
def test_summary_by_other_keys(varied: UsageLedger, by: str) -> None:
    s = varied.summary(by=by)  # type: ignore[arg-type]
    df = varied.to_dataframe()
    assert s["calls"].sum() == len(df) == 10
    assert s.index.name == by


def test_summary_keeps_untagged_calls(varied: UsageLedger) -> None:
    s = varied.summary(by="tag")
    assert s.loc["a", "calls"] == 4 and s.loc["b", "calls"] == 3
    assert s.loc[s.index.isna(), "calls"].item() == 3
    assert s.loc["a", "credit"] == 0 + 3 + 6 + 9


def test_summary_by_list_and_filters(varied: UsageLedger) -> None:
    s = varied.summary(by=["model", "run_id"], session="current")
    assert s.index.names == ["model", "run_id"]
    assert s.loc[("m-a", "r1"), "calls"] == 3  # 0, 2, 4
    assert s.loc[("m-b", "r2"), "calls"] == 1  # 5 (7 and 9 are another session)
    assert s["calls"].sum() == 7


def test_summary_bad_key(ledger: UsageLedger) -> None:
    with pytest.raises(ValueError, match="summary"):
        ledger.summary(by="prompt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="summary"):
        ledger.summary(by=[])


def test_summary_of_empty_ledger(ledger: UsageLedger) -> None:
    s = ledger.summary()
    assert s.empty
    assert list(s.columns)[:2] == ["calls", "errors"]
    assert len(s.columns) == 13


# ---- export -------------------------------------------------------------------------------


def _filled(ledger: UsageLedger, make_rec: RecordFactory) -> pd.DataFrame:
    ledger.record(full_record())
    ledger.record(make_rec(model="b", credit=None, params={}, tag="x"))
    ledger.record(make_rec(model="c", credit=2.0, tag="x", params={"top_p": 0.9}))
    return ledger.to_dataframe()


def test_csv_round_trip(tmp_path: Path, ledger: UsageLedger, make_rec: RecordFactory) -> None:
    df = _filled(ledger, make_rec)
    out = tmp_path / "usage.csv"
    ledger.to_csv(out)
    back = pd.read_csv(out, keep_default_na=True)
    assert list(back.columns) == list(COLUMNS)
    assert list(back["id"]) == list(df["id"])
    assert (pd.to_datetime(back["ts"], utc=True, format="ISO8601") == df["ts"]).all()
    assert [json.loads(p) for p in back["params"]] == list(df["params"])
    np.testing.assert_array_equal(back["credit"].to_numpy(), df["credit"].to_numpy())
    assert list(back["model"]) == list(df["model"])


def test_csv_export_filters(tmp_path: Path, ledger: UsageLedger, make_rec: RecordFactory) -> None:
    _filled(ledger, make_rec)
    out = tmp_path / "x.csv"
    ledger.to_csv(out, tag="x", model="c")
    back = pd.read_csv(out)
    assert list(back["model"]) == ["c"]


def test_parquet_round_trip(tmp_path: Path, ledger: UsageLedger, make_rec: RecordFactory) -> None:
    df = _filled(ledger, make_rec)
    out = tmp_path / "usage.parquet"
    ledger.to_parquet(out)
    back = pd.read_parquet(out)
    assert list(back.columns) == list(COLUMNS)
    assert back["ts"].dtype == df["ts"].dtype
    assert (back["ts"] == df["ts"]).all()
    for c in ("credit", "cost", "latency_s"):
        np.testing.assert_array_equal(back[c].to_numpy(), df[c].to_numpy())
    for c in ("http_status", "retries"):
        assert back[c].dtype == "Int64"
        assert back[c].equals(df[c])
    assert list(back["model"].astype(str)) == list(df["model"].astype(str))
    assert [json.loads(p) for p in back["params"]] == list(df["params"])

    ledger.to_parquet(tmp_path / "f.parquet", model="b")
    assert len(pd.read_parquet(tmp_path / "f.parquet")) == 1


def test_parquet_without_pyarrow(
    tmp_path: Path, ledger: UsageLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    with pytest.raises(ImportError, match="pip install pyarrow"):
        ledger.to_parquet(tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
