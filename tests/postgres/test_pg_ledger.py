"""What only the PostgreSQL backend has: a URL with a password, a server connection that can
be lost, and one database shared by several ledger objects. The behaviour every backend shares
is tested in tests/ledger/, where the ``ledger`` fixture runs each test on SQLite and here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import psycopg
import pytest

from qolaba_nb._config import mask_url
from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import LedgerError, UsageLedger, default_ledger
from tests._postgres import PostgresServer
from tests.ledger.conftest import subprocess_env


def _rec(**kw: object) -> CallRecord:
    return CallRecord(model="m", kind="chat", status="ok", **kw)  # type: ignore[arg-type]


def test_repr_and_path_never_show_the_password(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    with UsageLedger(postgres_url) as led:
        led.record(_rec(credit=0.5))
        for shown in (repr(led), str(led), repr(led._backend)):
            assert postgres_server.password not in shown
        masked = mask_url(postgres_url)
        assert masked.startswith("postgresql://**********@127.0.0.1:")
        assert repr(led) == f"UsageLedger({masked!r}, 1 call)"
    assert postgres_server.password not in repr(led)  # closed


def test_a_refused_password_is_not_in_the_error(
    postgres_server: PostgresServer, postgres_db: str
) -> None:
    wrong = "Wr0ng-pa55word-xyz"
    url = postgres_server.url(postgres_db, password=wrong)
    with pytest.raises(LedgerError) as info:
        UsageLedger(url)
    message = str(info.value)
    assert "password authentication failed" in message
    assert "postgresql://**********@127.0.0.1" in message  # which ledger, without the secret
    # Nowhere in the printed traceback either, even with the local variables of every frame
    # below this test's own (which holds the URL, of course).
    assert info.value.__traceback__ is not None
    below = traceback.walk_tb(info.value.__traceback__.tb_next)
    shown = "".join(traceback.StackSummary.extract(below, capture_locals=True).format())
    assert "connect" in shown
    assert wrong not in shown and wrong not in repr(info.value)
    # Not even as a hidden __context__: psycopg's error holds frames with the URL as a local.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_bad_url_is_a_value_error_without_the_password(postgres_server: PostgresServer) -> None:
    with pytest.raises(ValueError, match="not a valid PostgreSQL URL") as info:
        UsageLedger("postgresql://ann:s3cret-value@h/db?nosuchoption=1")
    assert "s3cret-value" not in str(info.value)
    assert "s3cret-value" not in _with_locals(info.value, below_test=True)
    assert info.value.__context__ is None


def _with_locals(err: BaseException, *, below_test: bool = False) -> str:
    """``err`` as a traceback with every frame's locals, its chain included (and, with
    ``below_test``, without the test's own frame, whose locals hold the URL)."""
    tb = err.__traceback__
    if below_test and tb is not None:
        tb = tb.tb_next
    shown = traceback.TracebackException(type(err), err, tb, capture_locals=True)
    return "".join(shown.format(chain=True))


def test_the_password_shows_nowhere(postgres_server: PostgresServer, postgres_url: str) -> None:
    """Not in ``path``, repr, str, attributes, copies, pickling errors, tracebacks with locals
    or the dashboard; only the connection itself has it."""
    import copy
    import pickle

    import ipywidgets as w

    from qolaba_nb.widgets.dashboard import UsageDashboard

    password = postgres_server.password
    seen: list[str] = []
    led = UsageLedger(postgres_url)
    try:
        led.record(_rec(credit=0.5))
        assert led.path == mask_url(postgres_url) and led._target.get() == postgres_url
        seen += [led.path, repr(led), str(led), f"{led}", repr(vars(led))]
        seen += [repr(vars(led._backend)), repr(vars(copy.copy(led)))]
        for dump in (pickle.dumps, copy.deepcopy):
            try:
                seen.append(repr(dump(led)))
            except Exception as e:  # whatever it raises must not show it
                seen.append(_with_locals(e, below_test=True))

        def use(ledger: UsageLedger) -> None:
            raise RuntimeError(f"failed while using {ledger}")

        try:
            use(led)
        except RuntimeError as e:
            seen.append(_with_locals(e, below_test=True))

        board = UsageDashboard(led, poll_s=60)

        def states(widget: w.Widget) -> list[str]:
            found = [repr(widget.get_state())]
            for child in getattr(widget, "children", ()):
                found += states(child)
            return found

        seen += states(board)
        led.close()
        board.refresh()  # the closed ledger's error is shown in the dashboard
        assert "closed" in board.status.value
        seen += [*states(board), repr(board)]
        try:
            len(led)
        except ValueError as e:
            seen.append(_with_locals(e, below_test=True))
    finally:
        led.close()
    for text in seen:
        assert password not in text, text


