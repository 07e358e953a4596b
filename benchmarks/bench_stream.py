"""Stream a 20,000-chunk reply over loopback three ways and print the ratios.

    python benchmarks/bench_stream.py [--chunks 20000] [--runs 5]

1. qolaba_nb: ``Client.stream`` iterated chunk by chunk, then ``completion()`` (usage included);
2. the official ``openai`` SDK: ``chat.completions.create(stream=True)`` (it loses the usage);
3. a bare httpx loop: ``iter_lines`` + ``json.loads`` on every ``data:`` line (the floor).

All three read the same bytes from the built-in simulator (in its own process, so that it
does not share the GIL with the client); runs are interleaved and the median is kept.
Target: qolaba_nb at least 5x faster than the SDK and within 1.5x of the bare loop.

Then one SSE line of 8 MB and one of 32 MB, each fed to the decoder in 64 KiB reads (as a
socket would give it): decoding is linear when the second takes about 4x the first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import httpx
import openai
from _simproc import simulator_process

import qolaba_nb
from qolaba_nb._sse import SSEDecoder

MODEL = "google/gemini-2.5-flash"
PROMPT = [{"role": "user", "content": "Say many words."}]


def timed(fns: list[Callable[[], int]], runs: int) -> list[tuple[float, int]]:
    """Median time and count of each function; runs interleaved so load drifts hit all alike."""
    for fn in fns:
        fn()  # warm up: connections, imports, caches
    times: list[list[float]] = [[] for _ in fns]
    counts = [0] * len(fns)
    for _ in range(runs):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            counts[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(statistics.median(t), n) for t, n in zip(times, counts, strict=True)]


def decode_one_line(megabytes: int, runs: int) -> float:
    """Median seconds to decode one event whose single data line is ``megabytes`` MB."""
    text = "x" * (megabytes * 1_000_000)
    stream = f'data: {{"choices":[{{"delta":{{"content":"{text}"}}}}]}}\n\n'.encode()
    reads = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    times = []
    for _ in range(runs):
        decoder = SSEDecoder(max_event_bytes=len(stream) + 1)
        t0 = time.perf_counter()
        events = [e for read in reads for e in decoder.feed(read)]
        times.append(time.perf_counter() - t0)
        assert len(events) == 1 and len(events[0].data) == len(stream) - 8
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    headers = {"x-sim-chunks": str(args.chunks), "x-sim-chunk-delay": "0"}

    with simulator_process() as sim:
        ours = qolaba_nb.Client(sim.api_key, sim.base_url, headers=headers, ledger=False)
        sdk = openai.OpenAI(
            api_key=sim.api_key, base_url=sim.base_url + "/api/v1", default_headers=headers
        )
        bare = httpx.Client(timeout=60)
        url = sim.base_url + "/api/v1/chat/completions"
        body = {"model": MODEL, "messages": PROMPT, "stream": True}
        auth = {"Authorization": f"Bearer {sim.api_key}", **headers}

        def run_ours() -> int:
            n = 0
            with ours.stream(PROMPT, model=MODEL) as stream:
                for chunk in stream:
                    n += bool(chunk.delta)
                reply = stream.completion()
            assert reply.usage is not None, "qolaba_nb must keep the usage event"
            return n

        def run_sdk() -> int:
            n = 0
            stream = sdk.chat.completions.create(model=MODEL, messages=PROMPT, stream=True)  # type: ignore[arg-type]
            for chunk in stream:
                n += bool(chunk.choices and chunk.choices[0].delta.content)
            return n

        def run_bare() -> int:
            n = 0
            with bare.stream("POST", url, json=body, headers=auth) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        payload = json.loads(line[6:])
                        choices = payload.get("choices")
                        n += bool(choices and choices[0]["delta"].get("content"))
            return n

        (t_ours, n_ours), (t_sdk, n_sdk), (t_bare, n_bare) = timed(
            [run_ours, run_sdk, run_bare], args.runs
        )
        ours.close()
        bare.close()

    assert n_ours == n_sdk == n_bare == args.chunks, (n_ours, n_sdk, n_bare)
    print(f"stream of {args.chunks:,} chunks over loopback, median of {args.runs} runs:")
    print(f"  qolaba_nb   {t_ours * 1000:8.1f} ms")
    print(f"  openai SDK  {t_sdk * 1000:8.1f} ms")
    print(f"  bare httpx  {t_bare * 1000:8.1f} ms")
    print(f"openai SDK / qolaba_nb = {t_sdk / t_ours:.2f}x (target >= 5)")
    print(f"qolaba_nb / bare httpx = {t_ours / t_bare:.2f}x (target <= 1.5)")

    t8, t32 = decode_one_line(8, 3), decode_one_line(32, 3)
    print("one SSE line in 64 KiB reads, decoder only, median of 3 runs:")
    print(f"  8 MB line   {t8 * 1000:8.1f} ms")
    print(f"  32 MB line  {t32 * 1000:8.1f} ms")
    print(f"32 MB / 8 MB = {t32 / t8:.2f}x (linear: about 4)")


if __name__ == "__main__":
    main()
