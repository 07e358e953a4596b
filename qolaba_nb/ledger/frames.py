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
    "SummaryState",
    "export_frame",
    "frame",
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


class SummaryState:
    """The running numbers behind ``summary()``: per-group sums plus each group's timings.

    Filled once from the database (:meth:`add_sums`, :meth:`add_timings`: a ``GROUP BY`` and
    one pass over two float columns), then kept up to date from new rows (:meth:`add_rows`),
    so a dashboard never aggregates the whole ledger twice. Memory: a few numbers per group
    and 16 bytes per timed call, never a Python object per row.

    Parameters
    ----------
    keys
        The grouping columns, as in ``summary(by=...)``.
    """

    # Per group: calls, errors, credit, reported, estimated, cost (None until one is known),
    # then sum and count of latency_s and of ttft_s.
    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self.groups: dict[tuple[Any, ...], list[Any]] = {}
        self.timings: dict[tuple[Any, ...], tuple[array[float], array[float]]] = {}

    def add_sums(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add the rows of :func:`~.queries.summary_queries`' ``GROUP BY`` statement."""
        nk = len(self.keys)
        for row in rows:
            key = tuple(row[:nk])
            g = self.groups.get(key)
            if g is None:
                self.groups[key] = list(row[nk:])
                continue
            for i, v in enumerate(row[nk:]):
                if v is not None:
                    g[i] = v if g[i] is None else g[i] + v

    def add_timings(self, cursor: Any, chunk: int = 8192) -> None:
        """Read ``(keys..., latency_s, ttft_s)`` rows from ``cursor``, ``chunk`` at a time."""
        nk = len(self.keys)
        timings = self.timings
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                return
            for row in rows:
                key = tuple(row[:nk])
                bucket = timings.get(key)
                if bucket is None:
                    bucket = timings[key] = (array("d"), array("d"))
                lat, ttft = row[nk], row[nk + 1]
                if lat is not None:
                    bucket[0].append(lat)
                if ttft is not None:
                    bucket[1].append(ttft)

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add calls given as ``(keys..., status, credit, credit_source, cost, latency_s,
        ttft_s)`` (the rows of :func:`~.queries.summary_rows_query`)."""
        nk = len(self.keys)
        for row in rows:
            key = tuple(row[:nk])
            status, credit, source, cost, lat, ttft = row[nk:]
            self.add_sums(
                [
                    (
                        *key,
                        1,
                        0 if status == "ok" else 1,
                        credit,
                        credit if source == "reported" else None,
                        credit if source == "estimated" else None,
                        cost,
                        lat,
                        0 if lat is None else 1,
                        ttft,
                        0 if ttft is None else 1,
                    )
                ]
            )
            bucket = self.timings.get(key)
            if bucket is None:
                bucket = self.timings[key] = (array("d"), array("d"))
            if lat is not None:
                bucket[0].append(lat)
            if ttft is not None:
                bucket[1].append(ttft)

    def frame(self) -> pd.DataFrame:
        """The summary as ``summary()`` returns it."""
        import numpy as np
        import pandas as pd

        nan = float("nan")

        def pcts(values: array[float]) -> tuple[float, float]:
            if not values:
                return (nan, nan)
            p50, p95 = np.percentile(np.frombuffer(values, dtype=np.float64), [50, 95])
            return float(p50), float(p95)

        def mean(total: Any, n: Any) -> float:
            return float(total) / n if n else nan

        empty: tuple[array[float], array[float]] = (array("d"), array("d"))
        records = []
        for key, g in self.groups.items():
            calls, errors, credit, reported, estimated, cost, lat_s, lat_n, ttft_s, ttft_n = g
            lat, ttft = self.timings.get(key, empty)
            sums = (calls, errors, credit, reported, estimated, cost)
            timing = (mean(lat_s, lat_n), *pcts(lat), mean(ttft_s, ttft_n), *pcts(ttft))
            records.append((*key, *sums, *timing))
        keys = self.keys
        df = pd.DataFrame.from_records(records, columns=[*keys, *SUMMARY_COLUMNS])
        df = df.astype({"calls": "int64", "errors": "int64"})
        df = df.astype({c: "float64" for c in SUMMARY_COLUMNS[2:]})
        for k in keys:
            df[k] = df[k].astype(object).where(df[k].notna(), np.nan)
        return df.set_index(keys).sort_index(na_position="last")


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with ``params`` as JSON text, for CSV and Parquet."""
    out = df.copy()
    out["params"] = [_PARAMS_ENCODER.encode(p) for p in df["params"]]
    return out
