"""What a comparison keeps in the ledger: votes, and the finished cells a run resumes from."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import qolaba_nb as q
from qolaba_nb._votes import Vote, outcomes
from qolaba_nb.comparison import COLUMNS, CompareCell, acompare
from qolaba_nb.ledger import MIGRATIONS, UsageLedger, migrate
from qolaba_nb.ledger.comparisons import CELL_COLUMNS, VOTE_COLUMNS, prompt_fingerprint
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ComparePanel

pytestmark = pytest.mark.integration

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash"]
PROMPTS = [f"Tell me about river number {i}." for i in range(6)]
#: The columns that do not depend on timing (or on the run's id): equal between two runs of
#: the same cells. Derived from COLUMNS, so that a new column is compared too.
STABLE = [c for c in COLUMNS if c not in ("latency_s", "ttft_s", "chars_per_s", "run_id")]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


def _sent(sim: Simulator, since: int = 0, until: int | None = None) -> list[tuple[str, str]]:
    """(prompt, model) of every chat request the simulator got from log entry ``since`` on
    (up to ``until``, not included)."""
    found = []
    for entry in sim.requests_log[since:until]:
        body = entry.get("json") or {}
        if entry["path"].endswith("/chat/completions") and body:
            found.append((body["messages"][-1]["content"], body["model"]))
    return found


def test_the_migration_makes_the_votes_and_cells_tables(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "l.sqlite", isolation_level=None)
    migrate(conn)
    assert "m003_votes_and_cells" in [name for name, _ in MIGRATIONS]
    votes = [r[1] for r in conn.execute("PRAGMA table_info(votes)")]
    assert votes == list(VOTE_COLUMNS)
    cells = {r[1]: r[5] for r in conn.execute("PRAGMA table_info(cells)")}
    assert cells["run_id"] == 1 and cells["cell"] == 2  # the primary key
    assert set(CELL_COLUMNS) | {"judge_score", "judge_model"} <= set(cells)
    conn.close()


def test_a_cell_is_stored_with_the_frame_columns_defined_once() -> None:
    assert [("repeat" if c == "repeat_no" else c) for c in CELL_COLUMNS] == COLUMNS
    assert "credit_source" in COLUMNS


@pytest.mark.postgres
def test_the_migration_makes_the_same_tables_on_postgresql(postgres_url: str) -> None:
    import psycopg

    with UsageLedger(postgres_url):
        pass  # migrated
    with psycopg.connect(postgres_url) as conn:

        def columns(table: str) -> dict[str, str]:
            rows = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = %s ORDER BY ordinal_position",
                (table,),
            ).fetchall()
            return {name: kind for name, kind in rows}

        key = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = 'cells'::regclass AND i.indisprimary ORDER BY a.attnum"
        ).fetchall()
        applied = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY id")]
        votes, cells = columns("votes"), columns("cells")
    assert list(votes) == list(VOTE_COLUMNS)
    assert [r[0] for r in key] == ["run_id", "cell"]
    assert cells["credit"] == cells["judge_score"] == "double precision"
    assert set(CELL_COLUMNS) | {"judge_model"} <= set(cells)
    assert applied == [name for name, _ in MIGRATIONS]


async def test_panel_votes_are_stored_and_read_back_after_a_restart(
    sim: Simulator, ledger_target: str
) -> None:
    path = ledger_target
    with UsageLedger(path) as ledger:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            panel = ComparePanel([*MODELS, "deepseek/deepseek-chat"], client=c, blind=True, tag="t")
            await panel.run("Name a river.")
            panel.vote("B")
            await panel.run("Name a lake.")
            panel.vote("tie")
            await panel.run("Name a sea.")
            panel.vote(["C", "A", "B"])
    with UsageLedger(path) as reopened:  # a new kernel
        votes = reopened.votes()
    assert list(votes.columns) == list(VOTE_COLUMNS)
    assert votes["choice"].tolist() == ["better", "tie", "rank"]
    assert votes["prompt"].tolist() == ["Name a river.", "Name a lake.", "Name a sea."]
    assert votes["blind"].all() and (votes["tag"] == "t").all()
    assert votes["labels"].iloc[0] == ["Model A", "Model B", "Model C"]
    first = panel.votes[0]
    assert votes["models"].iloc[0] == list(first.models)
    assert votes["ranking"].iloc[0] == [first.models[1]]
    assert votes["run_id"].tolist() == [v.run_id for v in panel.votes]
    assert str(votes["ts"].dtype) == "datetime64[ns, UTC]"
    with UsageLedger(path) as again:
        assert len(again.votes(run_id=panel.votes[1].run_id)) == 1
        assert len(again.votes(tag="other")) == 0


def test_a_vote_implies_pairwise_outcomes() -> None:
    models = ("a", "b", "c")
    better = Vote("r", "p", models, ("A", "B", "C"), "better", ("b",))
    assert {(o.a, o.b, o.tie) for o in outcomes(better)} == {
        ("b", "a", False),
        ("b", "c", False),
        ("a", "c", True),
    }
    ranked = Vote("r", "p", models, ("A", "B", "C"), "rank", ("c", "a", "b"))
    assert {(o.a, o.b) for o in outcomes(ranked)} == {("c", "a"), ("c", "b"), ("a", "b")}
    bad = Vote("r", "p", models, ("A", "B", "C"), "both bad", eligible=("a", "b"))
    assert [(o.a, o.b, o.tie) for o in outcomes(bad)] == [("a", "b", True)]
    with pytest.raises(ValueError, match="cannot be chosen"):
        Vote("r", "p", models, ("A", "B", "C"), "better", ("c",), eligible=("a", "b"))


async def test_resume_sends_only_the_unfinished_cells_and_gives_the_same_frame(
    sim: Simulator, ledger_target: str
) -> None:
    with UsageLedger(ledger_target) as ledger:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            whole = await acompare(PROMPTS, MODELS, client=c, progress=False, temperature=0)

            stop = asyncio.Event()
            done = 0

            def on_update(cell: CompareCell) -> None:
                nonlocal done
                done += cell.done
                if done == 5:
                    stop.set()  # an interruption after five cells

            cut = await acompare(
                PROMPTS,
                MODELS,
                client=c,
                concurrency=1,
                progress=False,
                cancel=stop,
                on_update=on_update,
                temperature=0,
            )
            finished = cut[cut["status"] == "ok"]
            assert len(finished) == 5
            mark = len(sim.requests_log)
            resumed = await acompare(
                PROMPTS, MODELS, client=c, resume=cut.attrs["run_id"], progress=False, temperature=0
            )
    sent = _sent(sim, mark)
    kept = set(zip(finished["prompt"], finished["model"], strict=True))
    cells = list(zip(whole["prompt"], whole["model"], strict=True))
    assert sorted(sent) == sorted(cell for cell in cells if cell not in kept)  # each once
    assert list(resumed.columns) == COLUMNS
    pd.testing.assert_frame_equal(resumed[STABLE], whole[STABLE])
    assert (resumed["run_id"] == cut.attrs["run_id"]).all()
    assert resumed["latency_s"].notna().all()
    assert resumed.dtypes.equals(whole.dtypes)


async def test_resume_refuses_other_prompts(sim: Simulator) -> None:
    with UsageLedger(":memory:") as ledger:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            df = await acompare(PROMPTS[:2], MODELS, client=c, progress=False)
            with pytest.raises(ValueError, match="does not match"):
                await acompare(["other", "prompts"], MODELS, client=c, resume=df.attrs["run_id"])
            with pytest.raises(ValueError, match="does not match"):
                await acompare(PROMPTS[:2], MODELS[::-1], client=c, resume=df.attrs["run_id"])


def test_a_run_killed_halfway_resumes_without_sending_a_finished_cell_again(
    ledger_target: str,
) -> None:
    path = ledger_target
    run_id = "run-killed-halfway"
    child = Path(__file__).with_name("resume_child.py")
    with Simulator(speed=0, chunk_delay_s=0.02) as slow:
        proc = subprocess.Popen(
            [sys.executable, str(child), slow.base_url, slow.api_key, str(path), run_id, *PROMPTS],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
            deadline = time.monotonic() + 60
            finished = 0
            while finished < len(PROMPTS) and time.monotonic() < deadline:  # about halfway
                time.sleep(0.05)
                with UsageLedger(path) as peek:
                    finished = len(peek.finished_cells(run_id))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        with UsageLedger(path) as ledger:
            kept = ledger.finished_cells(run_id)
            assert 0 < len(kept) < len(PROMPTS) * len(MODELS)
            mark = len(slow.requests_log)
            c = q.Client(slow.api_key, slow.base_url, ledger=ledger)
            resumed = q.compare(
                PROMPTS, MODELS, client=c, resume=run_id, progress=False, temperature=0
            )
            end = len(slow.requests_log)
            whole = q.compare(PROMPTS, MODELS, client=c, progress=False, temperature=0)
            c.close()
        sent = _sent(slow, mark, end)  # the resumed run's requests, and only those
    cells = [(p, m) for p in PROMPTS for m in MODELS]  # cell k is (prompt, model) cells[k]
    assert {k: (row[0], row[1]) for k, row in kept.items()} == {k: cells[k] for k in kept}
    unfinished = [cell for k, cell in enumerate(cells) if k not in kept]
    # each unfinished cell asked once, no finished one asked again
    assert sorted(sent) == sorted(unfinished), f"sent {sent}, unfinished {unfinished}"
    assert set(resumed["status"]) == {"ok"}
    pd.testing.assert_frame_equal(resumed[STABLE], whole[STABLE])


def test_judge_scores_are_kept_with_the_cells(sim: Simulator, ledger_target: str) -> None:
    with UsageLedger(ledger_target) as ledger:
        c = q.Client(sim.api_key, sim.base_url, ledger=ledger)
        df = q.compare(PROMPTS[:2], MODELS, client=c, progress=False, judge="openai/gpt-4o")
        c.close()
        cells = ledger.cells(run_id=df.attrs["run_id"]).sort_values("cell")
    assert len(cells) == 4
    merged = cells.merge(df, on=["prompt", "model", "repeat"], suffixes=("", "_df"))
    assert (merged["judge_score"] == merged["judge_score_df"]).all()
    assert json.dumps(cells["judge_model"].unique().tolist()) == '["openai/gpt-4o"]'


async def test_a_ledger_that_cannot_keep_cells_loses_no_row_of_the_run(
    sim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "broken.sqlite"
    with UsageLedger(path) as ledger:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("DROP TABLE cells")  # another process broke the table
        other.close()
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            with pytest.warns(RuntimeWarning, match="not kept in the ledger") as caught:
                df = await acompare(PROMPTS[:2], MODELS, client=c, progress=False)
        assert len(ledger) == 4  # the calls themselves are recorded
    assert len(caught) == 1  # said once per run, not once per cell
    assert (df["status"] == "ok").all() and df["text"].str.len().gt(0).all()


async def test_a_ledger_without_text_keeps_no_prompt_or_reply_and_resume_sends_them_again(
    sim: Simulator, ledger_target: str
) -> None:
    with UsageLedger(ledger_target, store_text=False) as ledger:
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            whole = await acompare(PROMPTS[:3], MODELS, client=c, progress=False, temperature=0)
            judged = await q.ajudge(whole, model="openai/gpt-4o", client=c)
            run_id = whole.attrs["run_id"]
            cells = ledger.cells(run_id=run_id).sort_values("cell")
            assert cells["text"].isna().all()
            assert not set(cells["prompt"]) & set(PROMPTS)  # fingerprints, not the prompts
            assert cells["prompt"].str.fullmatch(r"sha256:[0-9a-f]{64}").all()
            assert cells["judge_score"].notna().all()  # the judge's scores still find their cell
            assert list(cells["judge_score"]) == list(judged["judge_score"])
            calls = ledger.to_dataframe(columns=["prompt_text", "completion_text"])
            assert calls.isna().all().all()

            mark = len(sim.requests_log)
            with pytest.warns(RuntimeWarning, match="6 finished cell.*sent again"):
                resumed = await acompare(
                    PROMPTS[:3], MODELS, client=c, resume=run_id, progress=False, temperature=0
                )
    assert len(_sent(sim, mark)) == 6  # no reply to give back: each one asked again
    pd.testing.assert_frame_equal(resumed[STABLE], whole[STABLE])


def test_a_ledger_without_text_keeps_a_votes_prompt_as_its_fingerprint(
    ledger_target: str,
) -> None:
    vote = Vote("run-1", "My private question", ("a", "b"), ("Model A", "Model B"), "tie")
    with UsageLedger(ledger_target, store_text=False) as ledger:
        ledger.record_vote(vote)
        (kept,) = ledger.votes()["prompt"]
    assert kept == prompt_fingerprint("My private question")


async def test_the_default_ledger_keeps_cell_text_but_no_call_text(
    sim: Simulator, tmp_path: Path
) -> None:
    with UsageLedger(tmp_path / "default.sqlite") as ledger:
        assert ledger.store_text is None
        async with q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
            df = await acompare(PROMPTS[:2], MODELS, client=c, progress=False)
        cells = ledger.cells(run_id=df.attrs["run_id"]).sort_values("cell")
        calls = ledger.to_dataframe(columns=["prompt_text", "completion_text"])
    assert list(cells["text"]) == list(df["text"]) and set(cells["prompt"]) == set(PROMPTS[:2])
    assert calls.isna().all().all()
