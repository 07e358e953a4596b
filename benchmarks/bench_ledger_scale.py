"""The ledger at a million calls: budget checks, summaries, dashboard refresh, memory.

Run: ``python benchmarks/bench_ledger_scale.py [N]`` (default N = 1,000,000).

Builds an N-row ledger fast (rows as tuples, one ``executemany`` in one transaction, then the
running totals filled in SQL, as migration m002 does for an old ledger), then prints, each
against bare sqlite3 on the same file in the same run:

* a budget check (``check_budget`` and ``hold`` + ``release``) against a bare scan summing the
  credits (what a budget check cost before the running totals) and a bare one-row lookup;
  target <= 2 ms;
* ``summary(by="model")`` against a bare ``GROUP BY model`` computing the same sums; target
  within 3x;
* ``UsageDashboard.refresh()`` after one new call against a bare read of the new row; target
  <= 300 ms;
* peak memory growth (peak RSS over the RSS before, each in a fresh process; Linux) of
  ``summary`` and of building a dashboard, against the bare ``GROUP BY``; target < 200 MB.
"""

from __future__ import annotations

import json
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import _INSERT_COLUMNS, UsageLedger
from qolaba_nb.ledger.migrations import Schema, fill_totals

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
BARE_SUMS = (
    "SELECT model, COUNT(*), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END), SUM(credit),"
    " SUM(CASE WHEN credit_source = 'reported' THEN credit END),"
    " SUM(CASE WHEN credit_source = 'estimated' THEN credit END), SUM(cost),"
    " SUM(latency_s), COUNT(latency_s), SUM(ttft_s), COUNT(ttft_s) FROM calls GROUP BY model"
)


def rows(n: int, seed: int = 0) -> list[tuple[object, ...]]:
    """N encoded ``calls`` rows (as the ledger writes them), over 200 sessions and 20 tags."""
    rng = random.Random(seed)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        ok = rng.random() > 0.05
        credit = round(rng.uniform(0.01, 2.0), 4) if ok else None
        source = None if credit is None else ("estimated" if i % 50 == 0 else "reported")
        values = {
            "ts": (t0 + timedelta(seconds=i * 30)).isoformat(timespec="microseconds"),
            "model": MODELS[rng.randrange(len(MODELS))],
            "kind": "stream" if i % 2 else "chat",
            "status": "ok" if ok else "api_error",
            "http_status": 200 if ok else 500,
            "error": None if ok else "HTTP 500: upstream failed",
            "credit": credit,
            "cost": None if credit is None else credit * 0.001,
            "latency_s": rng.uniform(0.2, 8.0),
            "ttft_s": rng.uniform(0.05, 1.5) if i % 2 else None,
            "prompt_chars": rng.randrange(20, 4000),
            "completion_chars": rng.randrange(0, 8000),
            "finish_reason": "stop" if ok else None,
            "request_id": f"req-{i}",
            "retries": 0,
            "params": '{"temperature":0.7}',
            "session": f"session-{i // 5000}",
            "tag": f"tag-{i % 20}" if i % 3 else None,
            "run_id": f"run-{i // 100}",
            "prompt_text": None,
            "completion_text": None,
            "credit_source": source,
            "replayed": 0,
        }
        out.append(tuple(values[c] for c in _INSERT_COLUMNS))
    return out


def build(path: Path, n: int) -> float:
    t = time.perf_counter()
    UsageLedger(path).close()  # the schema, all migrations
    conn = sqlite3.connect(path, isolation_level=None)
    data = rows(n)
    sql = (
        f"INSERT INTO calls ({', '.join(_INSERT_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})"
    )
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, data)
    fill_totals(Schema(conn))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - t


def best(fn: object, repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times)


