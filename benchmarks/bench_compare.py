"""``compare`` over 8 models, each call taking about 1 s, against one call alone.

    python benchmarks/bench_compare.py

Sequential calls would take about 8x one call. Target: ``compare`` within 1.3x of one call.
"""

from __future__ import annotations

import time

from _simproc import simulator_process

import qolaba_nb
from qolaba_nb.comparison import compare

MODELS = [
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-sonnet",
    "google/gemini-2.5-flash",
    "google/gemini-2.5-pro",
    "meta-llama/llama-3.1-70b-instruct",
    "mistralai/mistral-large",
    "deepseek/deepseek-chat",
]
LATENCY = 1.0


def main() -> None:
    with simulator_process() as sim:
        headers = {"x-sim-latency": str(LATENCY)}
        with qolaba_nb.Client(sim.api_key, sim.base_url, headers=headers, ledger=False) as client:
            # Warm up: the first compare() imports pandas (about a second on its own).
            compare(["Warm up."], MODELS[:1], client=client, progress=False)
            t0 = time.perf_counter()
            client.stream("Compare me.", model=MODELS[0]).completion()
            one = time.perf_counter() - t0
            t0 = time.perf_counter()
            df = compare(["Compare me."], MODELS, client=client, concurrency=8, progress=False)
            many = time.perf_counter() - t0
    assert set(df["status"]) == {"ok"}, df[["model", "status", "error"]]
    print(f"one call: {one:.2f} s; compare over {len(MODELS)} models: {many:.2f} s")
    ratio = many / one
    print(f"compare / one call = {ratio:.2f}x (target <= 1.3; sequential ~{len(MODELS)}x)")


if __name__ == "__main__":
    main()
