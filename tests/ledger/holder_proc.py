"""A child process for the budget tests: spend a shared ledger budget from many threads.

Usage:
    python holder_proc.py DB BUDGET THREADS HOLD COST spend   # hold -> record(hold=) until refused
    python holder_proc.py DB BUDGET 1 HOLD 0 sleep            # take one hold, then wait for death

Both print "ready" once the ledger is open and wait for a line on stdin, so several processes
start spending at the same moment. ``spend`` prints ``done CALLS REFUSED`` at the end.
"""

from __future__ import annotations

import sys
import threading
import time

from qolaba_nb._exceptions import BudgetExceededError
from qolaba_nb._record import CallRecord
from qolaba_nb.ledger import UsageLedger


def main() -> None:
    db, budget, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    hold_credits, cost, mode = float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
    with UsageLedger(db) as ledger:
        ledger.set_budget(budget, session="all")
        print("ready", flush=True)
        sys.stdin.readline()
        if mode == "sleep":
            ledger.hold(hold_credits)
            print("held", flush=True)
            time.sleep(600)
            return
        calls, refused = [0], [0]
        lock = threading.Lock()

        def spend() -> None:
            while True:
                try:
                    h = ledger.hold(hold_credits)
                except BudgetExceededError:
                    with lock:
                        refused[0] += 1
                    return
                time.sleep(0.01)  # the call is in flight: others check and hold meanwhile
                rec = CallRecord(model="m", kind="chat", status="ok", credit=cost)
                ledger.record(rec, hold=h)
                with lock:
                    calls[0] += 1

        workers = [threading.Thread(target=spend) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        print(f"done {calls[0]} {refused[0]}", flush=True)


if __name__ == "__main__":
    main()
