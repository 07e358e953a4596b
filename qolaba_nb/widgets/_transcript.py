"""The transcript of a conversation: a widget that streams a reply in with linear traffic.

Model output is untrusted. All HTML that reaches the browser is made here, in the kernel, by
``qolaba_nb._markdown.render_markdown`` (raw HTML escaped, no images, safe link schemes) or by
``render_card`` / ``render_plain`` (everything escaped). The front end inserts model text
itself only as text nodes.

What goes over the wire for one streamed reply (see ``static/transcript.js``):

* ``{"op": "open"}`` once: the front end shows a "waiting…" timer;
* at most ``1 / flush_interval`` times a second (20 by default), one ``{"op": "delta"}``
  carrying the rendered HTML of each Markdown block that was finished since the last one
  (a blank line outside a code fence ends a block), and the new plain text of the block
  still open. Text of a block that opened and finished between two messages is never sent
  as text, only as HTML;
* when the reply ends, the ``messages`` trait gets the whole reply, rendered once more as a
  whole (lists and links that span blocks come out right), so a reloaded page or a saved
  notebook shows it too.

A view that appears while a reply streams (custom messages are not replayed to it) sends
``{"event": "ready"}``; it gets "open" again and one "delta" with everything so far.

So the bytes per reply are about: its text (at most once) + its HTML twice, whatever the
number of deltas, where re-sending the whole HTML per delta would grow with its square.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any, Literal

import anywidget
import traitlets

from .._markdown import highlight_css, render_markdown
from .._render import escape_html
from ._schedule import home

__all__ = [
    "BlockSplitter",
    "LiveReply",
    "Role",
    "Transcript",
    "render_card",
    "render_markdown",
    "render_plain",
]

Role = Literal["user", "assistant", "tool", "error", "note"]

#: Seconds between two delta messages of a streaming reply: at most 20 a second.
FLUSH_INTERVAL = 0.05

_now = time.monotonic  # the batching clock; tests put a fake one here


def static_text(name: str) -> str:
    """A file of ``qolaba_nb/widgets/static`` (the widgets' ES modules and CSS)."""
    return resources.files("qolaba_nb.widgets").joinpath("static", name).read_text("utf-8")


# --------------------------------------------------------------------------- rendering (pure)


def render_plain(text: str) -> str:
    """Text shown as typed (a user's prompt): escaped, line breaks kept by CSS."""
    return f'<div class="qnb-plain">{escape_html(text)}</div>'


def render_card(title: str, detail: str = "") -> str:
    """An error or notice: a bold title and a detail line, both escaped."""
    out = f"<p><strong>{escape_html(title)}</strong></p>"
    if detail:
        out += render_plain(detail)
    return out


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class BlockSplitter:
    """Cuts streaming Markdown into finished blocks. Pure; feed it text as it arrives.

    A block ends at a blank line outside a fenced code block. Only whole lines are looked at,
    so a fence or a blank line split across two deltas is still seen.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []  # complete lines of the open block, with their "\n"
        self._partial = ""  # the last line, not complete yet
        self._fence: str | None = None  # the marker of the open code fence, if any

    @property
    def open_text(self) -> str:
        """The text of the block that is not finished yet."""
        return "".join(self._lines) + self._partial

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the blocks it finished (Markdown source), oldest first."""
        done: list[str] = []
        *complete, self._partial = (self._partial + text).split("\n")
        for line in complete:
            block = self._line(line + "\n")
            if block is not None:
                done.append(block)
        return done

    def _line(self, line: str) -> str | None:
        if self._fence is not None:
            self._lines.append(line)
            stripped = line.strip()
            if stripped.startswith(self._fence) and set(stripped) == {self._fence[0]}:
                self._fence = None
            return None
        if not line.strip():
            if not any(s.strip() for s in self._lines):
                self._lines.append(line)  # blank lines before any text: nothing finished
                return None
            block = "".join(self._lines)
            self._lines = [line]
            return block
        fence = _FENCE.match(line)
        if fence is not None:
            self._fence = fence.group(1)
        self._lines.append(line)
        return None


# --------------------------------------------------------------------------- the widget


class Transcript(anywidget.AnyWidget):
    """A list of rendered messages, plus at most one reply streaming in.

    ``messages`` (synced) holds each finished message as ``{"id", "role", "html"}`` and the
    keys that are not empty of ``label``, ``meta``, ``status`` (left out when "ok"),
    ``actions`` ("reply" or "prompt": which buttons it gets), ``alt`` ("2/3": its
    alternatives), ``reasoning`` (HTML) and ``reasoning_label`` ("Thought for 3.2 s").

    Traffic per message is constant: a finished message goes to the browser once, as an
    ``{"op": "add"}`` custom message that the front end's model applies to its own copy of
    ``messages`` (so JupyterLab saves it with the notebook), while the kernel updates its
    copy without syncing it (so a reloaded page asks for, and gets, the whole list). Changes
    in the middle (an edit, a deletion, another alternative shown) go as one
    ``{"op": "set", "order": [ids], "put": [changed messages]}``. A kernel whose transcript no
    view has ever shown (nbclient, nbconvert: no front end applies custom messages) syncs
    the whole list once when a cell finishes, so executed notebooks save it too.
    """

    _esm = static_text("transcript.js")
    _css = static_text("transcript.css") + highlight_css()

    messages = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: Give user messages Edit/Delete and assistant messages Copy/Regenerate buttons (a
    #: message's own ``actions`` key overrides: "prompt", "reply" or "none").
    actions = traitlets.Bool(False).tag(sync=True)

    def __init__(self, *, flush_interval: float = FLUSH_INTERVAL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flush_interval = flush_interval
        self._count = 0
        self.live: LiveReply | None = None
        self.viewed = False  # a front end has shown this transcript (it said "ready")
        self._unsynced = False  # the kernel's list is ahead of the last full sync
        self._actions: list[Callable[[str, str, Mapping[str, Any]], None]] = []
        self.on_msg(home(self._on_view_message))  # may arrive on a subshell thread
        _sync_after_cells(self)

    def __repr__(self) -> str:
        return f"<Transcript messages={len(self.messages)}>"

    def _on_view_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        if event == "ready":
            self.viewed = True
            if self.live:
                self.live.replay()
        elif event == "action":
            action, message_id = str(content.get("action", "")), str(content.get("id", ""))
            for callback in self._actions:
                callback(action, message_id, content)

    def on_action(self, callback: Callable[[str, str, Mapping[str, Any]], None]) -> None:
        """``callback(action, message_id, event)`` for each action button clicked."""
        self._actions.append(callback)

    def next_id(self) -> str:
        self._count += 1
        return f"m{self._count}"

    # ------------------------------------------------------------------ the list

    def _store(self, messages: list[dict[str, Any]]) -> None:
        # The kernel's copy, not synced: the front end applies the same op to its own.
        self._trait_values["messages"] = messages
        self._unsynced = True

    def sync_all(self) -> None:
        """Send the whole list as widget state (for front ends that missed the ops)."""
        if self._unsynced:
            self._unsynced = False
            value = list(self.messages)
            self._trait_values["messages"] = []  # so that the assignment is a change
            self.messages = value

    def add(
        self,
        role: Role,
        html: str,
        *,
        label: str = "",
        meta: str = "",
        status: str = "",
        message_id: str | None = None,
        **extra: str,
    ) -> dict[str, Any]:
        """Append a finished message; ``html`` must come from one of the render functions."""
        msg: dict[str, Any] = {"id": message_id or self.next_id(), "role": role, "html": html}
        # empty fields stay out: they are most of a short message's bytes
        optional = {
            "label": label,
            "meta": meta,
            "status": "" if status == "ok" else status,
            **extra,
        }
        msg.update((k, v) for k, v in optional.items() if v)
        return self.append(msg)

    def append(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        """Append a message dict made as ``add`` makes them (its html already safe)."""
        item = dict(msg)
        self._store([*(m for m in self.messages if m["id"] != item["id"]), item])
        self.send({"op": "add", "msg": item})
        return item

    def add_markdown(self, role: Role, text: str, **kwargs: str) -> dict[str, Any]:
        return self.add(role, render_markdown(text), **kwargs)

    def add_plain(self, role: Role, text: str, **kwargs: str) -> dict[str, Any]:
        return self.add(role, render_plain(text), **kwargs)

    def add_card(self, title: str, detail: str = "", *, role: Role = "error") -> dict[str, Any]:
        """An error or notice card: its title once, in bold, and the detail under it."""
        return self.add(role, render_card(title, detail))

    def show(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Make the list ``messages``, sending only the ids and the messages that changed."""
        old = {m["id"]: m for m in self.messages}
        new = [dict(m) for m in messages]
        put = [m for m in new if old.get(m["id"]) != m]
        order = [m["id"] for m in new]
        if order == list(old) and not put:
            return
        if order[: len(old)] == list(old) and all(m["id"] not in old for m in put):
            self._store(new)  # only appended: one "add" each
            for msg in put:
                self.send({"op": "add", "msg": msg})
            return
        self._store(new)
        self.send({"op": "set", "order": order, "put": put})

    def start(self, label: str, *, role: Role = "assistant") -> LiveReply:
        """Begin streaming a reply; feed it with ``append`` and end it with ``finish``."""
        if self.live is not None:
            self.live.drop()
        self.live = LiveReply(self, label, role)
        return self.live

    def clear(self) -> None:
        if self.live is not None:
            self.live.drop()
        self._unsynced = False
        self.messages = []

    def reset(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Replace the whole list (a loaded conversation), as widget state."""
        if self.live is not None:
            self.live.drop()
        self._unsynced = False
        self.messages = [dict(m) for m in messages]

    def text(self) -> str:
        """The plain text of every finished message (for tests and quick looks)."""
        return "\n".join(_TAGS.sub("", m["html"]) for m in self.messages)


def _sync_after_cells(transcript: Transcript) -> None:
    """Under IPython, after each cell: a transcript no view has shown syncs its whole list."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is None:
        return
    ref = weakref.ref(transcript)

    def after_cell(*_args: Any) -> None:
        target = ref()
        if target is None:
            with contextlib.suppress(ValueError):
                shell.events.unregister("post_execute", after_cell)
        elif not target.viewed:
            target.sync_all()

    shell.events.register("post_execute", after_cell)


_TAGS = re.compile(r"<[^>]+>")


class LiveReply:
    """One reply streaming into a ``Transcript``: batches deltas, renders finished blocks."""

    def __init__(self, transcript: Transcript, label: str, role: Role) -> None:
        self.transcript = transcript
        self.label = label
        self.role = role
        self.id = transcript.next_id()
        self.messages_sent = 0
        self._parts: list[str] = []  # every delta, in order: the reply's text
        self._pending = 0  # how many of _parts the front end has not seen
        self._thought: list[str] = []  # reasoning deltas, shown as plain text while streaming
        self._thought_pending = 0
        self._splitter = BlockSplitter()
        self._blocks: list[str] = []  # rendered finished blocks, for replay()
        self._started = _now()
        self._shown = 0  # characters of the open block the front end shows
        self._last_flush = -1e9  # the first delta goes out at once
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self._send({"op": "open", "id": self.id, "role": role, "label": label})

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def reasoning(self) -> str:
        return "".join(self._thought)

    def _send(self, content: dict[str, Any]) -> None:
        self.messages_sent += 1
        self.transcript.send(content)

    def append(self, delta: str) -> None:
        """Add text; it reaches the browser within ``flush_interval`` seconds."""
        if self.closed or not delta:
            return
        self._parts.append(delta)
        self._pending += 1
        self._soon()

    def reason(self, delta: str) -> None:
        """Add reasoning text (shown above the reply, open while it streams)."""
        if self.closed or not delta:
            return
        self._thought.append(delta)
        self._thought_pending += 1
        self._soon()

    def _soon(self) -> None:
        wait = self._last_flush + self.transcript.flush_interval - _now()
        if wait <= 0:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a plain script): the next append or finish() sends it
            self._timer = loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """Send what arrived since the last message, if anything."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.closed or not (self._pending or self._thought_pending):
            return
        thought = ""
        if self._thought_pending:
            thought = "".join(self._thought[len(self._thought) - self._thought_pending :])
            self._thought_pending = 0
        new = "".join(self._parts[len(self._parts) - self._pending :]) if self._pending else ""
        self._pending = 0
        self._last_flush = _now()
        blocks = [render_markdown(b) for b in self._splitter.feed(new)]
        self._blocks += blocks
        if blocks:
            self._shown = 0  # the front end empties its open block when a block lands
        open_text = self._splitter.open_text
        text, self._shown = open_text[self._shown :], len(open_text)
        if blocks or text or thought:
            content: dict[str, Any] = {"op": "delta", "blocks": blocks, "text": text}
            if thought:
                content["reasoning"] = thought
            self._send(content)

    def replay(self) -> None:
        """Everything so far, again, for a view that started late (it asked: "ready")."""
        if self.closed:
            return
        self.flush()
        elapsed = _now() - self._started
        self._send(
            {
                "op": "open",
                "id": self.id,
                "role": self.role,
                "label": self.label,
                "elapsed": elapsed,
            }
        )
        text = self._splitter.open_text
        if self._blocks or text or self._thought:
            content: dict[str, Any] = {"op": "delta", "blocks": self._blocks, "text": text}
            if self._thought:
                content["reasoning"] = self.reasoning
            self._send(content)

    def note(self, text: str) -> None:
        """A status line under the streaming reply ("running get_weather…")."""
        if not self.closed:
            self._send({"op": "note", "text": text})

    def finish(
        self,
        *,
        meta: str = "",
        status: str = "ok",
        text: str | None = None,
        label: str | None = None,
        **extra: str,
    ) -> dict[str, Any]:
        """Commit the reply to ``messages`` (rendered as a whole) and end the live view."""
        self._close()
        body = self.text if text is None else text
        return self.transcript.add(
            self.role,
            render_markdown(body) if body else "",
            label=self.label if label is None else label,
            meta=meta,
            status=status,
            message_id=self.id,
            **extra,
        )

    def commit(self, msg: Mapping[str, Any]) -> dict[str, Any]:
        """End the live view with ``msg`` (a message dict with this reply's id)."""
        self._close()
        return self.transcript.append(msg)

    def drop(self) -> None:
        """End the live view without a message (the reply brought nothing worth keeping)."""
        if not self.closed:
            self._close()
            self._send({"op": "drop"})

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.closed = True
        if self.transcript.live is self:
            self.transcript.live = None
