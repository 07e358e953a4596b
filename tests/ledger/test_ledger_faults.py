"""The ledger never costs a reply (issue 10): unopenable files, foreign databases, locks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import qolaba_nb as q
from qolaba_nb.ledger import LedgerError, UsageLedger
from qolaba_nb.ledger.spool import spool_dir
from qolaba_nb.simulator import Simulator

from .conftest import RecordFactory, subprocess_env

SPOOLER = Path(__file__).with_name("spooler_proc.py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


# ---- files that are not ledgers -----------------------------------------------------------


def test_a_garbage_file_is_a_clear_error_and_stays_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite"
    path.write_bytes(b"this is not a database at all " * 100)
    before = _digest(path)
    with pytest.raises(LedgerError) as info:
        UsageLedger(path)
    assert str(path) in str(info.value) and "not a database" in str(info.value)
    assert "QOLABA_NB_LEDGER" in str(info.value)  # the fix
    assert info.value.path == str(path)
    assert _digest(path) == before
    assert not Path(f"{path}-wal").exists()


def test_another_application_s_database_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('mine')")
    conn.commit()
    conn.close()
    before = _digest(path)
    with pytest.raises(LedgerError, match=r"not a qolaba_nb ledger .*notes.*Nothing in it"):
        UsageLedger(path)
    assert _digest(path) == before  # no WAL switch (a header change), no tables added
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert tables == ["notes"]
    finally:
        conn.close()


def test_an_empty_file_becomes_a_ledger(tmp_path: Path, make_rec: RecordFactory) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with UsageLedger(path) as ledger:
        ledger.record(make_rec(credit=1.0))
        assert len(ledger) == 1


def test_a_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match=r"cannot open the usage ledger .*a-file"):
        UsageLedger(blocker / "usage.sqlite")


def test_an_unwritable_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A directory nobody may write in (root ignores permissions: an immutable directory)."""
    locked = tmp_path / "ro"
    locked.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(locked)], check=True)
    else:
        locked.chmod(0o555)
    try:
        with pytest.raises(LedgerError, match=r"cannot open the usage ledger .*ro/usage.sqlite"):
            UsageLedger(locked / "usage.sqlite")
        assert not list(locked.iterdir())
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
        else:
            locked.chmod(0o755)


# ---- the client and an unopenable default ledger --------------------------------------------


@pytest.mark.integration
def test_an_unopenable_default_ledger_warns_once_and_the_call_goes_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: Simulator
) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"\x00garbage" * 64)
    monkeypatch.setenv("QOLABA_NB_LEDGER", str(garbage))
    with q.Client(sim.api_key, sim.base_url) as client:
        with pytest.warns(RuntimeWarning, match=f"{garbage}.*not recorded") as record:
            assert client.chat("hi", model="sim/echo").text == "hi"
        assert len(record) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once is enough
            assert client.chat("again", model="sim/echo").text == "again"


@pytest.mark.integration
def test_an_unopenable_default_ledger_refuses_a_budgeted_call_before_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: Simulator
) -> None:
    garbage = tmp_path / "garbage-budget.sqlite"
    garbage.write_bytes(b"\x00garbage" * 64)
    monkeypatch.setenv("QOLABA_NB_LEDGER", str(garbage))
    sent = len(sim.requests_log)
    client = q.Client(sim.api_key, sim.base_url, budget_credits=5)
    with client, pytest.raises(LedgerError, match=r"budget.*not sent"):
        client.chat("hi", model="sim/echo")
    assert len(sim.requests_log) == sent


