"""A child process for the spool tests: record N calls into a ledger whose lock is held by
the parent (so they are spooled), print "spooled N", then wait to be killed.

Usage: python spooler_proc.py DB N
"""

from __future__ import annotations

import sys
import time

from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import UsageLedger


def main() -> None:
    db, n = sys.argv[1], int(sys.argv[2])
    ledger = UsageLedger(db, write_timeout_s=0.05)
    for i in range(n):
        ledger.record(
            CallRecord(model="m", kind="chat", status="ok", credit=0.1, request_id=f"orphan-{i}")
        )
    print(f"spooled {ledger.spooled}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
