"""A comparison run in its own process, for the test that SIGKILLs it halfway."""

from __future__ import annotations

import sys

import qolaba_nb as q
from qolaba_nb.ledger import UsageLedger

base_url, api_key, ledger_path, run_id = sys.argv[1:5]
prompts = sys.argv[5:]
with UsageLedger(ledger_path) as ledger:
    client = q.Client(api_key, base_url, ledger=ledger)
    print("started", flush=True)
    q.compare(
        prompts,
        ["openai/gpt-4o-mini", "google/gemini-2.5-flash"],
        client=client,
        run_id=run_id,
        concurrency=1,
        progress=False,
        temperature=0,
    )
    print("finished", flush=True)
