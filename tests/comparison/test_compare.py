"""The comparison runner against the simulator: concurrency, failures as rows, rate limits."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pandas as pd
import pytest

import qolaba_nb as q
from qolaba_nb.comparison import COLUMNS, AdaptiveLimit, CompareCell, acompare, compare, estimate
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator

pytestmark = pytest.mark.integration

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:  # no pacing: these tests are about behaviour, not timing
        yield s


@pytest.fixture
def ledger() -> Iterator[UsageLedger]:
    with UsageLedger(":memory:") as led:
        yield led


_open: list[q.AsyncClient] = []


def client(sim: Simulator, ledger: UsageLedger, **kw: object) -> q.AsyncClient:
    c = q.AsyncClient(sim.api_key, sim.base_url, ledger=ledger, **kw)  # type: ignore[arg-type]
    _open.append(c)
    return c


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


async def test_every_prompt_on_every_model_gives_one_row_each(
    sim: Simulator, ledger: UsageLedger
) -> None:
    prompts = ["Name a river.", "Name a mountain."]
    df = await acompare(
        prompts, MODELS, client=client(sim, ledger), repeats=2, progress=False, temperature=0
    )
    assert list(df.columns) == COLUMNS
    assert len(df) == 2 * 2 * 2
    assert set(df["status"]) == {"ok"}
    assert df["credit"].gt(0).all() and df["cost"].gt(0).all()
    assert df["ttft_s"].notna().all() and (df["latency_s"] >= df["ttft_s"]).all()
    assert df["run_id"].nunique() == 1
    assert list(df["prompt"].unique()) == prompts and list(df["model"].unique()) == MODELS
    # the ledger has every call, with the run id
    rows = ledger.to_dataframe(run_id=df["run_id"].iloc[0])
    assert len(rows) == 8 and set(rows["kind"]) == {"stream"}
    # same prompt, same model, temperature 0: the same text each repeat
    same = df[(df["prompt"] == prompts[0]) & (df["model"] == MODELS[0])]["text"]
    assert same.nunique() == 1


async def test_a_failing_model_is_a_row_with_its_error_and_the_others_come_back(
    sim: Simulator, ledger: UsageLedger
) -> None:
    models = [*MODELS, "sim/upstream-error", "sim/rate-limited", "sim/cut-stream"]
    c = client(sim, ledger, max_retries=0)
    df = await acompare(["Hello"], models, client=c, progress=False)
    by_model = df.set_index("model")
    assert by_model.loc[MODELS, "status"].eq("ok").all()
    assert by_model.loc["sim/upstream-error", "status"] == "api_error"
    assert "UpstreamError" in str(by_model.loc["sim/upstream-error", "error"])
    assert "RateLimitError" in str(by_model.loc["sim/rate-limited", "error"])
    assert by_model.loc["sim/cut-stream", "status"] == "truncated"
    assert len(str(by_model.loc["sim/cut-stream", "text"])) > 0  # partial text kept
    assert by_model["credit"].isna()["sim/upstream-error"]


async def test_at_most_concurrency_requests_are_in_flight(
    sim: Simulator, ledger: UsageLedger
) -> None:
    in_flight, peak = 0, 0
    lock = threading.Lock()

    def on_update(cell: CompareCell) -> None:
        nonlocal in_flight, peak
        with lock:
            if cell.done:
                in_flight -= 1
            elif cell.delta and cell.text == cell.delta:  # first delta of this cell
                in_flight += 1
                peak = max(peak, in_flight)

    c = client(sim, ledger, headers={"x-sim-latency": "0.2"})
    df = await acompare(
        ["a", "b", "c", "d", "e", "f"],
        MODELS,
        client=c,
        concurrency=3,
        progress=False,
        on_update=on_update,
    )
    assert set(df["status"]) == {"ok"}
    assert 1 < peak <= 3


async def test_on_update_sees_text_grow_then_done(sim: Simulator, ledger: UsageLedger) -> None:
    seen: list[tuple[str, bool]] = []
    await acompare(
        ["Hello"],
        MODELS[:1],
        client=client(sim, ledger),
        progress=False,
        on_update=lambda c: seen.append((c.text, c.done)),
    )
    texts = [t for t, done in seen if not done]
    assert len(texts) > 3 and all(a != b for a, b in itertools.pairwise(texts))
    assert seen[-1][1] is True and seen[-1][0] == texts[-1]


def test_compare_runs_from_plain_code(sim: Simulator, ledger: UsageLedger) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as c:
        df = compare(["Hello"], MODELS, client=c, progress=False)
    assert set(df["status"]) == {"ok"} and len(df) == 2


async def test_compare_works_inside_a_running_loop(sim: Simulator, ledger: UsageLedger) -> None:
    # as in a notebook cell: a loop is running, compare() must not call asyncio.run on it
    asyncio.get_running_loop()
    df = compare(["Hello"], MODELS, client=client(sim, ledger), progress=False)
    assert set(df["status"]) == {"ok"}


async def test_prompts_may_be_message_lists_or_a_dataframe_column(
    sim: Simulator, ledger: UsageLedger
) -> None:
    frame = pd.DataFrame({"q": ["One?", "Two?"]})
    df = await acompare(frame["q"], MODELS[:1], client=client(sim, ledger), progress=False)
    assert list(df["prompt"]) == ["One?", "Two?"]
    conv = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Three?"}]]
    df2 = await acompare(conv, MODELS[:1], client=client(sim, ledger), progress=False)
    assert list(df2["prompt"]) == ["Three?"] and df2["status"].iloc[0] == "ok"


async def test_invalid_parameters_fail_every_cell_without_sending(
    sim: Simulator, ledger: UsageLedger
) -> None:
    before = sim.stats.requests
    df = await acompare(["Hi"], MODELS, client=client(sim, ledger), progress=False, temperature=5)
    assert set(df["status"]) == {"api_error"} and df["error"].str.contains("temperature").all()
    assert sim.stats.requests == before


async def test_a_spent_budget_stops_the_remaining_cells(
    sim: Simulator, ledger: UsageLedger
) -> None:
    c = client(sim, ledger, budget_credits=0.1, reserve_credits=0.1)
    df = await acompare(["a", "b", "c"], MODELS[:1], client=c, concurrency=1, progress=False)
    assert list(df["status"]) == ["ok", "api_error", "api_error"]
    assert 0 < c.spent_credit <= 0.1
    assert df["error"].iloc[1].startswith("BudgetExceededError")


def test_adaptive_limit_halves_on_rate_limits_and_grows_back() -> None:
    limit = AdaptiveLimit(8)
    limit.rate_limited()
    assert limit.limit == 4
    limit.rate_limited()
    limit.rate_limited()
    limit.rate_limited()
    assert limit.limit == 1
    for _ in range(1):
        limit.succeeded()
    assert limit.limit == 2
    for _ in range(2):
        limit.succeeded()
    assert limit.limit == 3
    for _ in range(100):
        limit.succeeded()
    assert limit.limit == 8


async def test_rate_limited_cells_come_back_through_the_client_retries(ledger: UsageLedger) -> None:
    # a tight per-key limit: 4 requests per second; the client's retry policy waits it out
    with Simulator(speed=0, rate_limit=4, rate_window_s=1.0) as tight:
        c = q.AsyncClient(tight.api_key, tight.base_url, ledger=ledger)
        _open.append(c)
        t0 = time.perf_counter()
        df = await acompare(
            [f"p{i}" for i in range(8)], MODELS[:1], client=c, concurrency=8, progress=False
        )
        elapsed = time.perf_counter() - t0
    assert set(df["status"]) == {"ok"}  # every cell came back after waiting
    assert elapsed >= 0.9  # it waited for the window rather than failing


def test_estimate_uses_the_ledger_history(sim: Simulator, ledger: UsageLedger) -> None:
    with q.Client(sim.api_key, sim.base_url, ledger=ledger) as c:
        for _ in range(3):
            c.chat("Hello", model=MODELS[0])
    est = estimate(["a", "b"], [MODELS[0], "nobody/unknown"], ledger=ledger, repeats=2)
    row = est.loc[MODELS[0]]
    assert row["calls"] == 3
    past = ledger.to_dataframe(model=MODELS[0])
    assert row["credit_per_call"] == pytest.approx(past["credit"].mean())
    assert row["expected_credit"] == pytest.approx(past["credit"].mean() * 4)
    assert "unknown" in str(est.loc["nobody/unknown", "note"])
    assert est["expected_credit"].isna()["nobody/unknown"]
    assert est.attrs["total_credit"] == pytest.approx(row["expected_credit"])


def test_estimate_on_an_empty_ledger_says_unknown_and_reads_no_other_ledger(
    ledger: UsageLedger,
) -> None:
    est = estimate(["a"], MODELS, ledger=ledger)  # an empty ledger is falsy (len 0)
    assert est["calls"].eq(0).all() and est["note"].str.startswith("unknown").all()


async def test_stop_is_the_stop_sequences_as_in_chat(sim: Simulator, ledger: UsageLedger) -> None:
    df = await acompare(
        ["Name three rivers."],
        ["sim/echo"],
        client=client(sim, ledger),
        progress=False,
        stop=" rivers",
    )
    assert df["text"].tolist() == ["Name three"] and df["finish_reason"].tolist() == ["stop"]
    assert ledger.to_dataframe()["status"].tolist() == ["ok"]


def test_an_event_as_stop_is_refused_before_anything_is_sent(ledger: UsageLedger) -> None:
    with Simulator(speed=0) as own:
        with q.Client(own.api_key, own.base_url, ledger=ledger) as c:
            with pytest.raises(TypeError, match=r"stop sequences.*cancel="):
                compare(["hi"], MODELS, client=c, progress=False, stop=asyncio.Event())  # type: ignore[arg-type]
            assert len(ledger) == 0
            # stop sequences are checked as chat() checks them: every cell fails unsent
            df = compare(["hi"], MODELS, client=c, progress=False, stop=list("abcde"))
            assert df["error"].str.contains("stop accepts at most 4 sequences").all()
        assert own.stats.requests == 0


async def test_stop_cuts_the_cells_in_flight_and_sends_no_more(ledger: UsageLedger) -> None:
    with Simulator(speed=0, chunk_delay_s=0.02) as slow:
        c = q.AsyncClient(slow.api_key, slow.base_url, ledger=ledger)
        _open.append(c)
        stop = asyncio.Event()

        def on_update(cell: CompareCell) -> None:
            if len(cell.text) > 20:
                stop.set()

        df = await acompare(
            [f"Tell me about river {i}." for i in range(6)],
            MODELS,
            client=c,
            concurrency=2,
            progress=False,
            on_update=on_update,
            cancel=stop,
        )
        sent = slow.stats.requests
    assert len(df) == 12 and set(df["status"]) == {"cancelled"}
    assert sent == 2  # the two in flight; nothing after the stop
    cut = df[df["text"].str.len() > 0]
    assert len(cut) >= 1  # the partial text of a cut cell is kept
    assert (df["error"].str.contains("stopped")).all()
    assert set(ledger.to_dataframe()["status"]) == {"cancelled"}


async def test_a_stopped_cell_shows_its_estimated_credit_marked_as_such(
    ledger: UsageLedger, tmp_path: Path
) -> None:
    with Simulator(speed=0, chunk_delay_s=0.02) as slow:
        fast = q.AsyncClient(
            slow.api_key, slow.base_url, ledger=ledger, headers={"x-sim-chunk-delay": "0"}
        )
        c = q.AsyncClient(slow.api_key, slow.base_url, ledger=ledger)
        _open.extend([fast, c])
        # a history of priced replies, from which the client estimates a cut one
        pilot = await acompare(
            ["Name a river.", "Describe the longest river in detail.", "Rivers?"],
            MODELS,
            client=fast,
            progress=False,
        )
        assert set(pilot["credit_source"]) == {"reported"} and pilot["credit"].gt(0).all()
        stop = asyncio.Event()

        def on_update(cell: CompareCell) -> None:
            if len(cell.text) > 20:
                stop.set()

        df = await acompare(
            [f"Tell me about river {i}." for i in range(6)],
            MODELS,
            client=c,
            concurrency=2,
            progress=False,
            on_update=on_update,
            cancel=stop,
        )
    sent = df[df["error"] == "stopped"]
    assert len(sent) == 2 and set(df["status"]) == {"cancelled"}
    assert set(sent["credit_source"]) == {"estimated"} and sent["credit"].gt(0).all()
    calls = ledger.to_dataframe()
    cut = calls[calls["status"] == "cancelled"].sort_values("model")
    shown = sent.sort_values("model")
    assert list(shown["credit"]) == list(cut["credit"])  # the ledger's own figure
    assert set(cut["credit_source"]) == {"estimated"}
    assert df.attrs["total_credit"] == pytest.approx(sent["credit"].sum())
    unsent = df[df["error"] != "stopped"]
    assert unsent["credit"].isna().all() and unsent["credit_source"].isna().all()
    page = q.report(df, tmp_path / "stopped.html").read_text(encoding="utf-8")
    assert page.count(" credits (estimated) ·") == 2


def test_progress_bar_shows_the_credit_total_and_the_estimate_left(
    sim: Simulator, ledger: UsageLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    c = q.Client(sim.api_key, sim.base_url, ledger=ledger)
    df = compare(["a", "b", "c"], MODELS[:1], client=c, concurrency=1, progress=True)
    c.close()
    err = capsys.readouterr().err
    assert "credits, ~" in err and " left" in err
    assert f"{df['credit'].sum():.4g} credits" in err


async def test_no_cell_object_outlives_its_cell(sim: Simulator, ledger: UsageLedger) -> None:
    import gc
    import weakref

    seen: dict[int, weakref.ref[CompareCell]] = {}
    most = 0

    def on_update(cell: CompareCell) -> None:
        nonlocal most
        seen.setdefault(id(cell), weakref.ref(cell))
        if cell.done:
            gc.collect()
            most = max(most, sum(r() is not None for r in seen.values()))

    df = await acompare(
        [f"p{i}" for i in range(60)],
        MODELS,
        client=client(sim, ledger),
        concurrency=3,
        progress=False,
        on_update=on_update,
    )
    assert len(df) == 120 and set(df["status"]) == {"ok"}
    assert most <= 3 + 1  # the cells in flight (and the one finishing), never one per cell
