"""Row encoding: a :class:`~qolaba_nb._record.CallRecord` as the values of one ``calls`` row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from .._record import CallRecord

__all__ = ["COLUMNS", "credit_source", "encode_row", "utc_iso"]

#: Every column of the ``calls`` table, in table and DataFrame order.
COLUMNS: Final[tuple[str, ...]] = (
    "id",
    "ts",
    "model",
    "kind",
    "status",
    "http_status",
    "error",
    "credit",
    "cost",
    "latency_s",
    "ttft_s",
    "prompt_chars",
    "completion_chars",
    "finish_reason",
    "request_id",
    "retries",
    "params",
    "session",
    "tag",
    "run_id",
    "prompt_text",
    "completion_text",
    "credit_source",
    "replayed",
)
_INSERT_COLUMNS: Final = COLUMNS[1:]  # id is assigned by the database
_INSERT_SQL: Final = (
    f"INSERT INTO calls ({', '.join(_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
)


def _json_default(obj: Any) -> Any:
    # numpy scalars and the like have .item(); anything else is kept readable as text.
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    return str(obj)


# One encoder for every row: json.dumps() with options builds a new encoder on every call.
# sort_keys: equal parameters give equal text, so they group and compare as text.
_PARAMS_ENCODER: Final = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, default=_json_default
)


def utc_iso(ts: datetime) -> str:
    """Fixed-width UTC ISO text so that text order is time order (naive means UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    elif ts.utcoffset():
        ts = ts.astimezone(UTC)
    return ts.isoformat(timespec="microseconds")


def encode_row(rec: CallRecord, *, store_text: bool) -> tuple[Any, ...]:
    """The values of ``rec``'s row, in :data:`_INSERT_COLUMNS` order (texts only if asked)."""
    params = rec.params
    return (
        utc_iso(rec.ts),
        rec.model,
        rec.kind,
        rec.status,
        rec.http_status,
        rec.error,
        rec.credit,
        rec.cost,
        rec.latency_s,
        rec.ttft_s,
        rec.prompt_chars,
        rec.completion_chars,
        rec.finish_reason,
        rec.request_id,
        rec.retries,
        _PARAMS_ENCODER.encode(params) if params else "{}",
        rec.session,
        rec.tag,
        rec.run_id,
        rec.prompt_text if store_text else None,
        rec.completion_text if store_text else None,
        credit_source(rec),
        1 if rec.replayed else 0,
    )


def credit_source(rec: CallRecord) -> str | None:
    """``rec.credit_source``, or ``"reported"`` for a known credit whose source was not said."""
    if rec.credit_source is not None:
        return rec.credit_source
    return "reported" if rec.credit is not None else None
