"""Record ``data/sessions/quickstart.jsonl`` against the built-in simulator.

    .venv/bin/python scripts/record_session.py

The recording is what a notebook replays with ``Client(replay=...)``; the test suite replays it
with no server running and checks it byte for byte. Re-record after changing the simulator.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import qolaba_nb as q
from qolaba_nb.simulator import Simulator

OUT = Path(__file__).resolve().parent.parent / "data" / "sessions" / "quickstart.jsonl"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def main() -> None:
    OUT.unlink(missing_ok=True)
    with Simulator(speed=0) as sim, q.Client(sim.api_key, sim.base_url, record=OUT) as client:
        client.list_models()
        client.chat("What is the capital of France?", model="google/gemini-2.5-flash")
        client.stream("Tell me about rivers.", model="openai/gpt-4o", temperature=0).completion()
        client.chat("What is the weather in Paris?", model="openai/gpt-4o", tools=[WEATHER_TOOL])
        with contextlib.suppress(q.NotFoundError):  # a recorded 404 replays as one
            client.chat("Hello", model="nobody/no-such-model")
    print(f"wrote {OUT} ({len(OUT.read_text().splitlines())} exchanges)")


if __name__ == "__main__":
    main()
