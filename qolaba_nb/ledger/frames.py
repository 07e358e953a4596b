"""DataFrames and summaries (pandas is imported here, inside functions, never at import)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from .records import _PARAMS_ENCODER, COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUMMARY_COLUMNS", "SUMMARY_KEYS", "SummaryKey", "export_frame", "frame", "summarise"]

# DataFrame dtypes by column group (see UsageLedger.to_dataframe).
_FLOAT_COLUMNS: Final = ("credit", "cost", "latency_s", "ttft_s")
_INT_COLUMNS: Final = ("http_status", "prompt_chars", "completion_chars", "retries")
_CATEGORY_COLUMNS: Final = ("model", "status")
_STR_COLUMNS: Final = (
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

SummaryKey = Literal["model", "tag", "session", "status", "kind", "run_id"]
SUMMARY_KEYS: Final[frozenset[str]] = frozenset(
    {"model", "tag", "session", "status", "kind", "run_id"}
)
SUMMARY_COLUMNS: Final = (
    "calls",
    "errors",
    "credit",
    "cost",
    "latency_mean",
    "latency_p50",
    "latency_p95",
    "ttft_mean",
    "ttft_p50",
    "ttft_p95",
)


def _parse_params(texts: Sequence[str | None]) -> list[dict[str, Any]]:
    # Most calls share a handful of parameter sets: parse each distinct text once, and hand
    # every row its own shallow copy so editing one row's dict cannot change another's.
    cache: dict[str | None, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for t in texts:
        d = cache.get(t)
        if d is None:
            d = json.loads(t) if t else {}
            cache[t] = d
        out.append(d.copy())
    return out


def frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """``calls`` rows (all :data:`COLUMNS`, in order) as a typed DataFrame."""
    import numpy as np
    import pandas as pd

    n = len(rows)
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if n else [()] * len(COLUMNS)
    raw = dict(zip(COLUMNS, cols, strict=True))
    data: dict[str, Any] = {"id": np.fromiter(raw["id"], dtype=np.int64, count=n)}
    # ts is always written in one fixed ISO format, which pandas parses on its fast path.
    data["ts"] = pd.to_datetime(list(raw["ts"]), format="ISO8601", utc=True).as_unit("ns")
    for c in _CATEGORY_COLUMNS:
        data[c] = pd.Categorical(
            pd.array(list(raw[c]), dtype="str")
        )  # str categories even when empty
    for c in _FLOAT_COLUMNS:
        data[c] = np.array(raw[c], dtype=np.float64)  # None -> NaN
    for c in _INT_COLUMNS:
        data[c] = pd.array(list(raw[c]), dtype="Int64")
    for c in _STR_COLUMNS:
        data[c] = pd.array(list(raw[c]), dtype="str")
    params = np.empty(n, dtype=object)
    params[:] = _parse_params(raw["params"])
    data["params"] = params
    return pd.DataFrame({c: data[c] for c in COLUMNS})


def summarise(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per-group calls, errors, spending and latency percentiles of a :func:`frame`."""
    import pandas as pd

    df = df.assign(_error=(df["status"] != "ok").astype("int64"))
    g = df.groupby(keys, observed=True, dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "calls": g.size().astype("int64"),
            "errors": g["_error"].sum().astype("int64"),
            # min_count=1: no known amount gives NaN, not a misleading 0.
            "credit": g["credit"].sum(min_count=1),
            "cost": g["cost"].sum(min_count=1),
            "latency_mean": g["latency_s"].mean(),
            "latency_p50": g["latency_s"].quantile(0.5),
            "latency_p95": g["latency_s"].quantile(0.95),
            "ttft_mean": g["ttft_s"].mean(),
            "ttft_p50": g["ttft_s"].quantile(0.5),
            "ttft_p95": g["ttft_s"].quantile(0.95),
        }
    )
    out = out.astype({c: "float64" for c in SUMMARY_COLUMNS[2:]})
    return out[list(SUMMARY_COLUMNS)]


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with ``params`` as JSON text, for CSV and Parquet."""
    out = df.copy()
    out["params"] = [_PARAMS_ENCODER.encode(p) for p in df["params"]]
    return out
