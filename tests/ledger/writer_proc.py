"""A child process for the concurrency tests: record ``n`` calls, one committed row at a time,
printing each row's request id only after ``record`` has returned (i.e. after the commit).

Usage: python writer_proc.py DB N TAG [DELAY_S] [wait]

N = 0 writes until killed. With ``wait`` it prints "ready" once the ledger is open and waits
for a line on stdin before writing, so that several writers can be started at the same moment.
"""

from __future__ import annotations

import itertools
import sys
import time

from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import UsageLedger


def main() -> None:
    db, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    delay = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    wait = len(sys.argv) > 5 and sys.argv[5] == "wait"
    with UsageLedger(db) as ledger:
        if wait:
            print("ready", flush=True)
            sys.stdin.readline()
        counter = itertools.count() if n == 0 else range(n)
        for i in counter:
            rid = f"{tag}-{i}"
            ledger.record(
                CallRecord(
                    model="gpt-4o-mini",
                    kind="chat",
                    status="ok",
                    credit=0.01,
                    request_id=rid,
                    tag=tag,
                    params={"i": i},
                )
            )
            print(rid, flush=True)
            if delay:
                time.sleep(delay)


if __name__ == "__main__":
    main()
