"""The dashboard reads well: stopped replies apart from errors, sessions as start times,
units in the headings, and a stop() that leaves it on screen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from qolaba_nb import CallRecord
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.widgets import UsageDashboard
from qolaba_nb.widgets.dashboard import session_label


def record(status: str, session: str = "20251201T104302-4242-a1b2c3") -> CallRecord:
    return CallRecord(
        model="openai/gpt-4o",
        kind="stream",
        status=status,  # type: ignore[arg-type]
        ts=datetime(2025, 12, 1, 10, 43, 2, tzinfo=UTC),
        credit=0.5,
        credit_source="reported",
        cost=0.001,
        latency_s=1.0,
        session=session,
    )


def test_stopped_replies_have_their_own_column_and_are_not_errors(ledger: UsageLedger) -> None:
    ledger.record_many([record("ok"), record("cancelled"), record("api_error")])
    board = UsageDashboard(ledger)
    html = board.table.value
    for heading in ("errors", "stopped", "cost ($)", "latency p95 (s)", "credits (all)"):
        assert f"<th>{heading}</th>" in html
    row = ledger.summary().loc["openai/gpt-4o"]
    assert (row["errors"], row["stopped"]) == (1, 1)
    board.close()


def test_sessions_show_as_a_start_time_and_a_short_label(ledger: UsageLedger) -> None:
    assert session_label("20251201T104302-4242-a1b2c3") == "2025-12-01 10:43 UTC · a1b2c3"
    assert session_label("my-own-session") == "my-own-session"
    ledger.record(record("ok"))
    board = UsageDashboard(ledger)
    labels = [label for label, _ in board.session_filter.options]
    assert "2025-12-01 10:43 UTC · a1b2c3" in labels
    board.session_filter.value = "20251201T104302-4242-a1b2c3"  # the value stays the id
    assert board.filters() == {"session": "20251201T104302-4242-a1b2c3"}
    ledger.record(record("ok", session="20251202T090000-7-ffffff"))
    board.refresh()  # new options, and the choice is kept
    assert board.session_filter.value == "20251201T104302-4242-a1b2c3"
    board.close()


async def test_stop_ends_polling_and_keeps_the_dashboard(ledger: UsageLedger) -> None:
    board = UsageDashboard(ledger, poll_s=0.1)
    assert board._poller is not None
    board.stop()
    assert board._poller is None
    ledger.record(record("ok"))
    await asyncio.sleep(0.3)
    assert "No calls recorded yet" in board.table.value  # no longer polling
    board.refresh()  # still a working widget, still shown
    assert "openai/gpt-4o" in board.table.value
    assert board.comm is not None
    board.close()
