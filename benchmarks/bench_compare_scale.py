"""``acompare`` at 10,000 cells: memory, time per cell against a bare httpx loop, resume cost.

    python benchmarks/bench_compare_scale.py [--cells 10000] [--small 1000] [--concurrency 8]

Each measurement runs in a fresh child process (same warm-up, nothing left over from the one
before), against one simulator in a process of its own (no pacing, no rate limit):

1. a bare httpx loop: ``concurrency`` workers POST the same streamed request, read every line
   and ``json.loads`` every ``data:`` event (the floor: no validation, no ledger, no frame);
2. ``acompare`` over ``--small`` cells, then over ``--cells`` cells (2 models x N/2 prompts),
   with a file ledger (every call recorded, every finished cell kept for ``resume=``);
3. in the big run's process, ``acompare(..., resume=run_id)`` of the finished run: it sends
   nothing, and the time is what skipping N finished cells costs.

Memory is the peak resident set during the run (sampled every 5 ms) minus the resident set
just before it, after a warm-up run that imports pandas and opens the connections. The frame
itself must hold every reply, so some growth per cell is expected; what must not grow is the
part per cell beyond its row. Targets: the big run's growth under 10x the small run's (10x the
cells); time per cell within 2x of the bare loop's; skipping a finished cell under 5% of
running one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

MODELS = ["openai/gpt-4o-mini", "google/gemini-2.5-flash"]
_PAGE = os.sysconf("SC_PAGE_SIZE")
_SERVE = (
    "import sys\n"
    "from qolaba_nb.simulator import Simulator\n"
    "with Simulator(speed=0, rate_limit=10**9, max_log=10) as sim:\n"
    "    print(sim.base_url, sim.api_key, flush=True)\n"
    "    sys.stdin.read()\n"
)


def prompts(cells: int) -> list[str]:
    return [f"Tell me about river number {i}." for i in range(cells // len(MODELS))]


def rss() -> int:
    """This process's resident set, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


