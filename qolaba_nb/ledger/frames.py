"""DataFrames and summaries (pandas is imported here, inside functions, never at import)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from .records import _PARAMS_ENCODER, COLUMNS

if TYPE_CHECKING:
    import numpy as np
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

    Filled once from the database (:meth:`add_sums`: one ``GROUP BY`` that also joins each
    group's timings into text), then kept up to date from new rows (:meth:`add_rows`), so a
    dashboard never aggregates the whole ledger twice. Memory: a few numbers per group and
    16 bytes per timed call, never a Python object per row.

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
        # Per group: the known latencies and TTFTs, as chunks (joined when a frame is made).
        self.timings: dict[tuple[Any, ...], tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def add_sums(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add the rows of :func:`~.queries.summary_query` (timings as comma-separated text)."""
        import numpy as np

        nk = len(self.keys)
        for row in rows:
            key = tuple(row[:nk])
            *sums, lat_text, ttft_text = row[nk:]
            self._add(key, sums)
            lats, ttfts = self.timings.setdefault(key, ([], []))
            for text, store in ((lat_text, lats), (ttft_text, ttfts)):
                if text:
                    store.append(np.fromstring(text, dtype=np.float64, sep=","))

    def _add(self, key: tuple[Any, ...], sums: Sequence[Any]) -> None:
        g = self.groups.get(key)
        if g is None:
            self.groups[key] = list(sums)
            return
        for i, v in enumerate(sums):
            if v is not None:
                g[i] = v if g[i] is None else g[i] + v

    def add_rows(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add calls given as ``(keys..., status, credit, credit_source, cost, latency_s,
        ttft_s)`` (the rows of :func:`~.queries.summary_rows_query`, without the id)."""
        import numpy as np

        nk = len(self.keys)
        for row in rows:
            key = tuple(row[:nk])
            status, credit, source, cost, lat, ttft = row[nk:]
            sums = (
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
            self._add(key, sums)
            lats, ttfts = self.timings.setdefault(key, ([], []))
            if lat is not None:
                lats.append(np.array([lat], dtype=np.float64))
            if ttft is not None:
                ttfts.append(np.array([ttft], dtype=np.float64))

    def frame(self) -> pd.DataFrame:
        """The summary as ``summary()`` returns it."""
        import numpy as np
        import pandas as pd

        nan = float("nan")

        def pcts(chunks: list[np.ndarray]) -> tuple[float, float]:
            if not chunks:
                return (nan, nan)
            if len(chunks) > 1:  # join once: later frames reuse the joined array
                chunks[:] = [np.concatenate(chunks)]
            p50, p95 = np.percentile(chunks[0], [50, 95])
            return float(p50), float(p95)

        def mean(total: Any, n: Any) -> float:
            return float(total) / n if n else nan

        empty: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
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
