"""Schema migrations: numbered, ordered, append-only, applied in one transaction.

Each migration is a function of one :class:`Schema` (a connection plus its
:class:`~.backends.Dialect`), registered in :data:`MIGRATIONS`. Never edit a released migration:
append ``m00N_...`` instead. Column types come from the dialect (``db.dialect.pk``,
``db.dialect.real``), so one migration serves every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from .backends import SQLITE, Dialect

__all__ = [
    "MIGRATIONS",
    "Migration",
    "Schema",
    "apply_migrations",
    "fill_totals",
    "m001_initial",
    "m002_money",
]


@dataclass(frozen=True, slots=True)
class Schema:
    """What a migration gets: ``execute`` (``?`` placeholders) and the dialect for types."""

    conn: Any
    dialect: Dialect = SQLITE

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement, its placeholders translated for the dialect."""
        return self.conn.execute(self.dialect.sql(sql), tuple(args))


Migration = Callable[[Schema], None]


def m001_initial(db: Schema) -> None:
    """The ``calls`` table and its indexes."""
    d = db.dialect
    # No CHECK constraints on kind/status: SQLite cannot alter a CHECK without rebuilding the
    # table, and a newer client with a new status value must still be able to record its calls.
    db.execute(
        f"""
        CREATE TABLE calls (
            id               {d.pk},
            ts               TEXT    NOT NULL,  -- UTC ISO-8601, microseconds: sorts as text
            model            TEXT    NOT NULL,
            kind             TEXT    NOT NULL,  -- chat | stream
            status           TEXT    NOT NULL,  -- ok | api_error | connection_error | ...
            http_status      INTEGER,
            error            TEXT,
            credit           {d.real},              -- NULL when unknown, never 0 for unknown
            cost             {d.real},              -- USD; NULL when unknown
            latency_s        {d.real},
            ttft_s           {d.real},
            prompt_chars     INTEGER,
            completion_chars INTEGER,
            finish_reason    TEXT,
            request_id       TEXT,
            retries          INTEGER NOT NULL DEFAULT 0,
            params           TEXT    NOT NULL DEFAULT '{{}}',  -- JSON
            session          TEXT    NOT NULL,
            tag              TEXT,
            run_id           TEXT,
            prompt_text      TEXT,              -- only with store_text=True
            completion_text  TEXT
        )
        """
    )
    # Every index is one more B-tree written per insert (five of them doubled the cost of a
    # bulk insert and quadrupled a single committed one), so only the selective ones:
    # ts for since=, (session, tag) for the budget query that runs before every call, run_id
    # for one comparison run. model/tag filters keep most rows anyway; a scan is as fast.
    db.execute("CREATE INDEX ix_calls_ts ON calls (ts)")
    db.execute("CREATE INDEX ix_calls_session_tag ON calls (session, tag)")
    db.execute("CREATE INDEX ix_calls_run_id ON calls (run_id)")


def fill_totals(db: Schema) -> None:
    """Add every non-replayed call's credit and cost to the (empty) ``totals`` table.

    Used by ``m002_money`` on an existing ledger, and by anything that bulk-loads ``calls``.
    """
    scopes = (
        ("'*'", "'*'", ""),
        ("'=' || session", "'*'", ""),
        ("'*'", "'=' || tag", " AND tag IS NOT NULL"),
        ("'=' || session", "'=' || tag", " AND tag IS NOT NULL"),
    )
    for ss, st, extra in scopes:
        db.execute(
            f"""
            INSERT INTO totals (scope_session, scope_tag, credit, estimated_credit, cost,
                                max_credit)
            SELECT {ss}, {st}, COALESCE(SUM(credit), 0),
                   COALESCE(SUM(CASE WHEN credit_source = 'estimated' THEN credit END), 0),
                   COALESCE(SUM(cost), 0),
                   MAX(CASE WHEN credit_source = 'reported' THEN credit END)
            FROM calls WHERE (credit IS NOT NULL OR cost IS NOT NULL) AND replayed = 0{extra}
            GROUP BY 1, 2  -- by position: PostgreSQL refuses constants as keys
            """
        )


