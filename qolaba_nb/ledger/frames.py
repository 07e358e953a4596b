"""DataFrames and summaries (pandas is imported here, inside functions, never at import)."""

from __future__ import annotations

import json
from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from .records import _PARAMS_ENCODER, COLUMNS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SUMMARY_COLUMNS",
    "SUMMARY_KEYS",
    "SummaryKey",
    "collect_timings",
    "export_frame",
    "frame",
    "summary_frame",
]

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
    "credit_source",
)

SummaryKey = Literal["model", "tag", "session", "status", "kind", "run_id"]
SUMMARY_KEYS: Final[frozenset[str]] = frozenset(
    {"model", "tag", "session", "status", "kind", "run_id"}
)
SUMMARY_COLUMNS: Final = (
    "calls",
    "errors",
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


def frame(rows: Sequence[tuple[Any, ...]], columns: Sequence[str] = COLUMNS) -> pd.DataFrame:
    """``calls`` rows (the values of ``columns``, in order) as a typed DataFrame."""
    import numpy as np
    import pandas as pd

    n = len(rows)
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if n else [()] * len(columns)
    raw = dict(zip(columns, cols, strict=True))
    data: dict[str, Any] = {}
    for c, values in raw.items():
        if c == "id":
            data[c] = np.fromiter(values, dtype=np.int64, count=n)
        elif c == "ts":
            # ts is always written in one fixed ISO format: pandas parses it on its fast path.
            data[c] = pd.to_datetime(list(values), format="ISO8601", utc=True).as_unit("ns")
        elif c in _CATEGORY_COLUMNS:
            data[c] = pd.Categorical(pd.array(list(values), dtype="str"))  # str even when empty
        elif c in _FLOAT_COLUMNS:
            data[c] = np.array(values, dtype=np.float64)  # None -> NaN
        elif c in _INT_COLUMNS:
            data[c] = pd.array(list(values), dtype="Int64")
        elif c == "replayed":
            data[c] = np.array(values, dtype=bool)
        elif c == "params":
            params = np.empty(n, dtype=object)
            params[:] = _parse_params(values)
            data[c] = params
        else:
            data[c] = pd.array(list(values), dtype="str")
    return pd.DataFrame({c: data[c] for c in columns})


Timings = dict[tuple[Any, ...], tuple["array[float]", "array[float]"]]


def collect_timings(cursor: Any, nkeys: int, chunk: int = 8192) -> Timings:
    """Read ``(keys..., latency_s, ttft_s)`` rows into two float arrays per group.

    16 bytes per timed call at most, never a Python object per row kept: the memory of a
    summary of a million calls stays in the tens of megabytes.
    """
    out: Timings = {}
    while True:
        rows = cursor.fetchmany(chunk)
        if not rows:
            return out
        for row in rows:
            key = row[:nkeys]
            bucket = out.get(key)
            if bucket is None:
                bucket = out[key] = (array("d"), array("d"))
            lat, ttft = row[nkeys], row[nkeys + 1]
            if lat is not None:
                bucket[0].append(lat)
            if ttft is not None:
                bucket[1].append(ttft)


def summary_frame(
    keys: Sequence[str], sums: Sequence[tuple[Any, ...]], timings: Timings
) -> pd.DataFrame:
    """The frame of ``summary()`` from its ``GROUP BY`` rows and its per-group timings."""
    import numpy as np
    import pandas as pd

    nk = len(keys)
    nan = float("nan")

    def pcts(values: array[float]) -> tuple[float, float]:
        if not values:
            return (nan, nan)
        p50, p95 = np.percentile(np.frombuffer(values, dtype=np.float64), [50, 95])
        return float(p50), float(p95)

    records = []
    for row in sums:
        key = tuple(row[:nk])
        calls, errors, credit, reported, estimated, cost, lat_mean, ttft_mean = row[nk:]
        lat, ttft = timings.get(key, (array("d"), array("d")))
        lat50, lat95 = pcts(lat)
        ttft50, ttft95 = pcts(ttft)
        sums_part = (calls, errors, credit, reported, estimated, cost)
        timing_part = (lat_mean, lat50, lat95, ttft_mean, ttft50, ttft95)
        records.append((*key, *sums_part, *timing_part))
    df = pd.DataFrame.from_records(records, columns=[*keys, *SUMMARY_COLUMNS])
    df = df.astype({"calls": "int64", "errors": "int64"})
    df = df.astype({c: "float64" for c in SUMMARY_COLUMNS[2:]})
    for k in keys:
        df[k] = df[k].astype(object).where(df[k].notna(), np.nan)
    df = df.set_index(list(keys)).sort_index(na_position="last")
    return df


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with ``params`` as JSON text, for CSV and Parquet."""
    out = df.copy()
    out["params"] = [_PARAMS_ENCODER.encode(p) for p in df["params"]]
    return out
