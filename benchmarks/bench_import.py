"""How heavy ``import qolaba_nb`` is, against ``import openai``, each in a fresh interpreter.

    python benchmarks/bench_import.py [--runs 15]

Target: it imports none of pandas, matplotlib, ipywidgets (nor starlette/uvicorn: the simulator
loads on first use) and takes at most half the time of ``import openai``. Each figure is the
median over fresh processes, less the median of an interpreter that imports nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

HEAVY = ("pandas", "matplotlib", "ipywidgets", "starlette", "uvicorn", "numpy")

PROBE = """
import json, sys, time
t0 = time.perf_counter()
{stmt}
dt = time.perf_counter() - t0
print(json.dumps({{"s": dt, "modules": sorted({{m.split('.')[0] for m in sys.modules}})}}))
"""


def measure(stmt: str, runs: int) -> tuple[float, set[str]]:
    times, modules = [], set()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(stmt=stmt)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out)
        times.append(result["s"])
        modules = set(result["modules"])
    return statistics.median(times), modules


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    ours, loaded = measure("import qolaba_nb", args.runs)
    theirs, _ = measure("import openai", args.runs)
    heavy = sorted(set(HEAVY) & loaded)
    print(f"import qolaba_nb: {ours * 1000:.1f} ms (median of {args.runs} fresh interpreters)")
    print(f"import openai:    {theirs * 1000:.1f} ms")
    print(f"qolaba_nb / openai = {ours / theirs:.2f}x (target <= 0.5)")
    print(f"heavy modules imported by qolaba_nb: {', '.join(heavy) or 'none'}")
    if heavy:
        sys.exit(1)


if __name__ == "__main__":
    main()
