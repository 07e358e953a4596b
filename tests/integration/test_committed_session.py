"""``data/sessions/quickstart.jsonl`` (recorded against the simulator by
``scripts/record_session.py``) replays byte for byte with no server running at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from qolaba_nb._recording import ReplayTransport

SESSION = Path(__file__).resolve().parents[2] / "data" / "sessions" / "quickstart.jsonl"
NOWHERE = "http://127.0.0.1:9"  # nothing listens here: a request that escaped would fail


def entries() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SESSION.read_text(encoding="utf-8").splitlines()]


def test_the_recording_holds_no_credentials() -> None:
    text = SESSION.read_text(encoding="utf-8").lower()
    assert "authorization" not in text and "bearer" not in text and "qsim-local-key" not in text


def test_the_client_replays_the_session_without_a_server() -> None:
    with q.Client(None, NOWHERE, replay=SESSION, ledger=False) as client:
        assert "openai/gpt-4o" in [m.id for m in client.list_models()]
        chat = client.chat("What is the capital of France?", model="google/gemini-2.5-flash")
        with client.stream("Tell me about rivers.", model="openai/gpt-4o", temperature=0) as s:
            deltas = [c.delta for c in s if c.delta]
            streamed = s.completion()
        with pytest.raises(q.NotFoundError):
            client.chat("Hello", model="nobody/no-such-model")
    assert chat.text and chat.usage is not None and (chat.usage.credit or 0) > 0
    assert len(deltas) > 3 and "".join(deltas) == streamed.text
    assert streamed.usage is not None  # the usage event after [DONE] was recorded too


@pytest.mark.parametrize("index", range(5))
def test_every_exchange_replays_byte_for_byte(index: int) -> None:
    entry = entries()[index]
    req, recorded = entry["request"], entry["response"]
    with httpx.Client(transport=ReplayTransport(SESSION), base_url=NOWHERE) as http:
        response = http.request(req["method"], req["path"], json=req["body"])
    assert response.status_code == recorded["status"]
    assert response.content == recorded["text"].encode("utf-8")
