"""What a streamed reply costs on the wire: qolaba_nb's Transcript against a naive widget.

A 20,000-character Markdown reply arrives in 5,000 deltas within about 2 seconds. We count
the widget messages the kernel would send to the browser and their bytes:

* qolaba_nb: the ``Transcript`` of a ``ChatPanel`` (batched deltas, each finished Markdown
  block rendered once, the whole reply once in the widget state at the end);
* naive: an ``ipywidgets.HTML`` whose value is the whole reply so far, set on every delta
  (escaped text in a ``<pre>``: rendering Markdown 5,000 times would only make it slower).

Targets for that reply: at most 60 messages and at most 3x the final HTML's size.

Then the same through a whole ``ChatPanel`` against the built-in simulator (``x-sim-chunks:
5000``, ``x-sim-chunk-delay: 0.0004``). The simulator's timers make those 5,000 pauses last
several seconds rather than 2, so that line shows the rate (at most 20 messages a second)
and the bytes, not the 60-message target.

Last, 100-message conversations through a ``ChatPanel`` and the simulator: what their
finished messages cost on the wire against the sum of their HTML (target: at most 1.3x;
each finished message is sent once, as an ``add`` op carrying only that message), next to
what re-sending the whole list after each message (the panel's first version) would have
cost. The streaming of the replies (``open``, ``delta``) is counted on its own line. A
message carries, beside its HTML, a constant part: the comm framing, the op, its id and
role (about 90 bytes), and for a reply its label (the model) and the reply line (credits,
cost, latency, TTFT, length, speed: about 90 bytes). So the ratio depends on the
messages' size, and both are printed against the same target:

* messages of about 2 KB (sim/echo answering 1,800-character Markdown prompts; the issue's
  conversation averaged 2.1 KB a message);
* the simulator's own short replies to the 14 prompts of data/prompts (about 180 bytes of
  HTML a message: there the reply lines alone are about 0.3x of it).

The bytes counted are the comm messages' data, as elsewhere here. A second line adds what
carries each of them to the browser, a Jupyter message (header, parent header, channel:
about 590 bytes, measured with jupyter_client's ``Session``), and shows what the panel's
other widgets (the session total, the Send and Stop buttons) send per reply.

Run: ``.venv/bin/python benchmarks/bench_render.py``
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import comm
import ipywidgets as w

from qolaba_nb import AsyncClient
from qolaba_nb._render import escape_html
from qolaba_nb.simulator import Simulator
from qolaba_nb.widgets import ChatPanel

REPLY_CHARS = 20_000
DELTAS = 5_000
SECONDS = 2.0
TARGET_MESSAGES = 60
TARGET_RATIO = 3.0
CONVERSATION_PROMPTS = 50  # 100 messages
TARGET_CONVERSATION_RATIO = 1.3
_LIVE_OPS = {"open", "delta", "note", "drop"}


class Wire:
    """Counts what widgets send: installed as the comm factory (there is no kernel here)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, str]] = []  # (comm id, bytes, custom op or "")

        wire = self

        class CountingComm(comm.DummyComm):
            def publish_msg(
                self,
                msg_type: str,
                data: dict[str, Any] | None = None,
                metadata: dict[str, Any] | None = None,
                buffers: Any = None,
                **keys: Any,
            ) -> None:
                size = len(json.dumps(data or {}, ensure_ascii=False).encode())
                content = (data or {}).get("content")
                op = content.get("op", "") if isinstance(content, dict) else ""
                wire.sent.append((self.comm_id, size, op))

        comm.create_comm = CountingComm

    def mark(self) -> int:
        return len(self.sent)

    def since(self, mark: int, widget: w.Widget) -> tuple[int, int]:
        found = [size for cid, size, _ in self.sent[mark:] if cid == widget.model_id]
        return len(found), sum(found)

    def split(self, mark: int, widget: w.Widget) -> dict[str, tuple[int, int]]:
        """(messages, bytes) since ``mark``: ``live`` (the streaming reply's ops) and
        ``finished`` (everything else) of ``widget``, and ``others`` (every other widget)."""
        out = {"live": [0, 0], "finished": [0, 0], "others": [0, 0]}
        for cid, size, op in self.sent[mark:]:
            kind = "others" if cid != widget.model_id else "live" if op in _LIVE_OPS else "finished"
            out[kind][0] += 1
            out[kind][1] += size
        return {k: (n, b) for k, (n, b) in out.items()}


