"""A process that opens a PostgreSQL ledger and forks a multiprocessing child that outlives it.

    python fork_parent_proc.py URL

The child (multiprocessing, fork start method) records one call with the ledger it inherited,
then sleeps. The parent then prints ``<its server backend pid> <child pid>`` and sleeps until
it is killed.
"""

from __future__ import annotations

import multiprocessing
import sys
import time

from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import UsageLedger


def child(ledger: UsageLedger, recorded: multiprocessing.synchronize.Event) -> None:
    ledger.record(CallRecord(model="m", kind="chat", status="ok", request_id="child"))
    recorded.set()
    time.sleep(120)


def main() -> None:
    ledger = UsageLedger(sys.argv[1])
    ledger.record(CallRecord(model="m", kind="chat", status="ok", request_id="parent"))
    (backend,) = ledger._conn.execute("SELECT pg_backend_pid()").fetchone()
    fork = multiprocessing.get_context("fork")
    recorded = fork.Event()
    proc = fork.Process(target=child, args=(ledger, recorded), daemon=False)
    proc.start()
    if not recorded.wait(30):
        raise SystemExit("the child did not record its call")
    print(backend, proc.pid, flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main()
