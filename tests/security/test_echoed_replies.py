"""A reply that echoes the API key (a misbehaving proxy, or a model repeating what it was
given) leaves it nowhere: not in the ``ChatCompletion`` (text, tool calls, reasoning, ``raw``),
not in the ledger's stored texts, not in a recording, not in a chat panel's reply, also when
the key came split over many streamed chunks (the simulator's ``x-sim-chunk-chars``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from qolaba_nb._config import MASK
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator
from tests.client.conftest import Harness
from tests.security.test_key_leaks import KEY, assert_clean, client

AUTH = f"Bearer {KEY}"
PROMPT = f"Repeat after me: my key is {KEY} and nothing else"


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return f"data: {json.dumps({'choices': [choice], **extra})}\n\n".encode()


def _everything(reply: q.ChatCompletion) -> str:
    """Every field of the reply (``raw`` and ``choices`` included, which its repr leaves out)."""
    return repr(reply) + repr([getattr(reply, f) for f in reply.__dataclass_fields__])


@pytest.mark.parametrize("kind", ["chat", "stream"])
async def test_a_reply_echoing_the_key_is_masked_in_the_completion_and_the_ledger(
    h: Harness, kind: str
) -> None:
    half = len(KEY) // 2

    def handler(request: httpx.Request) -> httpx.Response:
        seen = request.headers["authorization"]
        if kind == "chat":
            message = {
                "role": "assistant",
                "content": f"you sent {seen}",
                "reasoning_content": f"the header was {seen}",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": json.dumps({"auth": seen})},
                    }
                ],
            }
            body = {
                "id": "x",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "debug": {"request_headers": {"authorization": seen}},
                "usage": {"total_credit": 0.5},
            }
            return httpx.Response(200, json=body)
        return h.sse_response(
            [
                _chunk({"role": "assistant", "content": "you sent Bearer "}),
                _chunk({"content": KEY[:half]}),  # the key split over two chunks
                _chunk({"content": KEY[half:]}, debug={"authorization": seen}),
                _chunk({"reasoning_content": seen}),
                _chunk({}, "stop"),
                b"data: [DONE]\n\n",
                f"data: {json.dumps({'usage': {'total_credit': 0.5}})}\n\n".encode(),
            ]
        )

    c = client(h, handler)
    if kind == "chat":
        reply = await h.call(c, "chat", PROMPT, model="openai/gpt-4o")
    else:
        stream = await h.call(c, "stream", PROMPT, model="openai/gpt-4o")
        await h.chunks(stream)
        reply = await h.call(stream, "completion")
    await h.close(c)
    assert reply.text == f"you sent Bearer {MASK}"
    assert_clean(_everything(reply), "the reply")
    assert reply.credit == 0.5  # nothing else was lost
    (rec,) = h.ledger.records
    assert rec.completion_text == reply.text and rec.prompt_text is not None
    assert MASK in rec.prompt_text
    assert_clean(repr(rec), "the ledger record")


async def test_a_stream_stopped_after_the_key_gives_it_masked(h: Harness) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        pieces = [KEY[:5], KEY[5:], " and more"]
        return h.sse_response([_chunk({"content": p}) for p in pieces])

    c = client(h, handler)
    stream = await h.call(c, "stream", "Hi", model="openai/gpt-4o")
    if h.mode == "sync":  # two chunks, then the caller stops ...
        chunks = iter(stream)
        next(chunks), next(chunks)
    else:
        achunks = stream.__aiter__()
        await achunks.__anext__(), await achunks.__anext__()
    await h.close(stream)
    reply = await h.call(stream, "completion")  # ... and what arrived is still given
    await h.close(c)
    assert reply.text == MASK
    assert_clean(repr(reply) + repr(reply.raw) + repr(h.ledger.records), "a stopped stream")


@pytest.fixture(scope="module")
def sim() -> Any:
    with Simulator(api_key=KEY) as sim:
        yield sim


def _recorded(path: Path) -> str:
    """The recording as written, and every body inside it decoded."""
    text = path.read_text()
    bodies = []
    for line in text.splitlines():
        response = json.loads(line)["response"]
        if "base64" in response:
            bodies.append(base64.b64decode(response["base64"]).decode("latin-1"))
    return text + "\n".join(bodies)


def test_a_key_streamed_in_pieces_by_the_simulator_is_masked_everywhere(
    sim: Simulator, tmp_path: Path
) -> None:
    record = tmp_path / "session.jsonl"
    ledger = UsageLedger(tmp_path / "usage.sqlite", store_text=True)
    headers = {"x-sim-chunk-chars": "5"}  # like a tokenizer: the key comes in many pieces
    with ledger, q.Client(KEY, sim.base_url, headers=headers, record=record, ledger=ledger) as c:
        stream = c.stream(PROMPT, model="sim/echo")
        deltas = [chunk.delta for chunk in stream]
        streamed = stream.completion()
        chatted = c.chat(PROMPT, model="sim/echo")
        frame = ledger.to_dataframe()
    assert KEY in "".join(deltas) and not any(KEY in d for d in deltas)  # really split
    for reply in (streamed, chatted):
        assert reply.text == PROMPT.replace(KEY, MASK)
        assert_clean(_everything(reply), "the reply")
    assert list(frame["completion_text"]) == [streamed.text, chatted.text]
    assert list(frame["prompt_text"].str.contains(MASK, regex=False)) == [True, True]
    assert_clean(frame.to_csv(), "the ledger")
    shown = _recorded(record)
    assert shown.count(MASK) >= 2
    assert_clean(shown, "the recording")
    # The stream was re-encoded where the key was: it replays, chunk by chunk, as recorded (the
    # recorded request has the prompt masked, so that is the request that finds it).
    with q.Client(KEY, "http://qolaba.test", replay=record, ledger=False) as c:
        again = c.stream(PROMPT.replace(KEY, MASK), model="sim/echo")
        replayed = [chunk.delta for chunk in again]
        assert again.completion().text == streamed.text
    assert len(replayed) == len(deltas) and "".join(replayed) == streamed.text


async def test_a_chat_panel_reply_echoing_the_key_keeps_it_masked(sim: Simulator) -> None:
    from qolaba_nb.widgets import ChatPanel

    headers = {"x-sim-chunk-chars": "5"}
    client = q.AsyncClient(KEY, sim.base_url, headers=headers, ledger=False)
    panel = ChatPanel(client, model="sim/echo")
    try:
        await panel.send(PROMPT)
        reply = panel.messages[-1]
        assert reply["role"] == "assistant" and MASK in reply["content"]
        assert_clean(json.dumps(reply), "the panel's conversation")
        shown = [m for m in panel.transcript.messages if m.get("role") != "user"]
        assert shown and any(MASK in json.dumps(m) for m in shown)
        assert_clean(json.dumps(shown), "the panel's reply")
    finally:
        panel.close()
        await client.aclose()


async def test_a_stopped_comparison_cell_echoing_the_key_keeps_it_masked(
    sim: Simulator, tmp_path: Path
) -> None:
    import asyncio
    import sqlite3

    from qolaba_nb.comparison import CompareCell, acompare

    prompt = PROMPT + ", then a long tail of words" * 20  # still streaming after the key
    cancel = asyncio.Event()
    live: list[str] = []
    final: list[str] = []

    def on_update(cell: CompareCell) -> None:
        if cell.done:
            final.append(cell.text)
        elif KEY in cell.text:  # the key has arrived (in pieces): stop, as the Stop button does
            live.append(cell.text)
            cancel.set()

    headers = {"x-sim-chunk-chars": "5"}
    db = tmp_path / "usage.sqlite"
    with UsageLedger(db, store_text=True) as ledger:
        async with q.AsyncClient(KEY, sim.base_url, headers=headers, ledger=ledger) as c:
            df = await acompare(
                [prompt], ["sim/echo"], client=c, progress=False, on_update=on_update, cancel=cancel
            )
        calls = ledger.to_dataframe()
    assert live  # it was stopped with the key in the live text ...
    (text,) = df["text"]
    assert df["status"].tolist() == ["cancelled"] and df["error"].tolist() == ["stopped"]
    assert MASK in text and len(text) < len(prompt)  # ... and what arrived is kept, masked
    assert final == [text]  # what the panel's column shows when the cell is done
    assert_clean(df.drop(columns="prompt").to_csv(), "the comparison frame")  # (prompt: the user's)
    assert calls["status"].tolist() == ["cancelled"] and MASK in calls["completion_text"].iloc[0]
    with sqlite3.connect(db) as con:  # the cells table, and everything else the ledger keeps
        cells = con.execute("SELECT * FROM cells").fetchall()
        dump = "\n".join(con.iterdump())
    assert_clean(repr(cells), "the cells table")
    assert_clean(dump, "the ledger file")


async def test_a_prompt_holding_the_key_is_kept_as_its_fingerprint_and_still_resumes(
    sim: Simulator, tmp_path: Path
) -> None:
    import sqlite3

    from qolaba_nb.comparison import acompare
    from qolaba_nb.ledger.comparisons import prompt_fingerprint

    db = tmp_path / "usage.sqlite"
    with UsageLedger(db) as ledger:  # the default: comparison cells keep their text
        async with q.AsyncClient(KEY, sim.base_url, ledger=ledger) as c:
            first = await acompare([PROMPT, "Hi"], ["sim/echo"], client=c, progress=False)
            sent = sim.stats.requests
            again = await acompare(
                [PROMPT, "Hi"],
                ["sim/echo"],
                client=c,
                progress=False,
                resume=first.attrs["run_id"],
            )
        cells = ledger.cells()
    assert sim.stats.requests == sent  # both cells came back from the ledger, none sent again
    assert again["prompt"].tolist() == [PROMPT, "Hi"]  # the user's own prompts, as given
    assert again.drop(columns="prompt").equals(first.drop(columns="prompt"))
    assert set(cells["prompt"]) == {prompt_fingerprint(PROMPT), "Hi"}  # "Hi" kept as it is
    with sqlite3.connect(db) as con:
        dump = "\n".join(con.iterdump())
    assert_clean(dump, "the ledger file")


async def test_a_vote_on_a_prompt_holding_the_key_keeps_its_fingerprint(
    sim: Simulator, tmp_path: Path
) -> None:
    from qolaba_nb.ledger.comparisons import prompt_fingerprint
    from qolaba_nb.widgets import ComparePanel

    with UsageLedger(tmp_path / "usage.sqlite") as ledger:
        async with q.AsyncClient(KEY, sim.base_url, ledger=ledger) as c:
            panel = ComparePanel(["openai/gpt-4o", "sim/echo"], client=c, blind=False)
            try:
                await panel.run(PROMPT)
                panel.vote("tie")
            finally:
                panel.close()
        votes = ledger.votes()
    assert votes["prompt"].tolist() == [prompt_fingerprint(PROMPT)]
    assert_clean(votes.to_csv(), "the votes table")