def envelope_bytes() -> int:
    """What a Jupyter message adds around a comm message's data on its way to the browser
    (header, parent header, metadata, comm id, channel), measured with jupyter_client."""
    from jupyter_client.session import Session

    session = Session()
    parent = session.msg("execute_request", content={"code": "await panel.send(text)"})
    msg = session.msg("comm_msg", content={"comm_id": "0" * 32, "data": {}}, parent=parent)
    sent = {k: msg[k] for k in ("header", "parent_header", "metadata", "content")}
    sent |= {"channel": "iopub", "buffers": []}
    return len(json.dumps(sent, default=str).encode()) - len(b"{}")


def markdown_reply(chars: int) -> str:
    """A reply with the usual mix: paragraphs, a list, a code block, a table."""
    pieces = [
        "Rivers carry water, sediment and *history*; the `flow` of a river is measured "
        "in cubic metres a second. Here is a <b>bold</b> claim, escaped. ",
        "\n\n- the Nile\n- the Amazon\n- the Yangtze\n\n",
        "```python\nflow = area * velocity  # m3/s\n```\n\n",
        "| river | km |\n|---|---|\n| Nile | 6650 |\n\n",
    ]
    out: list[str] = []
    size = 0
    i = 0
    while size < chars:
        piece = pieces[0] if i % 4 else pieces[(i // 4) % len(pieces)]
        out.append(piece)
        size += len(piece)
        i += 1
    return "".join(out)[:chars]


def deltas_of(text: str, n: int) -> list[str]:
    step = len(text) / n
    return [text[round(i * step) : round((i + 1) * step)] for i in range(n)]


async def paced(deltas: list[str], seconds: float, feed: Any) -> None:
    """Feed the deltas evenly over ``seconds`` (a sleep per 25 deltas: timers are ~1 ms)."""
    per_batch = 25
    pause = seconds / (len(deltas) / per_batch)
    for i, delta in enumerate(deltas):
        feed(delta)
        if i % per_batch == per_batch - 1:
            await asyncio.sleep(pause)


async def bench_transcript(wire: Wire, deltas: list[str]) -> tuple[int, int, int, float]:
    panel = ChatPanel(AsyncClient("unused", "http://127.0.0.1:9", ledger=False))
    transcript = panel.transcript
    mark = wire.mark()
    started = time.perf_counter()
    live = transcript.start("bench/model")
    await paced(deltas, SECONDS, live.append)
    html = live.finish(meta="bench")["html"]
    took = time.perf_counter() - started
    messages, size = wire.since(mark, transcript)
    return messages, size, len(html.encode()), took


async def bench_naive(wire: Wire, deltas: list[str]) -> tuple[int, int]:
    view = w.HTML()
    mark = wire.mark()
    text: list[str] = []

    def feed(delta: str) -> None:
        text.append(delta)
        view.value = f"<pre>{escape_html(''.join(text))}</pre>"  # the whole reply, every time

    await paced(deltas, SECONDS, feed)
    return wire.since(mark, view)


async def bench_panel_with_simulator(wire: Wire) -> tuple[int, int, int, int, float]:
    headers = {"x-sim-chunks": str(DELTAS), "x-sim-chunk-delay": "0.0004"}
    with Simulator() as sim:
        async with AsyncClient(sim.api_key, sim.base_url, ledger=False, headers=headers) as c:
            panel = ChatPanel(c, model="sim/echo")
            await panel.load_models()
            mark = wire.mark()
            started = time.perf_counter()
            reply = await panel.send("abc")  # echo: "abc " x 5000 = 20,000 characters
            took = time.perf_counter() - started
    messages, size = wire.since(mark, panel.transcript)
    html = len(panel.transcript.messages[-1]["html"].encode())
    return messages, size, html, len(reply.text), took


def shipped_prompts() -> list[str]:
    """The prompts of data/prompts: the simulator has written answers for them."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "prompts"
    return [
        json.loads(line)["prompt"]
        for path in sorted(data.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


@dataclass
class Conversation:
    messages: int
    html: int  # the sum of the messages' HTML
    lines: int  # the bytes of their labels and reply lines
    finished: tuple[int, int]  # (comm messages, bytes) of the finished messages
    live: tuple[int, int]  # ... of the replies streaming
    others: tuple[int, int]  # ... of the panel's other widgets (header total, buttons)
    whole_list: int  # bytes, had the whole list been sent after each message


async def bench_conversation(wire: Wire, model: str, prompts: list[str]) -> Conversation:
    with Simulator() as sim:
        async with AsyncClient(sim.api_key, sim.base_url, ledger=False) as c:
            panel = ChatPanel(c, model=model)
            await panel.load_models()
            mark = wire.mark()
            for i in range(CONVERSATION_PROMPTS):
                await panel.send(prompts[i % len(prompts)])
    parts = wire.split(mark, panel.transcript)
    messages = panel.transcript.messages
    return Conversation(
        messages=len(messages),
        html=sum(len(m["html"].encode()) for m in messages),
        lines=sum(len(m.get(k, "").encode()) for m in messages for k in ("label", "meta")),
        finished=parts["finished"],
        live=parts["live"],
        others=parts["others"],
        whole_list=sum(
            len(json.dumps({"state": {"messages": messages[:k]}}, ensure_ascii=False).encode())
            for k in range(1, len(messages) + 1)
        ),
    )


def line(name: str, messages: int, size: int, html: int | None = None) -> str:
    ratio = f" ({size / html:.1f}x final HTML)" if html else ""
    return f"{name}: {messages:,} messages, {size:,} bytes{ratio}"


async def main() -> int:
    wire = Wire()
    text = markdown_reply(REPLY_CHARS)
    deltas = deltas_of(text, DELTAS)
    ours, ours_bytes, html, took = await bench_transcript(wire, deltas)
    naive, naive_bytes = await bench_naive(wire, deltas)
    print(f"{REPLY_CHARS:,}-character Markdown reply in {DELTAS:,} deltas over {took:.2f} s:")
    print(f"{line('qolaba_nb', ours, ours_bytes, html)}; {line('naive', naive, naive_bytes)}")
    ok = ours <= TARGET_MESSAGES and ours_bytes <= TARGET_RATIO * html
    print(
        f"targets (<= {TARGET_MESSAGES} messages, <= {TARGET_RATIO:g}x final HTML): "
        + ("met" if ok else "MISSED")
    )

    sim_msgs, sim_bytes, sim_html, chars, sim_took = await bench_panel_with_simulator(wire)
    print(
        f"ChatPanel + simulator, {chars:,} characters in {DELTAS:,} chunks over {sim_took:.2f} s: "
        f"{line('qolaba_nb', sim_msgs, sim_bytes, sim_html)}, "
        f"{sim_msgs / sim_took:.1f} messages a second"
    )
    long_prompts = [markdown_reply(1_800 + 37 * i) for i in range(CONVERSATION_PROMPTS)]
    cases = [
        ("messages of ~2 KB (sim/echo)", "sim/echo", long_prompts, True),
        (
            "the simulator's short replies to data/prompts",
            "openai/gpt-4o",
            shipped_prompts(),
            False,
        ),
    ]
    conv_ok = True
    envelope = envelope_bytes()
    for name, model, prompts, bound in cases:
        conv = await bench_conversation(wire, model, prompts)
        count, finished = conv.finished
        ratio = finished / conv.html
        met = ratio <= TARGET_CONVERSATION_RATIO
        if bound:
            conv_ok &= met
        framing = finished - conv.html - conv.lines
        enveloped = finished + count * envelope
        print(
            f"{conv.messages}-message conversation, {name}: finished messages {finished:,}"
            f" bytes in {count} comm messages for {conv.html:,} bytes of HTML ({ratio:.2f}x,"
            f" target <= {TARGET_CONVERSATION_RATIO:g}x: {'met' if met else 'MISSED'}; labels"
            f" and reply lines {conv.lines:,} bytes, framing and ids {framing:,})"
        )
        print(
            f"  inside Jupyter messages (+{envelope} bytes each): {enveloped:,} bytes"
            f" ({enveloped / conv.html:.2f}x); re-sending the whole list each time:"
            f" {conv.whole_list:,} bytes ({conv.whole_list / conv.html:.1f}x); streaming the"
            f" replies: {conv.live[1]:,} bytes in {conv.live[0]:,}; the panel's other widgets"
            f" (session total, buttons): {conv.others[1]:,} bytes in {conv.others[0]:,}"
        )
    return 0 if ok and conv_ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
