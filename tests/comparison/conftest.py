"""Fixtures of the comparison tests: where a test's ledger lives."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file, or a new database on the test PostgreSQL server (tests/_postgres.py):
    the votes and cells tables, and resuming from them, work the same on both."""
    if request.param == "sqlite":
        return str(tmp_path / "usage.sqlite")
    return str(request.getfixturevalue("postgres_url"))
