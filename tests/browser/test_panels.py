"""The panels in a real JupyterLab: what only a browser can show.

Streaming that is visible while it happens, Stop that stops what the user sees, hostile HTML
that never runs, three columns that grow at once. The kernels reach a simulator running in
this process through ``QOLABA_BASE_URL`` / ``QOLABA_API_KEY`` (the ``lab_env`` fixture in
conftest.py).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from _lab import Lab, open_notebook, output_locator, run_all, run_cell, screenshot, write_notebook
from playwright.sync_api import Locator, Page, expect
from test_chat_panel import assert_not_clipped

# Each content chunk 40 ms apart: a reply takes a few seconds, long enough to watch it grow.
PACED = '{"x-sim-chunks": "60", "x-sim-chunk-delay": "0.04"}'

SETUP = f"""\
from qolaba_nb import AsyncClient
from qolaba_nb.widgets import ChatPanel, ComparePanel
client = AsyncClient(headers={PACED})
"""

# Samples, every 25 ms, the text of the assistant messages under ``root`` (in the page).
_SAMPLER = """([selector, key]) => {
    const samples = [];
    window[key] = samples;
    const started = performance.now();
    const timer = setInterval(() => {
        const nodes = [...document.querySelectorAll(selector)];
        samples.push({
            t: performance.now() - started,
            texts: nodes.map((n) => n.innerText.length),
            live: nodes.map((n) => !!n.closest('.qnb-live')),
        });
        if (samples.length > 2000) clearInterval(timer);
    }, 25);
    window[key + 'Stop'] = () => clearInterval(timer);
}"""


def start_panel(page: Page, lab: Lab, name: str, panel_code: str) -> Locator:
    """Write and run a notebook whose cell 1 displays a panel; return the panel's node."""
    path = write_notebook(lab.root, name, [SETUP, panel_code])
    open_notebook(page, lab, path)
    run_all(page)
    panel = output_locator(page, 1).locator(".qnb-chat-panel, .qnb-compare-panel").first
    expect(panel).to_be_visible(timeout=30_000)
    return panel


def samples(page: Page, key: str) -> list[dict[str, Any]]:
    page.evaluate(f"() => window['{key}Stop']()")
    found: list[dict[str, Any]] = page.evaluate(f"() => window['{key}']")
    return found


def type_and_send(panel: Locator, text: str) -> None:
    box = panel.locator(".qnb-prompt-box")
    box.click()
    box.fill(text)
    box.press("Enter")


@pytest.mark.timeout(240)  # includes starting the lab server and the first kernel
def test_chat_reply_streams_in_and_shows_its_usage(page: Page, lab: Lab) -> None:
    panel = start_panel(page, lab, "chat.ipynb", 'ChatPanel(client, model="openai/gpt-4o")')
    assistant = ".qnb-chat-panel .qnb-role-assistant .qnb-body"
    page.evaluate(_SAMPLER, [assistant, "__chat"])
    type_and_send(panel, "Tell me about rivers")

    meta = panel.locator(".qnb-role-assistant .qnb-meta")
    expect(meta).to_contain_text("credits", timeout=20_000)
    expect(meta).to_contain_text("first token")
    expect(panel.locator(".qnb-role-user")).to_contain_text("Tell me about rivers")
    expect(panel.locator(".qnb-prompt-box")).to_have_value("")  # Enter sent and emptied it

    seen = samples(page, "__chat")
    growing = [s["texts"][0] for s in seen if s["texts"] and s["live"][0]]
    steps = sorted({n for n in growing if n > 0})
    assert len(steps) >= 3, f"the reply did not grow in steps: {steps}"
    assert steps == sorted(steps) and growing == sorted(growing)  # it only ever grew
    expect(panel.locator(".qnb-chat-panel .qnb-waiting, .qnb-waiting")).to_have_count(0)
    expect(panel.locator(".qnb-session-total")).to_contain_text("1 reply")
    screenshot(page, "chat-panel")