MEMORY_SNIPPET = """
import json, sqlite3, sys
path, what = sys.argv[1], sys.argv[2]

def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])

import pandas, numpy  # loaded before the first reading: we measure the work, not the imports
from qolaba_nb.ledger import UsageLedger
if what == "dashboard":
    import ipywidgets, matplotlib.figure, matplotlib.backends.backend_agg
    from qolaba_nb.widgets import UsageDashboard
ledger = UsageLedger(path)
conn = sqlite3.connect(path)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # Linux: reset the peak RSS (VmHWM) to the current RSS
before = status_kb("VmRSS")
if what == "summary":
    ledger.summary(by="model")
elif what == "dashboard":
    UsageDashboard(ledger).refresh()
elif what == "to_dataframe_recent":
    ledger.to_dataframe(limit=5000)
else:
    conn.execute(sys.argv[3]).fetchall()
print(json.dumps((status_kb("VmHWM") - before) / 1024))
"""


def memory_mb(path: Path, what: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SNIPPET, str(path), what, BARE_SUMS],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.sqlite"
        print(f"building a {n:,}-row ledger ... {build(path, n):.1f} s")
        ledger = UsageLedger(path)
        bare = sqlite3.connect(path)

        # ---- budget check
        ledger.set_budget(1e12, session="all")
        ledger.set_budget(1e12, tag="tag-3")
        check = best(lambda: ledger.check_budget(tag="tag-3"), 200)

        def hold_release() -> None:
            h = ledger.hold(0.5, tag="tag-3")
            assert h is not None
            ledger.release(h)

        hold = best(hold_release, 200)
        scan = best(lambda: bare.execute("SELECT TOTAL(credit) FROM calls").fetchone(), 5)
        lookup = best(
            lambda: bare.execute(
                "SELECT credit FROM totals WHERE scope_session = '*' AND scope_tag = '*'"
            ).fetchone(),
            200,
        )
        print(
            f"budget check (2 budgets): {check * 1e3:.3f} ms; hold+release: {hold * 1e3:.3f} ms"
            f" (target <= 2 ms); bare sqlite3: scan summing credits {scan * 1e3:.1f} ms,"
            f" one-row lookup {lookup * 1e3:.3f} ms"
        )
        expected = best(lambda: ledger.expected_credit("gpt-4o"), 20)
        print(f"expected_credit (p95 of the last 200): {expected * 1e3:.3f} ms")

        # ---- summary
        s_ledger = best(lambda: ledger.summary(by="model"), 3)
        s_bare = best(lambda: bare.execute(BARE_SUMS).fetchall(), 3)
        print(
            f'summary(by="model"): {s_ledger:.3f} s; bare sqlite3 GROUP BY (same sums):'
            f" {s_bare:.3f} s; ratio {s_ledger / s_bare:.2f} (target <= 3.0)"
        )

        # ---- dashboard refresh
        from qolaba_nb.widgets import UsageDashboard

        t = time.perf_counter()
        board = UsageDashboard(ledger)
        built = time.perf_counter() - t
        times, bare_times = [], []
        for _ in range(5):
            ledger.record(CallRecord(model="gpt-4o", kind="chat", status="ok", credit=0.5))
            t = time.perf_counter()
            board.refresh()
            times.append(time.perf_counter() - t)
            last = board._seen
            t = time.perf_counter()
            bare.execute("SELECT * FROM calls WHERE id > ?", (last - 1,)).fetchall()
            bare_times.append(time.perf_counter() - t)
        print(
            f"dashboard: built in {built:.2f} s; refresh after one new call"
            f" {statistics.median(times) * 1e3:.0f} ms (target <= 300 ms); bare sqlite3 read of"
            f" the new row {statistics.median(bare_times) * 1e3:.3f} ms"
        )
        board.close()
        ledger.close()
        bare.close()

        # ---- memory
        m_summary = memory_mb(path, "summary")
        m_board = memory_mb(path, "dashboard")
        m_bare = memory_mb(path, "bare")
        print(
            f"peak memory growth: summary {m_summary:.1f} MB, dashboard build+refresh"
            f" {m_board:.1f} MB (target < 200 MB); bare sqlite3 GROUP BY {m_bare:.1f} MB"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"(this process's peak RSS, including building the rows: {rss:.0f} MB)")


if __name__ == "__main__":
    main()