def test_env_url_opens_the_default_ledger_once(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QOLABA_NB_LEDGER", postgres_url)
    with UsageLedger() as led:
        led.record(_rec(credit=1.0))
    first = default_ledger()
    try:
        assert default_ledger() is first  # the same URL: the same object
        assert first.spent(session="all") == (1.0, 0.0)
        assert "**********@" in repr(first) and first.path == mask_url(postgres_url)
    finally:
        first.close()


def test_a_forked_child_keeps_no_copy_of_the_parents_session(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    """A multiprocessing child (fork) records with its own connection, and holds nothing of
    the parent's: when the parent dies, its server session (and any advisory lock its
    transaction held) ends at once, not when the last child ends."""
    script = Path(__file__).with_name("fork_parent_proc.py")
    parent = subprocess.Popen(
        [sys.executable, str(script), postgres_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    child_pid = 0
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().split()
        assert len(line) == 2, parent.communicate(timeout=30)
        backend, child_pid = int(line[0]), int(line[1])

        def alive(pid: int) -> bool:
            row = postgres_server._admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone()
            return bool(row[0])

        assert alive(backend)
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(backend) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"/proc/{child_pid}").exists()  # the child still runs ...
        assert not alive(backend)  # ... and the parent's session is gone
    finally:
        if child_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child_pid, signal.SIGKILL)
        parent.kill()
        parent.communicate(timeout=10)  # closes the pipes (the child held them open too)
    with UsageLedger(postgres_url) as led:  # the child's row, written on its own connection
        assert sorted(led.to_dataframe()["request_id"]) == ["child", "parent"]


def test_an_upper_case_scheme_opens_the_same_database(postgres_url: str) -> None:
    with UsageLedger(postgres_url.replace("postgresql://", "POSTGRESQL://", 1)) as led:
        led.record(_rec(credit=0.25))
    with UsageLedger(postgres_url) as led:
        assert led.spent(session="all") == (0.25, 0.0)


def test_two_ledger_objects_share_one_database_and_budget(postgres_url: str) -> None:
    with UsageLedger(postgres_url) as a, UsageLedger(postgres_url) as b:
        a.record(_rec(credit=0.75, session="ann"))
        b.record(_rec(credit=0.5, session="bob"))
        assert a.spent(session="all") == b.spent(session="all") == (1.25, 0.0)
        b.set_budget(1.0, session="all")
        from qolaba_nb._exceptions import BudgetExceededError

        with pytest.raises(BudgetExceededError, match="in this ledger"):
            b.check_budget()


def test_a_lost_connection_is_replaced(
    postgres_server: PostgresServer, postgres_url: str, postgres_db: str
) -> None:
    with UsageLedger(postgres_url) as led:
        led.record(_rec(credit=1.0))
        (pid,) = led._conn.execute("SELECT pg_backend_pid()").fetchone()
        postgres_server._admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):
            len(led)  # the call that finds the connection gone fails ...
        led.record(_rec(credit=2.0))  # ... and the next one reconnects
        assert led.spent() == (3.0, 0.0)


def test_closing_leaves_no_connection_open(
    postgres_server: PostgresServer, postgres_url: str, postgres_db: str
) -> None:
    led = UsageLedger(postgres_url)
    assert postgres_server.backends(postgres_db) == 1
    led.close()
    # The server ends the session a moment after the Terminate message (about one check in
    # two saw it still listed right after close()).
    deadline = time.monotonic() + 5
    while postgres_server.backends(postgres_db) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert postgres_server.backends(postgres_db) == 0


def test_floats_and_ids_have_the_right_types(postgres_url: str, postgres_db: str) -> None:
    with UsageLedger(postgres_url) as led:
        led.record(_rec(credit=0.1234567890123))
        types = dict(
            led._conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'calls'"
            ).fetchall()
        )
        # 8-byte floats (PostgreSQL's REAL has 4) and 64-bit ids.
        assert types["credit"] == "double precision" and types["id"] == "bigint"
        assert led.to_dataframe()["credit"].iloc[0] == 0.1234567890123


def test_holds_at_the_edge_of_a_budget_never_overshoot(postgres_server: PostgresServer) -> None:
    """Two processes of 16 threads each, every call costing exactly its hold: at the edge of
    the budget 32 threads ask at once, and only the advisory lock stops two of them from both
    seeing the last 0.05 credits free. (Without it, about one round in two overshot.)"""
    holder = Path(__file__).parents[1] / "ledger" / "holder_proc.py"
    budget, hold = 1.0, 0.05
    for _round in range(3):
        url = postgres_server.url(postgres_server.create_database())
        UsageLedger(url).close()  # migrated before the race
        cmd = [sys.executable, str(holder), url, str(budget), "16", str(hold), str(hold), "spend"]
        procs = [
            subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=subprocess_env(),
            )
            for _ in range(2)
        ]
        try:
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            outs = [p.communicate(timeout=60) for p in procs]
        finally:
            for p in procs:
                p.kill()
                p.wait(timeout=10)
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err
        with UsageLedger(url) as led:
            spent, _ = led.spent(session="all")
        assert spent == pytest.approx(budget)  # filled to the last hold, and not beyond
        assert spent <= budget + 1e-9