def m002_money(db: Schema) -> None:
    """Where each credit came from, replayed calls, running totals and holds.

    * ``calls.credit_source``: ``reported`` (the server's usage), ``estimated``, or NULL
      (nothing known); ``calls.replayed``: 1 for a call served by ``Client(replay=...)``.
    * ``totals``: the spending of every budget scope, kept in the same transaction as each
      insert, so a budget check reads one row instead of scanning history. A scope is a
      ``(scope_session, scope_tag)`` pair, each ``'*'`` (every session / every tag) or
      ``'='`` followed by the value; every non-replayed call adds to the four (or, without a
      tag, two) scopes that contain it.
    * ``holds``: credits set aside for calls in flight, each with a lease (``expires_at``,
      seconds since the epoch) and the process that took it (``host``, ``pid``).
    * ``ix_calls_model_reported``: the recent reported history of one model, for the
      expected credit of its next call.
    """
    d = db.dialect
    db.execute("ALTER TABLE calls ADD COLUMN credit_source TEXT")
    db.execute("ALTER TABLE calls ADD COLUMN replayed INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE calls SET credit_source = 'reported' WHERE credit IS NOT NULL")
    db.execute(
        f"""
        CREATE TABLE totals (
            scope_session    TEXT NOT NULL,
            scope_tag        TEXT NOT NULL,
            credit           {d.real} NOT NULL DEFAULT 0,  -- reported + estimated
            estimated_credit {d.real} NOT NULL DEFAULT 0,
            cost             {d.real} NOT NULL DEFAULT 0,
            max_credit       {d.real},                      -- largest reported credit
            PRIMARY KEY (scope_session, scope_tag)
        )
        """
    )
    fill_totals(db)
    db.execute(
        f"""
        CREATE TABLE holds (
            id         {d.pk},
            credits    {d.real} NOT NULL,
            tag        TEXT,
            session    TEXT NOT NULL,
            pid        INTEGER NOT NULL,
            host       TEXT NOT NULL,
            created_at {d.real} NOT NULL,
            expires_at {d.real} NOT NULL
        )
        """
    )
    db.execute(
        "CREATE INDEX ix_calls_model_reported ON calls (model, id)"
        " WHERE credit_source = 'reported' AND replayed = 0"
    )


def _m003_votes_and_cells(db: Schema) -> None:
    """The ``votes`` and ``cells`` tables of comparisons (see ``comparisons.py``)."""
    from .comparisons import m003_votes_and_cells

    m003_votes_and_cells(db)


def _m004_cell_credit_source(db: Schema) -> None:
    """``cells.credit_source`` (see ``comparisons.py``)."""
    from .comparisons import m004_cell_credit_source

    m004_cell_credit_source(db)


#: Ordered, append-only. Never edit a released migration: add ``m00N_...`` instead (the next
#: free number after the last entry; votes and cells tables come after ``m002_money``).
MIGRATIONS: Final[tuple[tuple[str, Migration], ...]] = (
    ("m001_initial", m001_initial),
    ("m002_money", m002_money),
    ("m003_votes_and_cells", _m003_votes_and_cells),
    ("m004_cell_credit_source", _m004_cell_credit_source),
)


def _applied(db: Schema, is_missing_table: Callable[[Exception], bool]) -> set[str]:
    try:
        return {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
    except Exception as e:
        if is_missing_table(e):
            return set()  # a new, empty database
        raise


def _sqlite_missing_table(exc: Exception) -> bool:
    return "no such table" in str(exc)


def apply_migrations(
    conn: Any,
    migrations: Sequence[tuple[str, Migration]],
    *,
    dialect: Dialect = SQLITE,
    is_missing_table: Callable[[Exception], bool] = _sqlite_missing_table,
) -> list[str]:
    """Apply the ``migrations`` that ``conn``'s database lacks; return their names.

    Parameters
    ----------
    conn
        An autocommit DB-API connection.
    migrations
        ``(name, function)`` pairs in order.
    dialect
        The engine's :class:`~.backends.Dialect`.
    is_missing_table
        Whether an exception from a query says the table does not exist (engine-specific).

    Returns
    -------
    list of str
        The names applied now; empty when the database was up to date.
    """
    db = Schema(conn, dialect)
    # Fast path, a plain read: an up-to-date database (the usual case) takes no write lock, so
    # opening a ledger never waits behind another process's writes.
    if {name for name, _ in migrations} <= _applied(db, is_missing_table):
        return []
    applied_now: list[str] = []
    conn.execute(dialect.begin_write)
    try:
        if dialect.lock_budget:
            conn.execute(dialect.lock_budget)
        db.execute(
            f"CREATE TABLE IF NOT EXISTS _migrations ("
            f" id {dialect.pk}, name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL)"
        )
        done = _applied(db, is_missing_table)  # again, under the lock: another process may have won
        for name, apply in migrations:
            if name in done:
                continue
            apply(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            applied_now.append(name)
        # Names in `done` we do not know come from a newer qolaba_nb. Migrations only add, so
        # this version can still read and write the columns it knows.
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied_now
