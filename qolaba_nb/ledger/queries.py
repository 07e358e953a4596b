"""Reading: filters as SQL, and the statements the ledger runs (``?`` placeholders, any dialect).

Every statement here is plain SQL that SQLite and PostgreSQL both accept once
:meth:`~.backends.Dialect.sql` has translated its placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._record import SESSION_ID
from .backends import Dialect
from .records import utc_iso

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FilterValue",
    "and_where",
    "since_to_datetime",
    "spent_query",
    "summary_query",
    "summary_rows_query",
    "where_clause",
]

FilterValue = str | Sequence[str] | None

_HAS_UNIT = re.compile(r"[A-Za-z]")


def since_to_datetime(since: datetime | timedelta | str | pd.Timedelta) -> datetime:
    """A ``since=`` argument as an aware UTC datetime."""
    # pd.Timestamp is a datetime and pd.Timedelta a timedelta: no pandas needed for them.
    if isinstance(since, datetime):
        return since if since.tzinfo is not None else since.replace(tzinfo=UTC)
    if isinstance(since, str):
        text = since.strip()
        try:
            return since_to_datetime(datetime.fromisoformat(text))
        except ValueError:
            pass
        # pd.Timedelta("5") would silently mean 5 nanoseconds: demand a unit.
        if not _HAS_UNIT.search(text):
            raise ValueError(
                f"since={since!r} is neither an ISO date/time nor a duration like '1h' or '30min'"
            )
        import pandas as pd

        try:
            since = pd.Timedelta(text).to_pytimedelta()
        except ValueError as e:
            raise ValueError(
                f"since={since!r} is neither an ISO date/time nor a duration like '1h' or '30min'"
            ) from e
    if isinstance(since, timedelta):
        if since < timedelta(0):
            raise ValueError(f"since= as a duration must be positive, not {since!r}")
        return datetime.now(UTC) - since
    raise TypeError(f"since= takes a datetime, an ISO string or a duration, not {since!r}")


def where_clause(
    since: datetime | timedelta | str | pd.Timedelta | None,
    model: FilterValue,
    tag: FilterValue,
    session: FilterValue,
    run_id: FilterValue,
    *,
    include_replayed: bool = True,
    after_id: int | None = None,
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (or ``""``) and its arguments for the reading methods' filters."""
    clauses: list[str] = []
    args: list[Any] = []
    if not include_replayed:
        clauses.append("replayed = 0")
    if after_id is not None:
        clauses.append("id > ?")
        args.append(int(after_id))
    if since is not None:
        clauses.append("ts >= ?")
        args.append(utc_iso(since_to_datetime(since)))
    for column, value in (
        ("model", model),
        ("tag", tag),
        ("session", session),
        ("run_id", run_id),
    ):
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        if column == "session":
            values = [SESSION_ID if v == "current" else v for v in values]
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        args.extend(values)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def spent_query(session: str | None, tag: str | None) -> tuple[str, list[Any]]:
    """``SELECT`` of the credit and cost recorded for a session (None: all) and tag (None: all)."""
    clauses, args = [], []
    if session is not None:
        clauses.append("session = ?")
        args.append(session)
    if tag is not None:
        clauses.append("tag = ?")
        args.append(tag)
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    # COALESCE(SUM()): 0.0 for no rows, where SUM() alone would give NULL.
    return f"SELECT COALESCE(SUM(credit), 0.0), COALESCE(SUM(cost), 0.0) FROM calls{where}", args


def summary_query(keys: Sequence[str], where: str, dialect: Dialect) -> str:
    """The statement of ``summary(by=keys)``: one ``GROUP BY`` pass over the calls.

    ``keys`` must be checked names of ``calls`` columns. It gives, per group, the keys, then
    calls, errors, credit, reported credit, estimated credit, cost, sum and count of
    ``latency_s`` and of ``ttft_s``, and the latencies and TTFTs as comma-separated text
    (:attr:`~.backends.Dialect.float_list`) for the percentiles.
    """
    k = ", ".join(keys)
    return (
        f"SELECT {k}, COUNT(*), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), SUM(credit),"
        " SUM(CASE WHEN credit_source = 'reported' THEN credit END),"
        " SUM(CASE WHEN credit_source = 'estimated' THEN credit END), SUM(cost),"
        " SUM(latency_s), COUNT(latency_s), SUM(ttft_s), COUNT(ttft_s),"
        f" {dialect.float_list.format('latency_s')}, {dialect.float_list.format('ttft_s')}"
        f" FROM calls{where} GROUP BY {k}"
    )


def and_where(where: str, condition: str) -> str:
    """``where`` (a clause from :func:`where_clause`, maybe empty) with ``condition`` added."""
    return f"{where} AND {condition}" if where else f" WHERE {condition}"


def summary_rows_query(keys: Sequence[str], where: str) -> str:
    """New calls for :meth:`~.frames.SummaryState.add_rows`, each row ending with its id."""
    k = ", ".join(keys)
    return (
        f"SELECT {k}, status, credit, credit_source, cost, latency_s, ttft_s, id"
        f" FROM calls{where} ORDER BY id"
    )
