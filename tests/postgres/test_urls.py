"""PostgreSQL URLs: recognised, and shown without their password."""

from __future__ import annotations

import pytest

from qolaba_nb.ledger._postgres import is_postgres_url, redact_url


@pytest.mark.parametrize(
    "target",
    ["postgresql://u@h/db", "postgres://h/db", "POSTGRESQL://h/db", "postgresql:///db"],
)
def test_postgres_urls_are_recognised(target: str) -> None:
    assert is_postgres_url(target)


@pytest.mark.parametrize(
    "target", ["usage.sqlite", ":memory:", "/tmp/postgresql/usage.sqlite", "postgresql:x"]
)
def test_paths_are_not_urls(target: str) -> None:
    assert not is_postgres_url(target)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://ann:s3cr%40t@db.example:5432/team",
            "postgresql://ann:***@db.example:5432/team",
        ),
        ("postgresql://ann@db.example/team", "postgresql://ann@db.example/team"),
        ("postgresql://db.example/team", "postgresql://db.example/team"),
        (
            "postgresql://ann@h/team?sslmode=require&password=hunter2&connect_timeout=3",
            "postgresql://ann@h/team?sslmode=require&password=***&connect_timeout=3",
        ),
        ("postgres://a:b@h1:5432,h2:5433/t", "postgres://a:***@h1:5432,h2:5433/t"),
        ("postgresql://ann:@h/t", "postgresql://ann:***@h/t"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
