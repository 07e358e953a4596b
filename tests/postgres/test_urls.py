"""PostgreSQL URLs: recognised as ledger targets (how they are shown: tests/security)."""

from __future__ import annotations

import pytest

from qolaba_nb.ledger._postgres import is_postgres_url


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
