"""A budget under concurrency 1, 8 and 32, in one process and in two sharing a ledger.

    python benchmarks/bench_budget.py

Against the simulator (in a process of its own). Each call costs 0.066 credits
(openai/gpt-4o-mini, 160 characters) and reserves 0.07, so the guarantee applies: the spend
must never exceed the budget (overshoot 0). Workers keep calling until a refusal says the budget
itself is spent (a refusal caused only by other calls' reservations is retried). A last line per
setting reserves 0.03 for the same calls: then the overshoot is allowed, and printed against its
bound, the sum of (actual - reserved) over the calls in flight.

In two processes the budget is a ledger budget (``set_budget(..., session="all")`` on one
SQLite file): the processes share nothing but the ledger's holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _simproc import simulator_process

import qolaba_nb as q

MODEL = "openai/gpt-4o-mini"
PARAMS = {"max_tokens": 40}  # 160 characters: 0.066 credits
COST = 0.066
BUDGET = 2.0
HEADERS = {"x-sim-latency": "0.05"}  # long enough for calls to overlap


async def spend_until_refused(
    client: q.AsyncClient, concurrency: int, reserve: float
) -> dict[str, Any]:
    """``concurrency`` workers call until the budget is spent; what they did."""
    done = refused = 0
    peak = in_flight = 0

    async def worker() -> None:
        nonlocal done, refused, peak, in_flight
        while True:
            try:
                reply = await client.chat("Spend.", model=MODEL, reserve_credits=reserve, **PARAMS)
            except q.BudgetExceededError as err:
                refused += 1
                if err.spent + reserve > err.budget:  # the budget itself is spent: stop
                    return
                await asyncio.sleep(0.005)  # only calls in flight stand in the way: retry
                continue
            assert reply.credit is not None
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"calls": done, "refused": refused, "seconds": time.perf_counter() - t0}


async def one_process(base_url: str, key: str, concurrency: int, reserve: float) -> dict[str, Any]:
    async with q.AsyncClient(
        key, base_url, ledger=False, budget_credits=BUDGET, headers=HEADERS
    ) as client:
        out = await spend_until_refused(client, concurrency, reserve)
        out["spent"] = client.spent_credit
    return out


async def ledger_worker(
    base_url: str, key: str, path: str, concurrency: int, reserve: float
) -> None:
    with q.UsageLedger(path) as ledger:
        ledger.set_budget(BUDGET, session="all")
        async with q.AsyncClient(key, base_url, ledger=ledger, headers=HEADERS) as client:
            out = await spend_until_refused(client, concurrency, reserve)
    print(json.dumps(out))


def two_processes(base_url: str, key: str, concurrency: int, reserve: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "shared.sqlite")
        q.UsageLedger(path).close()  # create and migrate once, before the workers race
        args = [sys.executable, __file__, "--worker", base_url, key, path]
        args += [str(concurrency), str(reserve)]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [json.loads(p.communicate()[0]) for p in procs]
        seconds = time.perf_counter() - t0
        with q.UsageLedger(path) as ledger:
            spent, _cost = ledger.spent(session="all")
    return {
        "calls": sum(o["calls"] for o in outs),
        "refused": sum(o["refused"] for o in outs),
        "seconds": seconds,
        "spent": spent,
    }


def line(setting: str, concurrency: int, reserve: float, out: dict[str, Any], flight: int) -> str:
    overshoot = max(0.0, out["spent"] - BUDGET)
    bound = flight * max(0.0, COST - reserve)
    verdict = "ok" if overshoot <= bound + 1e-9 else "OVER THE BOUND"
    return (
        f"{setting:<11} concurrency {concurrency:>2}  reserve {reserve:.2f}: spent "
        f"{out['spent']:.3f} of {BUDGET:g} credits in {out['calls']:>3} calls "
        f"({out['refused']} refusals, {out['seconds']:.1f} s); overshoot {overshoot:.3f} "
        f"(bound {bound:.3f}) {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs=5, metavar=("URL", "KEY", "LEDGER", "CONC", "RESERVE"))
    args = parser.parse_args()
    if args.worker:
        url, key, path, conc, reserve = args.worker
        asyncio.run(ledger_worker(url, key, path, int(conc), float(reserve)))
        return
    print(f"each call costs {COST} credits; budget {BUDGET:g} credits")
    with simulator_process("--speed", "0") as sim:
        for concurrency in (1, 8, 32):
            for reserve in (0.07, 0.03):
                out = asyncio.run(one_process(sim.base_url, sim.api_key, concurrency, reserve))
                print(line("1 process", concurrency, reserve, out, concurrency))
            for reserve in (0.07, 0.03):
                out = two_processes(sim.base_url, sim.api_key, concurrency, reserve)
                print(line("2 processes", concurrency, reserve, out, 2 * concurrency))


if __name__ == "__main__":
    main()
