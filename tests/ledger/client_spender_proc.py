"""A child process for the client-level budget test: an AsyncClient on a shared ledger budget.

Usage: python client_spender_proc.py DB BUDGET CONCURRENCY RESERVE BASE_URL API_KEY

Prints "ready" once the ledger is open, waits for a line on stdin, then runs CONCURRENCY tasks
that each call the simulator until the ledger budget refuses; prints ``done CALLS REFUSED``.
"""

from __future__ import annotations

import asyncio
import sys

import qolaba_nb as q
from qolaba_nb.ledger import UsageLedger

SLOW = {"x-sim-ttft": "0.02", "x-sim-chunk-delay": "0.002"}  # calls overlap in flight


async def spend(client: q.AsyncClient, counts: list[int]) -> None:
    while True:
        try:
            await client.chat("hi", model="sim/echo")
        except q.BudgetExceededError:
            counts[1] += 1
            return
        counts[0] += 1


async def main() -> None:
    db, budget, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    reserve, base_url, key = float(sys.argv[4]), sys.argv[5], sys.argv[6]
    ledger = UsageLedger(db)
    ledger.set_budget(budget, session="all")
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    counts = [0, 0]
    async with q.AsyncClient(
        key, base_url, ledger=ledger, reserve_credits=reserve, headers=SLOW
    ) as client:
        await asyncio.gather(*(spend(client, counts) for _ in range(concurrency)))
    ledger.close()
    print(f"done {counts[0]} {counts[1]}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
