"""report(): one HTML file that holds everything and loads nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import qolaba_nb as q
from qolaba_nb._report import CSP
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ComparePanel

pytestmark = pytest.mark.integration

MODELS = ["openai/gpt-4o", "openai/gpt-4o-mini", "sim/xss", "google/gemini-2.5-flash"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


@pytest.fixture(scope="module")
def big(sim: Simulator) -> pd.DataFrame:
    """20 prompts x 4 models, judged; one model answers with HTML and script attempts."""
    with UsageLedger(":memory:") as ledger:
        c = q.Client(sim.api_key, sim.base_url, ledger=ledger)
        df = q.compare(
            [f"Explain topic {i} with a code example." for i in range(20)],
            MODELS,
            client=c,
            progress=False,
            judge="openai/gpt-4o",
        )
        c.close()
    return df


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_twenty_prompts_by_four_models_in_one_small_self_contained_file(
    big: pd.DataFrame, tmp_path: Path
) -> None:
    path = q.report(big, tmp_path / "sub" / "report.html", title="Topics")
    assert path == tmp_path / "sub" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 2_000_000
    parser = _Tags()
    parser.feed(page)
    tags = {t for t, _ in parser.tags}
    # nothing that runs or fetches
    assert not tags & {"script", "img", "iframe", "object", "embed", "link", "video", "audio"}
    for tag, attrs in parser.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            if name in ("src", "srcset", "poster", "data"):
                raise AssertionError(f"{tag} {name}={value}")
            if name in ("href", "xlink:href") and value and tag != "a":
                assert value.startswith("#"), (tag, value)  # only ids inside the page
            if tag == "a" and name == "href" and value:
                assert value.split(":")[0] in ("http", "https", "mailto"), value
    assert f'content="{CSP}"' in page.replace("&#x27;", "'")
    assert "url(" not in re.sub(r"url\(#[\w-]+\)", "", page)  # no CSS fetch
    # the grid: every prompt, every model, numbers and judge scores per cell
    for model in MODELS:
        assert f"<th>{model}</th>" in page
    assert page.count("credits ·") == 80 and page.count("TTFT") >= 80
    assert page.count("Judge: ") == 80
    assert "<h2>Leaderboard</h2>" in page and page.count("<svg") >= 3
    assert "Credits (judge, apart)" in page
    # the untrusted reply is rendered by the safe renderer: its HTML shows as text
    assert "&lt;script" in page or "&lt;img" in page
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # several charts, no id shared


def test_a_panel_report_has_the_votes_and_the_button_writes_it(
    sim: Simulator, tmp_path: Path
) -> None:
    async def scenario() -> ComparePanel:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=False) as c:
            panel = ComparePanel(MODELS[:2], client=c, blind=True, seed=4)
            await panel.run("Name a river.")
            assert panel.report_button.disabled  # blind: not before the vote
            with pytest.raises(ValueError, match="vote first"):
                panel.save_report(tmp_path / "early.html")
            panel.vote("A")
            return panel

    import asyncio

    panel = asyncio.run(scenario())
    panel.report_path = str(tmp_path / "panel.html")
    assert not panel.report_button.disabled
    panel.report_button.click()
    page = (tmp_path / "panel.html").read_text(encoding="utf-8")
    assert "<h2>Votes</h2>" in page and "Vote: voted best" in page
    assert "Report written to" in panel.status.value
    best = panel.votes[0].ranking[0]
    assert f"Model A = {best}" in page
    # the leaderboard counts the vote for each model (an integer column, not "–")
    board = page[page.index(">votes</th>") :]
    rows = re.findall(r"<tr><td>[^<]*</td><td class=\"num\">([^<]*)</td>", board)
    assert rows[:2] == ["1", "1"]


def test_the_button_names_each_report_after_its_run_never_replaces_one_and_links_it(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.chdir(tmp_path)

    async def scenario() -> ComparePanel:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=False) as c:
            panel = ComparePanel(MODELS[:2], client=c, seed=1)
            await panel.run("Name a river.")
            return panel

    panel = asyncio.run(scenario())
    assert panel.report_path is None and panel.report_path_box.value == ""
    assert panel.report_link.outputs == ()
    run_id = str(panel.results["run_id"].iloc[0])
    panel.report_button.click()
    panel.report_button.click()  # again: a second file, the first one kept
    first = tmp_path / f"compare-report-{run_id}.html"
    second = tmp_path / f"compare-report-{run_id}-2.html"
    assert set(tmp_path.iterdir()) == {first, second}
    assert f"Report written to {second}" in panel.status.value
    (shown,) = panel.report_link.outputs
    link = shown["data"]["text/html"]
    assert f'<a href="{second.name}"' in link and f"Open {second.name}</a>" in link
    assert shown["data"]["text/plain"] == str(second)

    # a name typed into the field: that file (inside the folder, linked relative to it)
    panel.report_path_box.value = "reports/rivers & lakes.html"
    panel.report_button.click()
    chosen = tmp_path / "reports" / "rivers & lakes.html"
    assert chosen.is_file()
    link = panel.report_link.outputs[0]["data"]["text/html"]
    assert 'href="reports/rivers%20%26%20lakes.html"' in link
    assert "Open reports/rivers &amp; lakes.html</a>" in link

    # outside the current directory: named in full, not linked
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere.html"
    try:
        assert panel.save_report(elsewhere) == elsewhere
        link = panel.report_link.outputs[0]["data"]["text/html"]
        assert "<a " not in link and f"<code>{elsewhere}</code>" in link
    finally:
        elsewhere.unlink(missing_ok=True)


def test_report_refuses_a_frame_that_is_not_a_comparison(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs the column"):
        q.report(pd.DataFrame({"x": [1]}), tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
