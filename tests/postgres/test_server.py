"""The test server itself: reachable with the password, one database per test."""

from __future__ import annotations

import psycopg
import pytest

from tests._postgres import PostgresServer


def test_url_connects_with_its_password(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("qolaba",)


def test_wrong_password_is_refused(postgres_server: PostgresServer, postgres_db: str) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres_server.url(postgres_db, password="not-it"))


def test_each_test_gets_an_empty_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE leftover (x int)")
