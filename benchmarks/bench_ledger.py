"""How much the ledger costs over bare sqlite3 + pandas.

Run: ``python benchmarks/bench_ledger.py [N]`` (default N = 100,000).

Writes N CallRecords into a fresh file ledger with ``record_many`` (batches of 10,000) and reads
them back with ``to_dataframe``; then does the same with a bare ``executemany`` of the same rows
(already built as tuples) into a table of the same columns, read back with ``pd.read_sql``. The
ledger's extra work (CallRecord -> row, params as JSON, indexes, dtype conversion on read) should
stay within 3x of the bare baseline. It also times ``record`` one call at a time, since that is
how the client writes, against a bare single-row INSERT in autocommit mode (with and without
the ledger's indexes: most of a committed row's cost is the B-trees it touches).
"""

from __future__ import annotations

import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import _INSERT_COLUMNS, MIGRATIONS, UsageLedger
from qolaba_nb.ledger.migrations import Schema

BATCH = 10_000
SINGLE_N = 2_000
TARGET = 3.0

MODELS = [
    "gpt-4o-mini",
    "gpt-4o",
    "claude-3-5-sonnet",
    "claude-3-haiku",
    "gemini-1.5-pro",
    "llama-3.1-70b",
    "mistral-large",
    "deepseek-chat",
]


def make_records(n: int, seed: int = 0) -> list[CallRecord]:
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    recs = []
    for i in range(n):
        ok = rng.random() > 0.05
        recs.append(
            CallRecord(
                model=rng.choice(MODELS),
                kind="stream" if i % 2 else "chat",
                status="ok" if ok else "api_error",
                ts=t0 + timedelta(seconds=i),
                http_status=200 if ok else 500,
                error=None if ok else "HTTP 500: upstream failed",
                credit=round(rng.uniform(0.01, 2.0), 4) if ok else None,
                cost=round(rng.uniform(0.0001, 0.02), 6) if ok else None,
                latency_s=rng.uniform(0.2, 8.0),
                ttft_s=rng.uniform(0.05, 1.5) if i % 2 else None,
                prompt_chars=rng.randint(10, 4000),
                completion_chars=rng.randint(0, 8000) if ok else None,
                finish_reason="stop" if ok else None,
                request_id=f"req-{i:08d}",
                retries=rng.choice((0, 0, 0, 1)),
                params={"temperature": rng.choice((0.0, 0.7, 1.0)), "max_tokens": 512},
                tag=rng.choice((None, "demo", "eval")),
                run_id=f"run-{i // 1000}",
            )
        )
    return recs


def bare_schema(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE calls (id INTEGER PRIMARY KEY, ts TEXT, model TEXT, kind TEXT, status TEXT,"
        " http_status INTEGER, error TEXT, credit REAL, cost REAL, latency_s REAL, ttft_s REAL,"
        " prompt_chars INTEGER, completion_chars INTEGER, finish_reason TEXT, request_id TEXT,"
        " retries INTEGER, params TEXT, session TEXT, tag TEXT, run_id TEXT, prompt_text TEXT,"
        " completion_text TEXT, credit_source TEXT, replayed INTEGER)"
    )


def bench_ledger_bulk(recs: list[CallRecord], path: Path) -> tuple[float, float, int]:
    t = time.perf_counter()
    with UsageLedger(path) as ledger:
        for i in range(0, len(recs), BATCH):
            ledger.record_many(recs[i : i + BATCH])
        t_write = time.perf_counter() - t
        t = time.perf_counter()
        df = ledger.to_dataframe()
        t_read = time.perf_counter() - t
    return t_write, t_read, len(df)


def bench_bare_bulk(rows: list[tuple[object, ...]], path: Path) -> tuple[float, float, int]:
    sql = (
        f"INSERT INTO calls ({', '.join(_INSERT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
    )
    t = time.perf_counter()
    conn = sqlite3.connect(path)
    bare_schema(conn)
    for i in range(0, len(rows), BATCH):
        with conn:
            conn.executemany(sql, rows[i : i + BATCH])
    t_write = time.perf_counter() - t
    t = time.perf_counter()
    df = pd.read_sql("SELECT * FROM calls", conn)
    t_read = time.perf_counter() - t
    conn.close()
    return t_write, t_read, len(df)


def bench_single(recs: list[CallRecord], tmp: Path) -> tuple[float, float, float]:
    """Seconds for: ledger.record() each; bare INSERTs; bare INSERTs with the ledger's indexes."""
    with UsageLedger(tmp / "single.sqlite") as ledger:
        rows = [ledger._row(r) for r in recs]
        t = time.perf_counter()
        for r in recs:
            ledger.record(r)
        t_ledger = time.perf_counter() - t

    sql = (
        f"INSERT INTO calls ({', '.join(_INSERT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
    )
    times = []
    for indexed in (False, True):
        # The fair bare equivalent: WAL + synchronous=NORMAL, one committed INSERT per call.
        conn = sqlite3.connect(tmp / f"single-bare-{indexed}.sqlite", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if indexed:
            for _name, migration in MIGRATIONS:
                migration(Schema(conn))
        else:
            bare_schema(conn)
        t = time.perf_counter()
        for row in rows:
            conn.execute(sql, row)
        times.append(time.perf_counter() - t)
        conn.close()
    return t_ledger, times[0], times[1]


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"generating {n:,} CallRecords ...")
    recs = make_records(n)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # The bare baseline gets its rows for free (same tuples the ledger would build).
        with UsageLedger(":memory:") as scratch:
            rows = [scratch._row(r) for r in recs]
            # Warm up: the first DataFrame pays one-off imports (pyarrow strings, ...) that
            # are not a per-record cost, and the bare run below would get them for free.
            scratch.record_many(recs[:100])
            scratch.to_dataframe()

        lw, lr, ln = bench_ledger_bulk(recs, tmp / "ledger.sqlite")
        bw, br, bn = bench_bare_bulk(rows, tmp / "bare.sqlite")
        assert ln == bn == n, (ln, bn, n)
        us = 1e6 / n
        ledger_us, bare_us = (lw + lr) * us, (bw + br) * us
        print(f"ledger write: {lw * us:.2f} µs/record (record_many, batches of {BATCH:,})")
        print(f"ledger read:  {lr * us:.2f} µs/record (to_dataframe)")
        print(f"bare write:   {bw * us:.2f} µs/record (executemany); read {br * us:.2f} µs/record")
        ratio = ledger_us / bare_us
        print(
            f"ledger write+read: {ledger_us:.2f} µs/record; bare sqlite3: {bare_us:.2f} µs/record;"
            f" ratio {ratio:.2f} (target <= {TARGET})"
        )

        m = min(SINGLE_N, n)
        sl, sb, si = bench_single(recs[:m], tmp)
        print(
            f"record() one at a time (N={m:,}): {sl / m * 1e6:.1f} µs/record; "
            f"bare committed INSERT: {sb / m * 1e6:.1f} µs/record (ratio {sl / sb:.2f}), "
            f"with the ledger's indexes: {si / m * 1e6:.1f} µs/record (ratio {sl / si:.2f})"
        )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
