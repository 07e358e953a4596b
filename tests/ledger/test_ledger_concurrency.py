"""Many threads, several processes, and a writer killed in the middle of its work."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import UsageLedger

from .conftest import RecordFactory, subprocess_env, writer_cmd


def test_many_threads_share_one_ledger(ledger: UsageLedger, make_rec: RecordFactory) -> None:
    n_threads, per_thread = 8, 150
    start = threading.Barrier(n_threads + 1)
    reads: list[int] = []

    def write(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            ledger.record(make_rec(request_id=f"{t}-{i}", credit=0.5))

    def read() -> None:
        start.wait()
        for _ in range(20):
            reads.append(len(ledger.to_dataframe()))
            ledger.spent()

    with ThreadPoolExecutor(n_threads + 1) as pool:
        futures = [pool.submit(write, t) for t in range(n_threads)]
        futures.append(pool.submit(read))
        for f in futures:
            f.result()  # re-raises any thread's error

    df = ledger.to_dataframe()
    assert len(df) == n_threads * per_thread
    assert df["id"].is_unique and df["request_id"].is_unique
    assert ledger.spent()[0] == pytest.approx(0.5 * n_threads * per_thread)
    assert reads == sorted(reads)  # reads never went backwards


def test_several_ledger_objects_on_one_file(tmp_path: Path, make_rec: RecordFactory) -> None:
    path = tmp_path / "shared.sqlite"
    ledgers = [UsageLedger(path) for _ in range(4)]
    try:

        def write(k: int) -> None:
            for i in range(100):
                ledgers[k].record(make_rec(request_id=f"{k}-{i}"))
            ledgers[k].record_many(make_rec(request_id=f"{k}-bulk-{i}") for i in range(100))

        with ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(write, k) for k in range(4)]:
                f.result()
        assert len(ledgers[0]) == 800
    finally:
        for led in ledgers:
            led.close()


def test_two_processes_write_at_once(ledger_target: str) -> None:
    # The file (or database) is new: both processes also race to create and migrate it.
    db = ledger_target
    n = 500
    procs = [
        subprocess.Popen(
            # A short pause per row, as between real calls: without it the first writer
            # would win the lock every time and the other would simply wait its turn.
            writer_cmd(db, n, tag, delay=0.001, wait=True),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for tag in ("p1", "p2")
    ]
    try:
        # Both have opened (and migrated) the ledger; now let them write at the same moment.
        for p in procs:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err

    with UsageLedger(db) as led:
        df = led.to_dataframe()
        assert len(df) == 2 * n
        assert set(df["request_id"]) == {f"{t}-{i}" for t in ("p1", "p2") for i in range(n)}
        assert df["id"].is_unique
        # Each process has its own session id.
        assert df.groupby("tag")["session"].nunique().to_dict() == {"p1": 1, "p2": 1}
        assert df["session"].nunique() == 2
        assert led.summary(by="tag")["calls"].to_dict() == {"p1": n, "p2": n}
        # They really wrote at the same time: their rows interleave.
        tags = list(df.sort_values("id")["tag"])
        switches = sum(a != b for a, b in itertools.pairwise(tags))
        assert switches > 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_writer_killed_mid_run_loses_no_committed_row(tmp_path: Path) -> None:
    db = tmp_path / "killed.sqlite"
    with subprocess.Popen(
        writer_cmd(db, 0, "k"),  # 0: write until killed
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        reported: list[str] = []
        deadline = time.monotonic() + 60
        try:
            # Kill it while it is busy writing, after a few hundred committed rows.
            while len(reported) < 300:
                line = proc.stdout.readline()
                if not line:
                    break
                reported.append(line.strip())
                assert time.monotonic() < deadline, "writer too slow"
        finally:
            proc.send_signal(signal.SIGKILL)
        # Not communicate(): it reads the raw pipe and would skip lines already buffered by
        # readline(). After the kill the pipe ends, so read() returns.
        rest = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    reported += [line.strip() for line in rest.splitlines() if line.strip()]
    assert len(reported) >= 300

    # The database opens, is intact, and holds every row the writer said it had committed
    # (and possibly one more that was committed just before the print).
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT request_id FROM calls")}
    finally:
        conn.close()
    assert set(reported) <= stored
    assert len(stored) - len(reported) in (0, 1)

    with UsageLedger(db) as led:  # and the ledger keeps working on it
        led.record(CallRecord(model="m", kind="chat", status="ok", request_id="after"))
        assert len(led.to_dataframe()) == len(stored) + 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_opens_its_own_connection(
    ledger: UsageLedger, make_rec: RecordFactory
) -> None:
    ledger.record(make_rec(request_id="parent-1"))
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; this test means it.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            ledger.record(make_rec(request_id="child-1"))
            code = 0 if ledger._conn is not ledger._inherited else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ledger.record(make_rec(request_id="parent-2"))  # the parent's connection is unharmed
    assert list(ledger.to_dataframe()["request_id"]) == ["parent-1", "child-1", "parent-2"]
