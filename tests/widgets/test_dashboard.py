"""UsageDashboard: the table, the chart, the filters, and keeping up with new calls."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest

from qolaba_nb import AsyncClient
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.widgets import UsageDashboard
from qolaba_nb.widgets.dashboard import PLOTS

from .conftest import SECRET_KEY, all_widgets


def is_themed_svg(html: str) -> bool:
    """An inline SVG on a transparent background whose text takes the theme's colour."""
    return (
        html.startswith("<svg ")
        and "var(--jp-ui-font-color1" in html
        and "<image" not in html  # no raster inside
        and "#ffffff" not in html.lower()  # no white box in the dark theme
    )


@pytest.fixture
async def dashboard(ledger: UsageLedger) -> AsyncIterator[UsageDashboard]:
    board = UsageDashboard(ledger, poll_s=0.1)
    yield board
    board.close()


async def test_an_empty_ledger_says_so(dashboard: UsageDashboard) -> None:
    assert "No calls recorded yet" in dashboard.table.value
    assert "0 calls" in dashboard.header.value
    assert is_themed_svg(dashboard.chart.value)


async def test_refresh_shows_new_calls(dashboard: UsageDashboard, client: AsyncClient) -> None:
    before = dashboard.refreshes
    await client.chat("hi", model="openai/gpt-4o")
    dashboard.refresh()
    assert dashboard.refreshes == before + 1
    assert "openai/gpt-4o" in dashboard.table.value
    assert "1 calls" in dashboard.header.value
    assert "openai/gpt-4o" in dashboard.model_filter.options


async def test_polling_notices_new_calls_by_itself(
    dashboard: UsageDashboard, client: AsyncClient
) -> None:
    before = dashboard.refreshes
    await asyncio.sleep(0.3)
    assert dashboard.refreshes == before  # nothing new: no redraw
    await client.chat("hi", model="sim/echo")
    deadline = time.monotonic() + 3
    while "sim/echo" not in dashboard.table.value:
        assert time.monotonic() < deadline, "the dashboard did not refresh"
        await asyncio.sleep(0.05)


async def test_filters_narrow_table_and_header(
    dashboard: UsageDashboard, client: AsyncClient, sim_tagged: AsyncClient
) -> None:
    await client.chat("a", model="openai/gpt-4o")
    await sim_tagged.chat("b", model="sim/echo")
    dashboard.refresh()
    assert "2 calls" in dashboard.header.value
    assert "experiment" in dashboard.tag_filter.options
    dashboard.tag_filter.value = "experiment"
    assert "1 calls" in dashboard.header.value
    assert "sim/echo" in dashboard.table.value and "openai/gpt-4o" not in dashboard.table.value
    dashboard.model_filter.value = "openai/gpt-4o"  # nothing left with both filters
    assert "No calls recorded yet" in dashboard.table.value


@pytest.mark.parametrize("plot", list(PLOTS))
async def test_every_chart_renders(
    dashboard: UsageDashboard, client: AsyncClient, plot: str
) -> None:
    await client.chat("hi", model="openai/gpt-4o")
    dashboard.plot_choice.value = plot
    assert is_themed_svg(dashboard.chart.value)


async def test_no_key_in_the_dashboard_state(
    dashboard: UsageDashboard, client: AsyncClient
) -> None:
    await client.chat("hi", model="openai/gpt-4o")
    dashboard.refresh()
    for widget in all_widgets(dashboard):
        assert SECRET_KEY not in json.dumps(widget.get_state(), default=str)


@pytest.fixture
async def sim_tagged(client: AsyncClient, ledger: UsageLedger) -> AsyncIterator[AsyncClient]:
    async with AsyncClient.twin(client) as twin:
        twin.tag = "experiment"
        yield twin


async def test_a_refresh_reads_only_the_new_rows_and_marks_estimates(
    ledger: UsageLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qolaba_nb import CallRecord

    ledger.record(
        CallRecord(
            model="m/a", kind="stream", status="cancelled", credit=0.3, credit_source="estimated"
        )
    )
    board = UsageDashboard(ledger, poll_s=60)
    try:
        assert "(≈0.3 estimated)" in board.header.value
        assert "credits ≈ estimated" in board.table.value
        reads: list[dict[str, object]] = []
        real = ledger.to_dataframe

        def spy(*args: object, **kwargs: object) -> object:
            reads.append(kwargs)
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(ledger, "to_dataframe", spy)
        ledger.record(CallRecord(model="m/b", kind="chat", status="ok", credit=1.0))
        board.refresh()
        assert [r.get("after_id") for r in reads] == [ledger.last_id() - 1]
        assert "m/b" in board.table.value and "2 calls" in board.header.value
        assert "m/b" in board.model_filter.options
    finally:
        board.close()


@pytest.mark.parametrize("plot", list(PLOTS))
def test_the_chart_follows_the_theme_and_shows_no_data_as_markup(
    ledger: UsageLedger, plot: str
) -> None:
    from qolaba_nb import CallRecord

    hostile = "--><script>alert(1)</script><b>x</b>"  # a model id is data, not markup
    for model, credit in ((hostile, 0.4), ("m/b", 1.0)):
        ledger.record(
            CallRecord(model=model, kind="chat", status="ok", credit=credit, cost=credit / 100)
        )
    board = UsageDashboard(ledger, plot=plot, poll_s=60)
    try:
        svg = board.chart.value
        assert is_themed_svg(svg)
        # the axes' text and lines take the theme's colour: light on JupyterLab Dark
        assert svg.count("var(--jp-ui-font-color1, #333)") >= 4
        assert "<script" not in svg and "alert" not in svg and "<b>" not in svg
        assert "<text" not in svg  # glyphs are paths
        assert "max-width:100%" in svg  # it narrows with the notebook
    finally:
        board.close()