# ---- a write lock held by another connection -----------------------------------------------


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A ledger file whose write lock another connection holds until it is released."""
    path = tmp_path / "locked.sqlite"
    UsageLedger(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    yield path, other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def test_a_locked_ledger_spools_the_row_and_writes_it_later(
    locked: tuple[Path, sqlite3.Connection], make_rec: RecordFactory
) -> None:
    path, other = locked
    with UsageLedger(path) as ledger:
        t = time.monotonic()
        ledger.record(make_rec(request_id="first", credit=0.5))
        ledger.record(make_rec(request_id="second", credit=0.25))  # joins it, no wait
        assert time.monotonic() - t < 1.5
        assert ledger.spooled == 2
        files = list(spool_dir(str(path)).glob("*.jsonl"))
        assert len(files) == 1 and len(files[0].read_text().splitlines()) == 2
        other.execute("ROLLBACK")  # the lock is free: the background thread writes
        _wait_for(lambda: ledger.spooled == 0)
        assert list(ledger.to_dataframe()["request_id"]) == ["first", "second"]
        assert ledger.spent() == (0.75, 0.0)
        assert not list(spool_dir(str(path)).glob("*.jsonl"))


def test_a_spooled_row_keeps_its_hold_until_it_is_written(
    locked: tuple[Path, sqlite3.Connection], make_rec: RecordFactory
) -> None:
    path, other = locked
    other.execute("ROLLBACK")
    with UsageLedger(path) as ledger:
        ledger.set_budget(1.0)
        h = ledger.hold(0.6)
        other.execute("BEGIN IMMEDIATE")
        ledger.record(make_rec(credit=0.5), hold=h)
        assert ledger.spooled == 1
        assert ledger.budget_remaining() == pytest.approx((0.4, 1.0))  # still held
        other.execute("ROLLBACK")
        _wait_for(lambda: ledger.spooled == 0)
        assert ledger.budget_remaining() == pytest.approx((0.5, 1.0))  # now spent


def test_a_hold_on_a_locked_ledger_is_refused_in_bounded_time(
    locked: tuple[Path, sqlite3.Connection],
) -> None:
    path, _other = locked
    with UsageLedger(path) as ledger:
        ledger.set_budget(1.0)
        t = time.monotonic()
        with pytest.raises(LedgerError, match=r"locked.*not sent"):
            ledger.hold(0.5)
        assert time.monotonic() - t < 5


def test_close_leaves_unwritten_rows_for_the_next_ledger(
    locked: tuple[Path, sqlite3.Connection], make_rec: RecordFactory
) -> None:
    path, other = locked
    ledger = UsageLedger(path, write_timeout_s=0.05)
    ledger.record(make_rec(request_id="late"))
    ledger.close()  # cannot write it (still locked): it stays on disk
    assert len(list(spool_dir(str(path)).glob("*.jsonl"))) == 1
    other.execute("ROLLBACK")
    with UsageLedger(path) as again:
        _wait_for(lambda: again.spooled == 0)
        assert list(again.to_dataframe()["request_id"]) == ["late"]
    assert not list(spool_dir(str(path)).iterdir())


def test_rows_spooled_by_a_killed_process_are_written_by_the_next_one(
    locked: tuple[Path, sqlite3.Connection],
) -> None:
    path, other = locked
    proc = subprocess.Popen(
        [sys.executable, str(SPOOLER), str(path), "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "spooled 3"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    other.execute("ROLLBACK")
    with UsageLedger(path) as ledger:
        _wait_for(lambda: ledger.spooled == 0)
        assert sorted(ledger.to_dataframe()["request_id"]) == [f"orphan-{i}" for i in range(3)]
    assert not list(spool_dir(str(path)).iterdir())


@pytest.mark.integration
def test_a_locked_ledger_never_blocks_the_event_loop(
    locked: tuple[Path, sqlite3.Connection], sim: Simulator
) -> None:
    path, other = locked
    ledger = UsageLedger(path)

    async def main() -> float:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as client:
            for _ in range(3):
                reply = await client.chat("hi", model="sim/echo")
                assert reply.text == "hi"
        stop.set()
        await task
        return max(gaps)

    try:
        t = time.monotonic()
        worst = asyncio.run(main())
        assert time.monotonic() - t < 10  # not 3 x 30 s
        assert worst < 1.0  # the loop kept running (one bounded wait of 0.25 s at most)
        assert ledger.spooled == 3
        other.execute("ROLLBACK")
        _wait_for(lambda: ledger.spooled == 0)
        assert len(ledger) == 3  # and no row was lost
    finally:
        ledger.close()


def test_record_many_on_a_locked_ledger_spools_every_row(
    locked: tuple[Path, sqlite3.Connection], make_rec: RecordFactory
) -> None:
    path, other = locked
    with UsageLedger(path) as ledger:
        assert ledger.record_many([make_rec(request_id=f"b{i}") for i in range(3)]) == 3
        assert ledger.spooled == 3
        other.execute("ROLLBACK")
        _wait_for(lambda: ledger.spooled == 0)
        assert list(ledger.to_dataframe()["request_id"]) == ["b0", "b1", "b2"]
