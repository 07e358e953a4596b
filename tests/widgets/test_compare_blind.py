"""Blind votes that stay blind, and the votes a ComparePanel takes.

The order test is statistical and seeded: over many runs, the position of each model in every
view shown before the vote (the columns, the summary table, the frame ``run`` returns) must be
independent of the order the models were passed in.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest

from qolaba_nb import AsyncClient
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ComparePanel
from qolaba_nb.widgets.compare import PICK_HINT

from .conftest import all_widgets

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash", "deepseek/deepseek-chat"]
FAILING = "sim/upstream-error"

#: chi-square critical value, 4 degrees of freedom (3 x 3 table), p = 0.001
CHI2_CRITICAL_DF4 = 18.47


@pytest.fixture(scope="module")
def fast_sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


@pytest.fixture
async def fast(fast_sim: Simulator, ledger: UsageLedger) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(fast_sim.api_key, fast_sim.base_url, ledger=ledger) as c:
        yield c


def _summary_labels(html: str) -> list[str]:
    return re.findall(r"<tr><td[^>]*>([^<]*)</td>", html)


def _chi2(table: dict[tuple[int, int], int], n: int) -> float:
    rows = Counter[int]()
    cols = Counter[int]()
    for (r, c), k in table.items():
        rows[r] += k
        cols[c] += k
    total = sum(rows.values())
    stat = 0.0
    for r in range(n):
        for c in range(n):
            expected = rows[r] * cols[c] / total
            stat += (table.get((r, c), 0) - expected) ** 2 / expected
    return stat


async def test_position_in_every_view_is_independent_of_the_order_passed(
    fast: AsyncClient,
) -> None:
    n = len(MODELS)
    views = ("columns", "summary", "frame", "results")
    tables: dict[str, dict[tuple[int, int], int]] = {v: Counter() for v in views}
    runs = 0
    for k, passed in enumerate(
        itertools.islice(itertools.cycle(itertools.permutations(MODELS)), 90)
    ):
        panel = ComparePanel(list(passed), client=fast, blind=True, seed=1000 + k)
        frame = await panel.run(f"Name a river ({k}).")
        # before the vote: labels only, in every view, and the same order in each
        labels = [c.label for c in panel.columns]
        assert labels == ["Model A", "Model B", "Model C"]
        assert _summary_labels(panel.summary.value) == labels
        assert frame["model"].tolist() == labels and frame["label"].tolist() == labels
        assert panel.results["model"].tolist() == labels
        shown = repr(frame) + frame.to_html() + panel.summary.value + repr(panel)
        shown += "".join(c.title.value + c.stats.value for c in panel.columns)
        assert not any(m in shown for m in MODELS)
        seen = {
            "columns": labels,
            "summary": _summary_labels(panel.summary.value),
            "frame": frame["label"].tolist(),
            "results": panel.results["label"].tolist(),
        }
        panel.vote("tie")
        model_of = dict(zip(frame["label"], frame["model"], strict=True))  # revealed
        for view, order in seen.items():
            for position, label in enumerate(order):
                tables[view][(passed.index(model_of[label]), position)] += 1
        runs += 1
    for view in views:
        # every passed position reaches every shown position, with no dependence
        assert _chi2(tables[view], n) < CHI2_CRITICAL_DF4, (view, dict(tables[view]))
        assert all(tables[view].get((r, c), 0) > 0 for r in range(n) for c in range(n))
    # and the test has teeth: a view in the order passed would fail it
    identity = Counter({(i, i): runs for i in range(n)})
    assert _chi2(identity, n) > CHI2_CRITICAL_DF4


async def test_blind_numbers_wait_for_the_vote_then_show(fast: AsyncClient) -> None:
    panel = ComparePanel(MODELS[:2], client=fast, blind=True, seed=3)
    frame = await panel.run("Which river is longest?")
    for column in panel.columns:
        assert "credits" not in column.stats.value or "after your vote" in column.stats.value
        assert "chars/s" not in column.stats.value
    for word in ("credit", "cost", "latency", "TTFT", "chars/s"):
        assert word not in panel.summary.value
    assert panel.model_box.layout.display == "none"  # the picker lists the models in play
    assert panel.hidden_note.layout.display is None
    panel.vote("A")
    assert panel.model_box.layout.display is None
    for column in panel.columns:
        assert "credits" in column.stats.value and "chars/s" in column.stats.value
    assert "credit" in panel.summary.value and "latency" in panel.summary.value
    assert frame["model"].tolist() == [c.model for c in panel.columns]
    assert frame["vote"].tolist() == [True, False] and frame["rank"].tolist() == [1, 2]


async def test_a_failed_column_cannot_win(fast: AsyncClient) -> None:
    panel = ComparePanel([MODELS[0], FAILING, MODELS[1]], client=fast, blind=True, seed=5)
    await panel.run("Hello")
    failed = next(c for c in panel.columns if c.model == FAILING)
    assert failed.failed and failed.vote_button.disabled
    assert all(not c.vote_button.disabled for c in panel.columns if c is not failed)
    with pytest.raises(ValueError, match="failed"):
        panel.vote(failed.label)
    with pytest.raises(ValueError, match="failed"):
        panel.vote([failed.label, panel.columns[0].label])
    vote = panel.vote("tie")  # still open: the refused votes changed nothing
    assert FAILING not in vote.eligible
    assert panel.results.set_index("model")["rank"].isna()[FAILING]


async def test_tie_both_bad_and_a_ranking(fast: AsyncClient) -> None:
    panel = ComparePanel(MODELS, client=fast, blind=True, seed=7)
    await panel.run("One")
    assert not panel.tie_button.disabled and not panel.bad_button.disabled
    panel.tie_button.click()
    assert panel.results["choice"].tolist() == ["tie"] * 3
    assert panel.results["rank"].tolist() == [1, 1, 1]
    assert panel.tie_button.disabled  # one vote per prompt

    await panel.run("Two")
    panel.bad_button.click()
    last = panel.results.iloc[3:]
    assert last["choice"].tolist() == ["both bad"] * 3 and last["rank"].isna().all()

    await panel.run("Three")  # rank by clicking the columns best first
    assert not panel.rank_button.disabled
    panel.rank_button.value = True
    order = [panel.columns[2], panel.columns[0]]
    for column in order:
        column.vote_button.click()
    last = panel.results.iloc[6:].set_index("label")
    assert last["choice"].tolist() == ["rank"] * 3
    assert last["rank"][order[0].label] == 1 and last["rank"][order[1].label] == 2
    assert last["rank"][panel.columns[1].label] == 3
    assert [v.choice for v in panel.votes] == ["tie", "both bad", "rank"]
    assert panel.votes[-1].ranking == (order[0].model, order[1].model, panel.columns[1].model)

    await panel.run("Four")
    panel.vote(["B", "C", "A"])
    assert panel.votes[-1].ranking == tuple(panel.columns[i].model for i in (1, 2, 0))


async def test_stop_stops_every_column(ledger: UsageLedger) -> None:
    with Simulator(speed=0, chunk_delay_s=0.3) as slow_sim:
        async with AsyncClient(slow_sim.api_key, slow_sim.base_url, ledger=ledger) as slow:
            panel = ComparePanel(MODELS[:2], client=slow)
            task = asyncio.ensure_future(panel.run("Tell me a long story about rivers."))
            for _ in range(200):
                await asyncio.sleep(0.02)
                if slow_sim.stats.requests == 2:
                    break
            await asyncio.sleep(0.5)  # a chunk or two each
            assert not panel.stop_button.disabled
            panel.stop_button.click()
            frame = await asyncio.wait_for(task, 10)
    assert frame["status"].tolist() == ["cancelled", "cancelled"]
    assert (frame["text"].str.len() > 0).all()  # what arrived is kept
    assert panel.stop_button.disabled
    assert all("Stopped" in c.transcript.messages[-1]["html"] for c in panel.columns)
    assert set(ledger.to_dataframe()["status"]) == {"cancelled"}


def test_the_picker_says_how_to_pick_several(fast: AsyncClient) -> None:
    panel = ComparePanel(["openai/gpt-4o"], client=fast)
    texts = " ".join(str(getattr(x, "value", "")) for x in all_widgets(panel))
    assert "Ctrl+click" in PICK_HINT and PICK_HINT.split(" (")[0] in texts
    assert "Ctrl+click" in panel.model_note.value  # and again when the selection is wrong
