"""Fixtures for the ledger tests: a fresh file ledger per test, a record factory, and an
environment that never points at the developer's real ledger."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import qolaba_nb.ledger as ledger_mod
from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import UsageLedger

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("writer_proc.py")

RecordFactory = Callable[..., CallRecord]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """HOME and XDG point into tmp_path; the default-ledger singleton is reset afterwards."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("QOLABA_NB_LEDGER", str(tmp_path / "env-ledger.sqlite"))
    yield
    if ledger_mod._default is not None:
        ledger_mod._default.close()
        ledger_mod._default = None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's ledger lives: a new SQLite file, or a new database on the test
    PostgreSQL server (tests/_postgres.py). Tests that take it run once for each."""
    if request.param == "sqlite":
        return str(tmp_path / "usage.sqlite")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def ledger(ledger_target: str) -> Iterator[UsageLedger]:
    with UsageLedger(ledger_target) as led:
        yield led


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[UsageLedger]:
    """A file ledger, for the tests of what only SQLite has (WAL, pragmas, the file)."""
    with UsageLedger(tmp_path / "usage.sqlite") as led:
        yield led


@pytest.fixture
def make_rec() -> RecordFactory:
    """CallRecord with sensible defaults; ``ts`` defaults to ``now - age`` seconds."""

    def make(age: float = 0.0, **kw: Any) -> CallRecord:
        kw.setdefault("model", "gpt-4o-mini")
        kw.setdefault("kind", "chat")
        kw.setdefault("status", "ok")
        kw.setdefault("ts", datetime.now(UTC) - timedelta(seconds=age))
        return CallRecord(**kw)

    return make


def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes: the repo importable, warnings loud."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONWARNINGS"] = "error"
    return env


def writer_cmd(
    db: str | Path, n: int, tag: str, *, delay: float = 0.0, wait: bool = False
) -> list[str]:
    cmd = [sys.executable, str(WRITER), str(db), str(n), tag, str(delay)]
    return [*cmd, "wait"] if wait else cmd
