"""Schema migrations and connection settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import qolaba_nb.ledger as ledger_mod
from qolaba_nb.ledger import COLUMNS, MIGRATIONS, UsageLedger, migrate

EXPECTED_COLUMNS = {
    "id": ("INTEGER", 0, 1),
    "ts": ("TEXT", 1, 0),
    "model": ("TEXT", 1, 0),
    "kind": ("TEXT", 1, 0),
    "status": ("TEXT", 1, 0),
    "http_status": ("INTEGER", 0, 0),
    "error": ("TEXT", 0, 0),
    "credit": ("REAL", 0, 0),
    "cost": ("REAL", 0, 0),
    "latency_s": ("REAL", 0, 0),
    "ttft_s": ("REAL", 0, 0),
    "prompt_chars": ("INTEGER", 0, 0),
    "completion_chars": ("INTEGER", 0, 0),
    "finish_reason": ("TEXT", 0, 0),
    "request_id": ("TEXT", 0, 0),
    "retries": ("INTEGER", 1, 0),
    "params": ("TEXT", 1, 0),
    "session": ("TEXT", 1, 0),
    "tag": ("TEXT", 0, 0),
    "run_id": ("TEXT", 0, 0),
    "prompt_text": ("TEXT", 0, 0),
    "completion_text": ("TEXT", 0, 0),
    "credit_source": ("TEXT", 0, 0),
    "replayed": ("INTEGER", 1, 0),
}


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()


def test_migrations_are_numbered_and_ordered() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert names[0] == "m001_initial"
    assert names == sorted(names)
    assert all(name[:4] == f"m{i:03d}" for i, name in enumerate(names, 1))


def test_migrate_empty_database(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "empty.sqlite")
    try:
        assert migrate(conn) == [name for name, _ in MIGRATIONS]

        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"calls", "_migrations", "totals", "holds", "votes", "cells"}

        info = conn.execute("PRAGMA table_info(calls)").fetchall()
        # (cid, name, type, notnull, default, pk)
        assert [r[1] for r in info] == list(COLUMNS)
        assert {r[1]: (r[2], r[3], r[5]) for r in info} == EXPECTED_COLUMNS

        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='calls'"
            )
        }
        assert {
            "ix_calls_ts",
            "ix_calls_session_tag",
            "ix_calls_run_id",
            "ix_calls_model_reported",
        } <= indexes
        cols = [r[2] for r in conn.execute("PRAGMA index_info(ix_calls_session_tag)")]
        assert cols == ["session", "tag"]

        applied = conn.execute("SELECT name, applied_at FROM _migrations ORDER BY id").fetchall()
        assert [a[0] for a in applied] == [name for name, _ in MIGRATIONS]
        assert all(a[1] for a in applied)
    finally:
        conn.close()


def test_migrate_twice_is_a_noop(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "twice.sqlite")
    try:
        migrate(conn)
        before = _schema(conn)
        rows_before = conn.execute("SELECT * FROM _migrations").fetchall()
        assert migrate(conn) == []
        assert _schema(conn) == before
        assert conn.execute("SELECT * FROM _migrations").fetchall() == rows_before
    finally:
        conn.close()


def test_reopening_a_ledger_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "re.sqlite"
    UsageLedger(path).close()
    with UsageLedger(path):
        pass
    conn = _connect(path)
    try:
        assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def m999_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    conn = _connect(tmp_path / "broken.sqlite")
    try:
        monkeypatch.setattr(ledger_mod, "MIGRATIONS", (*MIGRATIONS, ("m999_broken", m999_broken)))
        with pytest.raises(RuntimeError, match="boom"):
            migrate(conn)
        # All of the pending migrations are one transaction: nothing stays half applied.
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
        monkeypatch.undo()
        assert migrate(conn) == [name for name, _ in MIGRATIONS]
    finally:
        conn.close()


def test_file_ledger_uses_wal_and_busy_timeout(sqlite_ledger: UsageLedger) -> None:
    conn = sqlite_ledger._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # A bounded wait for another connection's lock: a row that cannot be written in that time
    # is spooled (issue 10), never stalls the call for 30 s.
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == sqlite_ledger.write_timeout_s * 1000
    assert 0 < sqlite_ledger.write_timeout_s <= 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "usage.sqlite"
    with UsageLedger(path) as led:
        assert led.path == str(path)
    assert path.exists()


def test_memory_ledger_is_not_wal() -> None:
    with UsageLedger(":memory:") as led:
        assert led.path == ":memory:"
        assert led._conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"


def test_m002_books_an_old_ledger_s_calls_into_the_running_totals(tmp_path: Path) -> None:
    """A ledger written before m002 keeps its spending: totals are filled from its rows."""
    path = tmp_path / "old.sqlite"
    conn = _connect(path)
    try:
        ledger_mod.migrate(conn, MIGRATIONS[:1])
        cols = "ts, model, kind, status, credit, cost, session, tag"
        conn.executemany(
            f"INSERT INTO calls ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("2025-01-01T00:00:00.000000+00:00", "m", "chat", "ok", 1.0, 0.1, "s1", None),
                ("2025-01-01T00:00:01.000000+00:00", "m", "chat", "ok", 2.0, None, "s1", "t"),
                ("2025-01-01T00:00:02.000000+00:00", "m", "chat", "ok", None, None, "s2", "t"),
            ],
        )
    finally:
        conn.close()
    with UsageLedger(path) as led:
        assert led.spent(session="all") == pytest.approx((3.0, 0.1))
        assert led.spent(session="s1", tag="t") == pytest.approx((2.0, 0.0))
        assert led.spent(session="s2") == (0.0, 0.0)
        assert led.expected_credit("other") == 2.0  # the largest reported credit
        sources = led._conn.execute("SELECT credit_source FROM calls ORDER BY id").fetchall()
        assert [s for (s,) in sources] == ["reported", "reported", None]
