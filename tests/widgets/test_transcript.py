"""The transcript without a server: Markdown safety, block splitting, what goes on the wire."""

from __future__ import annotations

import asyncio

import pytest

from qolaba_nb.widgets import _schedule, _transcript
from qolaba_nb.widgets._transcript import BlockSplitter, Transcript

from .conftest import Wire

# --------------------------------------------------------------------------- block splitting


def test_blank_line_finishes_a_block() -> None:
    s = BlockSplitter()
    assert s.feed("First para") == []
    assert s.feed("graph.\n") == []
    assert s.feed("\nSecond") == ["First paragraph.\n"]
    assert s.open_text.endswith("Second")


def test_blank_line_inside_a_code_fence_does_not_finish_it() -> None:
    s = BlockSplitter()
    done = s.feed("```\nx = 1\n\ny = 2\n")
    assert done == []
    done = s.feed("```\n\nafter")
    assert done == ["```\nx = 1\n\ny = 2\n```\n"]


def test_fence_markers_split_across_deltas_are_seen() -> None:
    s = BlockSplitter()
    done: list[str] = []
    for piece in ["`", "``p", "y\nprint(1)\n\n", "print(2)\n`", "``\n", "\n", "tail"]:
        done += s.feed(piece)
    assert done == ["```py\nprint(1)\n\nprint(2)\n```\n"]


def test_open_text_only_grows_between_blocks() -> None:
    s = BlockSplitter()
    s.feed("abc")
    first = s.open_text
    s.feed(" def\nghi")
    assert s.open_text.startswith(first)


# --------------------------------------------------------------------------- the live reply


def custom(wire: Wire, widget: Transcript, mark: int = 0) -> list[dict[str, object]]:
    return [m.data["content"] for m in wire.since(mark, widget) if m.method == "custom"]


def test_live_reply_sends_blocks_as_html_and_the_open_block_as_text(wire: Wire) -> None:
    t = Transcript(flush_interval=0)  # every delta flushes: easy to follow
    live = t.start("model-x")
    live.append("Hello <b>world</b>.\n")
    live.append("\nNext")
    live.append(" para")
    sent = custom(wire, t)
    assert sent[0] == {"op": "open", "id": live.id, "role": "assistant", "label": "model-x"}
    assert sent[1] == {"op": "delta", "blocks": [], "text": "Hello <b>world</b>.\n"}
    assert sent[2] == {
        "op": "delta",
        "blocks": ["<p>Hello &lt;b&gt;world&lt;/b&gt;.</p>\n"],
        "text": "\nNext",
    }
    assert sent[3] == {"op": "delta", "blocks": [], "text": " para"}
    msg = live.finish(meta="meta line")
    assert t.messages[-1] == msg
    assert msg["html"] == "<p>Hello &lt;b&gt;world&lt;/b&gt;.</p>\n<p>Next para</p>\n"
    assert msg["id"] == live.id and msg["meta"] == "meta line"
    assert t.live is None


def test_deltas_between_flushes_are_batched(wire: Wire) -> None:
    t = Transcript(flush_interval=60)  # nothing but the first delta goes out by itself
    live = t.start("m")
    mark = wire.mark()
    for _ in range(500):
        live.append("word ")
    assert len(custom(wire, t, mark)) == 1
    live.flush()
    sent = custom(wire, t, mark)
    assert len(sent) == 2
    assert "".join(str(s["text"]) for s in sent) == "word " * 500


async def test_a_timer_sends_the_tail_when_deltas_pause(wire: Wire) -> None:
    t = Transcript(flush_interval=0.05)
    live = t.start("m")
    live.append("a")
    live.append("b")  # within the interval: waits for the timer
    mark = wire.mark()
    await asyncio.sleep(0.1)
    assert custom(wire, t, mark) == [{"op": "delta", "blocks": [], "text": "b"}]


def test_a_view_that_starts_late_gets_the_reply_so_far(wire: Wire) -> None:
    t = Transcript(flush_interval=0)
    live = t.start("m")
    live.append("One.\n\nTwo")
    mark = wire.mark()
    t._handle_custom_msg({"event": "ready"}, [])  # what a new view says
    opened, snapshot = custom(wire, t, mark)
    assert opened["op"] == "open" and opened["id"] == live.id
    assert isinstance(opened["elapsed"], float)  # its "waiting…" timer goes on, not from 0
    assert snapshot == {"op": "delta", "blocks": ["<p>One.</p>\n"], "text": "\nTwo"}
    live.finish()
    mark = wire.mark()
    t._handle_custom_msg({"event": "ready"}, [])  # nothing streaming: nothing to replay
    assert custom(wire, t, mark) == []


def test_a_stopped_reply_keeps_its_text_and_says_so(wire: Wire) -> None:
    t = Transcript()
    live = t.start("m")
    live.append("partial")
    msg = live.finish(status="stopped", meta="m · stopped")
    assert msg["status"] == "stopped"
    assert "partial" in msg["html"]


def test_clear_empties_the_state_and_drops_the_live_reply(wire: Wire) -> None:
    t = Transcript()
    t.add_plain("user", "hi <there>")
    assert t.messages[0]["html"] == '<div class="qnb-plain">hi &lt;there&gt;</div>'
    t.start("m")
    mark = wire.mark()
    t.clear()
    assert t.messages == []
    assert {"op": "drop"} in custom(wire, t, mark)


def test_traffic_grows_linearly_with_the_reply(wire: Wire, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes per reply ~ its length (at most 3x its HTML); a naive widget would be quadratic."""
    clock = [0.0]
    monkeypatch.setattr(_transcript, "_now", lambda: clock[0])
    paragraph = "Some words in a *paragraph* with `code` and <tags>. " * 4 + "\n\n"

    def stream(n_paragraphs: int) -> tuple[int, int, int]:
        t = Transcript()
        mark = wire.mark()
        live = t.start("m")
        text = paragraph * n_paragraphs
        for i in range(0, len(text), 4):  # 4 characters per delta, 1 ms apart
            clock[0] += 0.001
            live.append(text[i : i + 4])
        msg = live.finish()
        sent = wire.since(mark, t)
        return sum(m.size for m in sent), len(sent), len(msg["html"])

    small_bytes, _, small_html = stream(20)
    big_bytes, big_msgs, big_html = stream(80)
    assert big_bytes / small_bytes < 4.6  # 4x the text: about 4x the bytes, never 16x
    assert big_bytes <= 3 * big_html
    assert small_bytes <= 3 * small_html
    # 20 flushes a second of (fake) streaming, plus the open and the final state
    seconds = len(paragraph) * 80 / 4 * 0.001
    assert big_msgs <= 20 * seconds + 3


async def test_schedule_keeps_tasks_alive_and_reports_their_errors() -> None:
    errors: list[BaseException] = []

    async def boom() -> None:
        await asyncio.sleep(0)
        raise KeyError("lost?")

    task = _schedule.schedule(boom(), on_error=errors.append)
    assert isinstance(task, asyncio.Task)  # on the home loop already: the task itself
    assert _schedule.running_tasks() >= 1
    await asyncio.wait([task])
    assert isinstance(errors[0], KeyError)
    assert task not in _schedule._TASKS


def test_schedule_without_a_loop_says_what_to_do() -> None:
    async def nothing() -> None:
        pass

    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        _schedule.schedule(nothing())
