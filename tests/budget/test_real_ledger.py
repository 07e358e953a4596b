"""The client with the real ``UsageLedger``: its history sets the reservation and the estimate,
its holds enforce a budget shared by two processes, and replays count nowhere in it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qolaba_nb as q
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator

pytestmark = pytest.mark.integration

CHEAP = "openai/gpt-4o-mini"


def test_history_sets_the_reservation_and_the_estimate_of_a_stopped_stream(
    sim: Simulator,
) -> None:
    with UsageLedger(":memory:") as ledger:
        ledger.set_budget(10)
        with q.Client(sim.api_key, sim.base_url, ledger=ledger, budget_credits=5) as client:
            for prompt in ("Name a river.", "Name a mountain.", "Tell me about rivers"):
                for max_tokens in (10, 40, 80):
                    client.chat(prompt, model=CHEAP, max_tokens=max_tokens)
            expected = ledger.expected_credit(CHEAP)
            fit = ledger.credit_fit(CHEAP)
            assert expected is not None and fit is not None
            spent_before = client.spent_credit
            with client.stream("Tell me about rivers", model=CHEAP) as stream:
                assert client.budget is not None
                assert client.budget.reserved == pytest.approx(expected)  # from history
                for i, _ in enumerate(stream.text_deltas()):
                    if i == 2:
                        break
                chars = len(stream.text)
        assert client.budget.reserved == 0 and ledger.holds() == []
        row = ledger.to_dataframe().iloc[-1]
        assert (row["status"], row["credit_source"]) == ("cancelled", "estimated")
        assert row["credit"] == pytest.approx(fit[0] + fit[1] * chars, abs=1e-6)
        assert client.spent_credit - spent_before == pytest.approx(row["credit"])
        spent, _ = ledger.spent()
        assert spent == pytest.approx(client.spent_credit)  # the estimate counts in both


def test_replayed_calls_count_in_no_budget_of_the_real_ledger(
    sim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "s.jsonl"
    with q.Client(sim.api_key, sim.base_url, record=path, ledger=False) as recorder:
        recorder.chat("Hi", model=CHEAP, max_tokens=40)
    with UsageLedger(":memory:") as ledger:
        ledger.set_budget(0)
        with q.Client(replay=path, ledger=ledger) as client:
            reply = client.chat("Hi", model=CHEAP, max_tokens=40)
        assert reply.credit and client.spent_credit == 0
        assert ledger.spent() == (0.0, 0.0) and ledger.holds() == []
        rows = ledger.to_dataframe(include_replayed=True)
        assert rows["replayed"].tolist() == [True]


_WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    import qolaba_nb as q

    url, key, path = sys.argv[1:4]

    async def main():
        done = refused = 0
        with q.UsageLedger(path) as ledger:
            ledger.set_budget(2.0, session="all")
            async with q.AsyncClient(key, url, ledger=ledger, reserve_credits=0.07,
                                     headers={"x-sim-latency": "0.02"}) as client:
                print("ready", flush=True)
                sys.stdin.readline()  # both processes start spending together
                async def worker():
                    nonlocal done, refused
                    while True:
                        try:
                            await client.chat("Spend.", model="openai/gpt-4o-mini",
                                              max_tokens=40)
                        except q.BudgetExceededError as err:
                            refused += 1
                            if err.spent + 0.07 > err.budget:
                                return
                            await asyncio.sleep(0.005)
                        else:
                            done += 1
                await asyncio.gather(*(worker() for _ in range(16)))
        print(json.dumps({"calls": done, "refused": refused}))

    asyncio.run(main())
    """
)


def test_two_processes_at_concurrency_16_stay_within_a_shared_ledger_budget(
    sim: Simulator, tmp_path: Path
) -> None:
    db = tmp_path / "shared.sqlite"
    UsageLedger(db).close()
    args = [sys.executable, "-c", _WORKER, sim.base_url, sim.api_key, str(db)]
    procs = [
        subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [json.loads(p.communicate(timeout=100)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    with UsageLedger(db) as ledger:
        spent, _ = ledger.spent(session="all")
        rows = ledger.to_dataframe()
        assert ledger.holds() == []
    assert all(o["calls"] > 0 for o in outs) and sum(o["calls"] for o in outs) == len(rows)
    assert (rows["credit"] <= 0.07).all()  # each call cost no more than its reservation...
    assert spent <= 2.0 + 1e-9  # ...so the budget holds
    assert spent + 0.07 > 2.0  # and it was filled: the last reservation did not fit