@pytest.mark.timeout(120)
def test_stop_stops_the_reply_on_screen(page: Page, lab: Lab) -> None:
    slow_start = 'AsyncClient(headers={"x-sim-ttft": "1.5", "x-sim-chunk-delay": "0.04"})'
    panel = start_panel(
        page, lab, "stop.ipynb", f'p = ChatPanel({slow_start}, model="sim/slow")\np'
    )
    type_and_send(panel, "Say a lot, slowly")
    waiting = panel.locator(".qnb-live .qnb-waiting")  # until the first token: a timer
    expect(waiting).to_contain_text(re.compile(r"waiting… \d+\.\d s"), timeout=5_000)
    expect(waiting).to_have_count(0, timeout=10_000)
    live_text = panel.locator(".qnb-live .qnb-open:not(.qnb-reasoning-body)")
    expect(live_text).not_to_have_text("", timeout=15_000)
    time.sleep(0.5)  # let it grow a little more

    panel.get_by_role("button", name="Stop").click()
    clicked = time.monotonic()
    badge = panel.locator(".qnb-status-stopped .qnb-badge")
    expect(badge).to_have_text("stopped", timeout=1_000)
    assert time.monotonic() - clicked < 1.0
    body = panel.locator(".qnb-status-stopped .qnb-body")
    frozen = body.inner_text()
    assert frozen.strip()
    time.sleep(1.0)
    assert body.inner_text() == frozen  # nothing more arrived
    expect(panel.locator(".qnb-live")).to_have_count(0)
    expect(panel.get_by_role("button", name="Stop")).to_be_disabled()
    screenshot(page, "chat-panel-stopped")

    # the kernel saw the same: a cancelled call in the ledger, the connection closed
    page.evaluate(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.model.sharedModel.insertCell(2, {cell_type: 'code', source:"
        " 'print(p.client.ledger.to_dataframe()[\"status\"].iloc[-1])'}); }"
    )
    run_cell(page, 2)
    expect(output_locator(page, 2)).to_contain_text("cancelled")


@pytest.mark.timeout(120)
def test_hostile_html_in_a_reply_never_runs(page: Page, lab: Lab) -> None:
    # an unpaced client: the reply keeps its Markdown lines
    panel = start_panel(page, lab, "xss.ipynb", 'ChatPanel(AsyncClient(), model="sim/xss")')
    type_and_send(panel, "Show me")
    body = panel.locator(".qnb-role-assistant:not(.qnb-live) .qnb-body")
    expect(body.locator("table")).to_be_visible(timeout=20_000)  # the Markdown rendered
    expect(body.locator("pre code")).to_contain_text("hello from a fenced code block")
    expect(body).to_contain_text('<img src=x onerror="window.__xss=1">')  # shown as text
    expect(body).to_contain_text("<script>alert(1)</script>")
    assert body.locator("img, script").count() == 0
    page.wait_for_timeout(300)  # give a handler every chance to run
    assert page.evaluate("() => window.__xss") is None
    screenshot(page, "chat-panel-xss")


@pytest.mark.timeout(120)
def test_compare_panel_streams_three_models_at_once(page: Page, lab: Lab) -> None:
    models = ["openai/gpt-4o", "google/gemini-2.5-flash", "deepseek/deepseek-chat"]
    panel = start_panel(
        page, lab, "compare.ipynb", f"ComparePanel({json.dumps(models)}, client=client)"
    )
    columns = panel.locator(".qnb-compare-column")
    expect(columns).to_have_count(3)
    page.evaluate(_SAMPLER, [".qnb-compare-column .qnb-role-assistant .qnb-body", "__cmp"])
    type_and_send(panel, "Name three rivers")

    expect(panel.locator(".qnb-summary tbody tr")).to_have_count(3, timeout=30_000)
    seen = samples(page, "__cmp")
    # a moment when all three replies had text and none had finished yet
    together = [
        s
        for s in seen
        if len(s["texts"]) == 3 and all(s["live"]) and all(n > 0 for n in s["texts"])
    ]
    assert together, "the three columns did not stream at the same time"
    for i, model in enumerate(models):
        expect(columns.nth(i)).to_contain_text(model)
        expect(columns.nth(i)).to_contain_text("chars/s")
    screenshot(page, "compare-panel")


@pytest.mark.timeout(120)
def test_usage_dashboard_shows_calls_and_keeps_up(page: Page, lab: Lab) -> None:
    calls = (
        "from qolaba_nb.ledger import UsageLedger\n"
        "from qolaba_nb.widgets import UsageDashboard\n"
        "ledger = UsageLedger('dashboard-test.sqlite')  # this test's calls only\n"
        "fast = AsyncClient(tag='demo', ledger=ledger)\n"
        "for model in ['openai/gpt-4o', 'google/gemini-2.5-flash', 'sim/echo']:\n"
        "    await fast.chat('Name a river', model=model)\n"
        "board = UsageDashboard(ledger, poll_s=0.5)\n"
        "board"
    )
    path = write_notebook(lab.root, "dashboard.ipynb", [SETUP, calls, "x = 1"])
    open_notebook(page, lab, path)
    run_all(page)
    board = output_locator(page, 1).locator(".qnb-usage-dashboard")
    expect(board).to_be_visible(timeout=30_000)
    expect(board).to_contain_text("3 calls")
    expect(board.locator("table.dataframe")).to_contain_text("google/gemini-2.5-flash")
    expect(board.locator("svg").first).to_be_visible()  # the chart: inline, themed

    # a call made later, from another cell, shows up by itself (polling on the kernel's loop)
    page.evaluate(
        "() => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " nb.model.sharedModel.getCell(2).setSource("
        "\"await fast.chat('One more', model='deepseek/deepseek-chat')\"); }"
    )
    run_cell(page, 2)
    expect(board).to_contain_text("4 calls", timeout=5_000)
    expect(board.locator("table.dataframe")).to_contain_text("deepseek/deepseek-chat")
    board.scroll_into_view_if_needed()
    screenshot(page, "usage-dashboard")

    # the chart follows the theme: its text turns light in JupyterLab Dark, on no white box
    assert _chart_text_brightness(page) < 100
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_function(f"() => ({_CHART_TEXT})() > 180")
    page.set_viewport_size({"width": 800, "height": 1000})  # and at 800 px, nothing cut off
    page.wait_for_timeout(500)
    board.scroll_into_view_if_needed()
    assert_not_clipped(page, board)
    chart = board.locator("svg").first.bounding_box()
    frame = board.bounding_box()
    assert chart and frame and chart["x"] + chart["width"] <= frame["x"] + frame["width"] + 1
    table = board.locator(".widget-html", has=page.locator("table.dataframe"))
    scrolls = table.evaluate("el => { const s = getComputedStyle(el); return s.overflow; }")
    assert scrolls == "auto"  # a table wider than the window scrolls, it is not cut off
    screenshot(page, "usage-dashboard-dark-800px")


#: The mean of the RGB channels of the chart's text colour, as the page computes it.
_CHART_TEXT = """() => {
    const svg = document.querySelector('.qnb-usage-dashboard svg');
    const el = [...svg.querySelectorAll('[style*="fill: var(--jp-ui-font-color1"]')][0];
    const [r, g, b] = getComputedStyle(el).fill.match(/[\\d.]+/g).map(Number);
    return (r + g + b) / 3;
}"""


def _chart_text_brightness(page: Page) -> float:
    value: float = page.evaluate(f"({_CHART_TEXT})()")
    return value
