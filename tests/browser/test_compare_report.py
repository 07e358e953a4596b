"""A blind vote in a real JupyterLab, and the report file in a browser with the network cut.

The blind test samples the panel's visible text every 25 ms from the run's start to the vote: no
model name may show up in it before the vote, and every one must show after it. The report
is the file the panel's Report button wrote (its link opens it in the lab); it is opened with
every request that is not ``file:`` aborted, and must make no request and log no console error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from _lab import Lab, open_notebook, output_locator, run_all, screenshot, write_notebook
from playwright.sync_api import Browser, Dialog, Page, Request, expect

MODELS = ["openai/gpt-4o", "google/gemini-2.5-flash", "deepseek/deepseek-chat"]
NAMES = ["gpt-4o", "gemini", "deepseek", "openai", "google"]

SETUP = """\
from qolaba_nb import AsyncClient
from qolaba_nb.widgets import ComparePanel
client = AsyncClient(headers={"x-sim-chunks": "40", "x-sim-chunk-delay": "0.03"})
"""

# Every 25 ms: does the panel's visible text contain a model name?
_WATCH = """([selector, names]) => {
    const seen = [];
    window.__blind = seen;
    const timer = setInterval(() => {
        const node = document.querySelector(selector);
        const text = node ? node.innerText : '';
        const found = names.filter((n) => text.includes(n));
        const at = found.length ? text.indexOf(found[0]) : -1;
        const around = at < 0 ? '' : text.slice(Math.max(0, at - 60), at + 40);
        seen.push({len: text.length, names: found, around});
    }, 25);
    window.__blindStop = () => clearInterval(timer);
}"""


@pytest.mark.timeout(240)
def test_a_blind_vote_shows_no_model_name_before_it(page: Page, lab: Lab, browser: Browser) -> None:
    code = f"panel = ComparePanel({json.dumps(MODELS)}, client=client, blind=True)\npanel"
    path = write_notebook(lab.root, "blind.ipynb", [SETUP, code])
    open_notebook(page, lab, path)
    run_all(page)
    panel = output_locator(page, 1).locator(".qnb-compare-panel").first
    expect(panel).to_be_visible(timeout=30_000)
    expect(panel).to_contain_text("Ctrl+click")  # the picker says how to pick several

    box = panel.locator(".qnb-prompt-box")
    box.click()
    box.fill("Name three rivers")
    box.press("Enter")
    # The picker (the user's own choice, shown before sending) folds away as the run starts.
    expect(panel.locator(".qnb-blind-note")).to_be_visible(timeout=10_000)
    expect(panel.locator(".qnb-model-picker")).to_be_hidden()
    page.evaluate(_WATCH, [".jp-OutputArea-output .qnb-compare-panel", NAMES])
    expect(panel.locator(".qnb-summary tbody tr")).to_have_count(3, timeout=30_000)
    expect(panel).to_contain_text("shown after your vote")
    page.wait_for_timeout(300)
    page.evaluate("() => window.__blindStop()")
    before: list[dict[str, Any]] = page.evaluate("() => window.__blind")
    assert len(before) > 10 and max(s["len"] for s in before) > 200  # it watched the replies
    leaks = [s for s in before if s["names"]]
    assert not leaks, f"model names visible before the vote: {leaks[:3]}"
    for word in ("latency", "TTFT", "chars/s"):
        expect(panel.locator(".qnb-summary")).not_to_contain_text(word)
    screenshot(page, "compare-blind-before-vote")

    panel.get_by_role("button", name="B better").click()
    for model in MODELS:
        expect(panel.locator(".qnb-compare-column").filter(has_text=model)).to_have_count(1)
    expect(panel.locator(".qnb-summary")).to_contain_text("latency")
    expect(panel.get_by_role("button", name="Voted better")).to_have_count(1)
    screenshot(page, "compare-blind-after-vote")

    panel.get_by_role("button", name="Report").click()
    expect(panel).to_contain_text("Report written to", timeout=30_000)
    # Named after the run, next to the notebook, and linked: the link opens it in the lab.
    link = panel.locator(".qnb-report-link a")
    expect(link).to_have_text(re.compile(r"^Open compare-report-cmp-[0-9a-f]{12}\.html$"))
    name = link.inner_text().removeprefix("Open ")
    report = Path(lab.root) / name
    assert report.is_file()
    assert f"/files/{name}" in (link.get_attribute("href") or "")  # resolved by the lab
    link.click()
    expect(page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=name)).to_have_count(
        1, timeout=30_000
    )
    _open_offline(browser, report)


def _open_offline(browser: Browser, report: Path) -> None:
    """Open the report with the network cut: no request but the file, no console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    problems: list[str] = []
    dialogs: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()

    def on_request(request: Request) -> None:
        requests.append(request.url)

    page.on("request", on_request)
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        page.wait_for_timeout(500)
        expect(page.locator("h1")).to_contain_text("ComparePanel runs")
        expect(page.locator("table.grid")).to_contain_text("Name three rivers")
        for model in MODELS:
            expect(page.locator("table.grid thead")).to_contain_text(model)
        charts = page.locator(".charts svg")
        assert charts.count() >= 2
        box = charts.first.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        expect(page.locator(".best")).to_contain_text("voted best")
        page.screenshot(
            path=str(Path(__file__).parent / "artifacts" / "compare-report.png"), full_page=True
        )
    finally:
        context.close()
    assert requests == [report.as_uri()], requests
    assert problems == [], problems
    assert dialogs == []