@contextmanager
def peak_rss() -> Iterator[dict[str, int]]:
    """The highest resident set while the block runs, sampled every 5 ms, minus the start."""
    gc.collect()
    found = {"start": rss(), "peak": 0}
    found["peak"] = found["start"]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            found["peak"] = max(found["peak"], rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        done.set()
        thread.join()
        found["peak"] = max(found["peak"], rss())
        found["growth"] = found["peak"] - found["start"]


# ---- the child: one measurement ---------------------------------------------------------------


async def bare_loop(base_url: str, api_key: str, n: int, concurrency: int) -> int:
    """``n`` streamed requests, ``concurrency`` at a time; returns the characters read."""
    url = base_url + "/api/v1/chat/completions"
    auth = {"Authorization": f"Bearer {api_key}"}
    work = iter(range(n))
    texts = prompts(n)
    chars = 0

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal chars
        for i in work:
            body = {
                "model": MODELS[i % len(MODELS)],
                "messages": [{"role": "user", "content": texts[i // len(MODELS)]}],
                "stream": True,
            }
            async with http.stream("POST", url, json=body, headers=auth) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if line.startswith("data:") and line != "data: [DONE]":
                        event = json.loads(line[5:])
                        for choice in event.get("choices") or ():
                            chars += len((choice.get("delta") or {}).get("content") or "")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return chars


def child(kind: str, base_url: str, api_key: str, cells: int, concurrency: int) -> dict[str, Any]:
    import qolaba_nb as q

    with (
        tempfile.TemporaryDirectory(prefix="bench-compare-scale-") as tmp,
        q.UsageLedger(Path(tmp) / "usage.sqlite") as ledger,
    ):
        return asyncio.run(measure_one(kind, base_url, api_key, cells, concurrency, ledger))


async def measure_one(
    kind: str, base_url: str, api_key: str, cells: int, concurrency: int, ledger: Any
) -> dict[str, Any]:
    import qolaba_nb as q

    async with q.AsyncClient(api_key, base_url, ledger=ledger) as client:
        # Warm up: pandas imported, connections open, the ledger's first writes done.
        await q.acompare(prompts(40), MODELS, client=client, progress=False)
        await bare_loop(base_url, api_key, 40, concurrency)
        out: dict[str, Any] = {"cells": cells}
        if kind == "compare-heap":  # the Python heap alone (tracemalloc: several times slower)
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            df = await q.acompare(
                prompts(cells), MODELS, client=client, concurrency=concurrency, progress=False
            )
            out["heap_peak"] = tracemalloc.get_traced_memory()[1] - before
            tracemalloc.stop()
            return out
        with peak_rss() as memory:
            t0 = time.perf_counter()
            if kind == "bare":
                out["chars"] = await bare_loop(base_url, api_key, cells, concurrency)
            else:
                df = await q.acompare(
                    prompts(cells), MODELS, client=client, concurrency=concurrency, progress=False
                )
                assert len(df) == cells and set(df["status"]) == {"ok"}, df["status"].value_counts()
                out["chars"] = int(df["text"].str.len().sum())
            out["seconds"] = time.perf_counter() - t0
        out["rss_growth"] = memory["growth"]
        if kind == "compare-resume":
            sent = len(ledger)
            t0 = time.perf_counter()
            again = await q.acompare(
                prompts(cells), MODELS, client=client, resume=df.attrs["run_id"], progress=False
            )
            out["resume_seconds"] = time.perf_counter() - t0
            out["resume_sent"] = len(ledger) - sent
            assert again[["text", "credit"]].equals(df[["text", "credit"]])
    return out


# ---- the parent: a simulator and one child per measurement -----------------------------------


@contextmanager
def simulator() -> Iterator[tuple[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        base_url, api_key = proc.stdout.readline().split()
        yield base_url, api_key
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the server's stdin.read() returns: it stops
        proc.wait(20)


def measure(kind: str, sim: tuple[str, str], cells: int, concurrency: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOLABA_")}
    argv = [sys.executable, __file__, "--child", kind, *sim, str(cells), str(concurrency)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--heap", action="store_true", help="also the Python heap's peak (tracemalloc), apart"
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, base_url, api_key, cells, concurrency = args.child
        print(json.dumps(child(kind, base_url, api_key, int(cells), int(concurrency))))
        return

    mb = 1024 * 1024
    with simulator() as sim:
        bare = measure("bare", sim, args.small, args.concurrency)
        small = measure("compare", sim, args.small, args.concurrency)
        big = measure("compare-resume", sim, args.cells, args.concurrency)
        if args.heap:
            small_heap = measure("compare-heap", sim, args.small, args.concurrency)
            big_heap = measure("compare-heap", sim, args.cells, args.concurrency)

    per = {
        name: r["seconds"] / r["cells"] * 1e3
        for name, r in (("bare", bare), ("small", small), ("big", big))
    }
    print(f"concurrency {args.concurrency}; {len(MODELS)} models; file ledger; simulator unpaced")
    print(
        f"bare httpx loop, {bare['cells']:,} requests: {bare['seconds']:.2f} s, "
        f"{per['bare']:.2f} ms/request"
    )
    for name, r in (("small", small), ("big", big)):
        print(
            f"acompare, {r['cells']:,} cells: {r['seconds']:.2f} s, {per[name]:.2f} ms/cell "
            f"({per[name] / per['bare']:.2f}x the bare loop), "
            f"peak RSS growth {r['rss_growth'] / mb:.1f} MB "
            f"({r['rss_growth'] / r['cells'] / 1024:.2f} KB/cell)"
        )
    ratio = big["rss_growth"] / max(small["rss_growth"], 1)
    cells_ratio = big["cells"] / small["cells"]
    print(
        f"memory: {big['cells']:,} cells / {small['cells']:,} cells = {ratio:.2f}x "
        f"for {cells_ratio:.0f}x the cells (target < {cells_ratio:.0f}x); "
        f"reply text held in the frame: {big['chars'] / mb:.1f} MB of characters"
    )
    if args.heap:
        heap = big_heap["heap_peak"] / max(small_heap["heap_peak"], 1)
        print(
            f"Python heap peak (tracemalloc): {small_heap['heap_peak'] / mb:.1f} MB at "
            f"{args.small:,} cells, {big_heap['heap_peak'] / mb:.1f} MB at {args.cells:,} "
            f"= {heap:.2f}x ({big_heap['heap_peak'] / args.cells / 1024:.2f} KB/cell)"
        )
    skip = big["resume_seconds"] / big["cells"] * 1e3
    print(
        f"resume of the finished {big['cells']:,}-cell run: {big['resume_seconds']:.2f} s, "
        f"{big['resume_sent']} calls sent, {skip * 1e3:.0f} us per finished cell "
        f"({skip / per['big']:.1%} of running one; target < 5%)"
    )
    print(f"time per cell: acompare / bare loop = {per['big'] / per['bare']:.2f}x (target <= 2)")


if __name__ == "__main__":
    main()
