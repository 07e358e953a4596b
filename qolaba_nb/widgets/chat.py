"""``ChatPanel``: chat with one model from a notebook, replies streaming in, Stop that stops.

    from qolaba_nb.widgets import ChatPanel
    panel = ChatPanel(model="openai/gpt-4o", system="Be brief.", temperature=0.3)
    panel                          # shows it; type, press Enter
    reply = await panel.send("Name three rivers.")   # or from code
    await panel.regenerate()       # another answer; panel.browse(-1, -1) shows the first
    panel.save("rivers.json")      # ChatPanel.load("rivers.json") goes on from there

Everything runs on the kernel's event loop (see ``_schedule``): while a reply streams, the
kernel is free, and Stop cancels the task reading the stream, which closes the connection.

The conversation is a tree: each turn (a user message and the replies it got) has the
alternative turns that follow it (a regenerated reply, an edited message) and the one chosen;
``messages`` and the transcript follow the chosen ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

import ipywidgets as w

from .._client import AsyncChatStream, AsyncClient, Client
from .._exceptions import QolabaError, RateLimitError, ValidationError
from .._markdown import code_blocks, render_markdown
from .._models import ChatCompletion, build_chat_body, content_text
from .._money import format_money, format_total
from .._render import escape_html, usage_line
from .._types import ChatPanelParams
from ._common import (
    DEFAULT_MODEL,
    Countdown,
    as_async_client,
    describe_error,
    status_html,
)
from ._controls import (
    PARAM_NAMES,
    ParamControls,
    PromptInput,
    image_part,
    is_image,
    prepare_image,
    thumbnail,
)
from ._meter import BudgetMeter
from ._schedule import has_running_loop, home, schedule
from ._tools import ToolBox
from ._transcript import LiveReply, Transcript, render_plain

__all__ = ["ChatPanel"]


@dataclass(slots=True)
class ReplyInfo:
    """What one assistant reply cost and how it ended (for the meta line and the exports)."""

    model: str
    status: str  # "ok", "stopped" or "error"
    credit: float | None = None
    credit_estimated: bool = False  # the server reported none: the client's estimate
    cost: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None
    chars: int | None = None
    chars_per_s: float | None = None  # while streaming: chars / (latency - TTFT)
    thought_s: float | None = None  # how long it reasoned before answering

    @classmethod
    def of(cls, completion: ChatCompletion, model: str, status: str) -> ReplyInfo:
        chars = len(completion.text or "")
        latency, ttft = completion.latency_s, completion.ttft_s
        speed = None
        if chars and latency is not None and ttft is not None and latency > ttft:
            speed = chars / (latency - ttft)
        return cls(
            model=completion.model or model,
            status=status,
            credit=completion.credit,
            cost=completion.cost,
            latency_s=latency,
            ttft_s=ttft,
            finish_reason=completion.finish_reason,
            chars=chars,
            chars_per_s=speed,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplyInfo:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known.setdefault("model", "")
        known.setdefault("status", "ok")
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class _Entry:
    """One message of the conversation, and for assistant messages what the reply cost."""

    message: dict[str, Any]  # only the fields the API takes
    reply: ReplyInfo | None = None
    attachments: list[str] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)  # its transcript messages
    reasoning: str = ""  # an assistant's reasoning text: shown and saved, never sent


def _guess_image(data: bytes) -> str:
    for magic, mime in (
        (b"\x89PNG", "image/png"),
        (b"\xff\xd8", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"RIFF", "image/webp"),
    ):
        if data.startswith(magic):
            return mime
    return "application/octet-stream"


#: The version of the file ``ChatPanel.save`` writes; ``load`` reads this one and earlier.
#: 1: ``messages``, the conversation shown. 2: also ``turns``, every branch (see ``to_dict``).
SCHEMA_VERSION = 2
SAVE_FORMAT = "qolaba_nb.chat"
#: Images larger than this (decoded bytes) are left out of a saved conversation, with a note
#: in their place; every image the panel sends is at most ``MAX_IMAGE_BYTES`` (4 MiB).
SAVE_IMAGE_CAP = 5 * 1024 * 1024

# The keys of a message the API takes, by role; anything else stays in the panel.
_API_KEYS = {
    "system": ("role", "content", "name"),
    "user": ("role", "content", "name"),
    "assistant": ("role", "content", "name", "tool_calls"),
    "tool": ("role", "content", "tool_call_id"),
}


def api_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """``message`` with only the fields the API takes (``usage`` and the like dropped)."""
    role = message.get("role")
    if role not in _API_KEYS:
        raise ValueError(f"a message's role must be one of {sorted(_API_KEYS)}, got {role!r}")
    return {k: message[k] for k in _API_KEYS[str(role)] if k in message}


@dataclass(slots=True)
class _Attachment:
    id: str
    name: str
    mime: str
    data: bytes
    note: str = ""
    thumb: str = ""


@dataclass(slots=True, eq=False)
class _Turn:
    """A user message and the replies it got; ``children`` are the alternative next turns
    (regenerated replies, edited messages), ``chosen`` the one the conversation goes on from.
    The root turn has no user message."""

    user: _Entry | None
    parent: _Turn | None = None
    replies: list[_Entry] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # error cards after it
    children: list[_Turn] = field(default_factory=list)
    chosen: int = 0

    @property
    def next(self) -> _Turn | None:
        return self.children[self.chosen] if self.children else None

    def entries(self) -> list[_Entry]:
        return ([self.user] if self.user else []) + self.replies


class ChatPanel(w.VBox):  # type: ignore[misc]
    """A chat with one model: pick a model, set the parameters, type; replies stream in.

    Keys in the message box: Enter sends, Shift+Enter adds a line, Esc stops the reply (or
    cancels an edit), Up in an empty box edits the last message. No key reaches the
    notebook. Images: the Image button, or paste / drop them on the box.

    Each message has its buttons, and each button its Python twin: Copy (``copy()``; code
    blocks have their own Copy, ``code_blocks()``), Regenerate (``regenerate()``), the
    alternatives ‹ 2/3 › (``browse()``), Edit (``edit()``) and Delete (``delete()``).
    Indexes are those of ``messages`` (the system prompt, when set, is message 0).

    Parameters
    ----------
    client : Client, AsyncClient or None, default None
        A ``Client`` or ``AsyncClient`` (a sync client is twinned into an async one, sharing
        its ledger and budget); None builds an ``AsyncClient`` from ``QOLABA_API_KEY`` /
        ``QOLABA_BASE_URL``.
    model : str or None, default None
        The model to start with (None: ``"google/gemini-2.5-flash"``); the picker offers
        every model of ``list_models()``.
    system : str or None, default None
        The system prompt (editable in the panel).
    tools : sequence of callables or dicts, or None, default None
        Python functions (their schema is built from the signature and docstring; they run
        when the model calls them and the model gets the result) or tool schemas (shown when
        called, not run).
    max_tool_rounds : int, default 5
        How many times in a row tool results are sent back before the panel stops.
    tag : str or None, default None
        The ledger tag of the calls (None: the client's).
    **params : Unpack[ChatPanelParams]
        ``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``frequency_penalty`` and
        ``presence_penalty`` fill the controls; ``tool_choice``, ``stream_options`` and
        ``extra_body`` are sent with every call as they are (tools go in ``tools=``). See
        ``SamplingParams``. Checked here: a bad one raises ``ValidationError`` at once.

    Examples
    --------
    >>> from qolaba_nb import ChatPanel, connect
    >>> panel = ChatPanel(connect(), model="openai/gpt-4o", temperature=0.3)  # doctest: +SKIP
    >>> panel  # the last expression of a cell shows the panel  # doctest: +SKIP
    >>> await panel.send("Name three rivers.")  # doctest: +SKIP
    """

    def __init__(
        self,
        client: Client | AsyncClient | None = None,
        model: str | None = None,
        system: str | None = None,
        *,
        tools: Sequence[Callable[..., Any] | Mapping[str, Any]] | None = None,
        max_tool_rounds: int = 5,
        tag: str | None = None,
        **params: Unpack[ChatPanelParams],
    ) -> None:
        build_chat_body("x", model="m", stream=True, params=params)  # bad params fail here
        self.client = as_async_client(client)
        self.tag = tag
        self.max_tool_rounds = max_tool_rounds
        self.tools = ToolBox(tools)
        self._extra = {k: v for k, v in params.items() if k not in PARAM_NAMES}
        self._root = _Turn(None)
        self._attachments: list[_Attachment] = []
        self._attach_count = 0
        self._editing: int | None = None  # the message the box is editing, if any
        self.total_credit = 0.0  # reported and estimated credits ...
        self.total_estimated = 0.0  # ... of which estimated (stopped or cut replies)
        self.total_cost = 0.0
        self.replies = 0
        self._inner: asyncio.Task[tuple[ChatCompletion, ReplyInfo]] | None = None
        self._generation = 0  # +1 on clear(): a reply stopped by Clear is not kept
        self._stop_requested = False
        self._busy = False
        self.models_loaded = False

        start = model or DEFAULT_MODEL
        self.title = w.HTML("<b>Qolaba chat</b>")
        self.header = w.HTML()  # the session's total: plain text, styled by transcript.css
        self.header.add_class("qnb-session-total")
        self.meter = BudgetMeter(self.client, tag=tag)  # what is left of the budget
        self.model_picker = w.Dropdown(
            options=[start],
            value=start,
            description="model",
            # the widget's own margin (2 px a side) is outside its width: without it taken
            # off, a narrow panel (600 px, file browser open) had the picker stick out
            layout=w.Layout(width="360px", max_width="calc(100% - 4px)"),
        )
        self.model_note = w.HTML(layout=w.Layout(min_width="0", flex="1 1 200px"))
        self.system_box = w.Textarea(
            value=system or "",
            placeholder="System prompt (optional)",
            layout=w.Layout(width="auto", height="48px"),  # 100% plus its margin overflows
        )
        self.params = ParamControls(params, on_change=self._update_controls)
        self.transcript = Transcript(actions=True)
        self.prompt = PromptInput(
            placeholder="Message: Enter sends, Shift+Enter adds a line, Up edits the last one",
            label="Message",
        )
        self.upload = w.FileUpload(accept="image/*", multiple=True, description="Image")
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop")
        self.clear_button = w.Button(description="Clear", icon="trash")
        self.status = w.HTML()
        self._status_cause = ""  # what the status line complains about
        self.countdown = Countdown(lambda text: self._set_status(text, "warn"))

        self.prompt.on_submit(self._submit)
        self.prompt.on_event("escape", lambda _: self._escape())
        self.prompt.on_event("recall", lambda _: self._recall())
        self.prompt.on_event("files", self._files)
        self.prompt.on_event("remove", self.remove_attachment)
        self.transcript.on_action(self._action)
        # Widget callbacks may run on a kernel subshell's thread: home() moves them to ours.
        self.send_button.on_click(
            home(lambda _b: self._submit(self.prompt.value, from_button=True))
        )
        self.stop_button.on_click(home(lambda _b: self.stop()))
        self.clear_button.on_click(home(lambda _b: self.clear()))
        self.upload.observe(home(lambda _c: self._take_uploads()), names="value")

        wrap = w.Layout(flex_flow="row wrap", align_items="center", width="100%")
        fields = list(self.params.fields.values())
        settings = w.HBox(
            [
                w.VBox([f.box for f in fields[:3]], layout=w.Layout(flex="1 1 280px")),
                w.VBox([f.box for f in fields[3:]], layout=w.Layout(flex="1 1 280px")),
            ],
            layout=wrap,
        )
        super().__init__(
            [
                w.HBox(
                    [self.title, self.header, self.meter], layout=w.Layout(align_items="center")
                ),
                w.HBox([self.model_picker, self.model_note], layout=wrap),
                self.system_box,
                settings,
                self.transcript,
                self.prompt,
                w.HBox(
                    [self.send_button, self.stop_button, self.clear_button, self.upload],
                    layout=wrap,
                ),
                self.status,
            ],
            layout=w.Layout(width="100%", min_width="0"),
        )
        self.add_class("qnb-chat-panel")
        self._update_header()
        self._update_controls()
        if has_running_loop():
            schedule(self.load_models(), on_error=self._internal_error, name="qolaba-models")
        else:
            self.model_note.value = status_html("model list not loaded (no event loop)")

    def __repr__(self) -> str:
        return f"<ChatPanel model={self.model!r} messages={len(self._history)}>"

    # ------------------------------------------------------------------ the conversation

    def _path(self) -> list[_Turn]:
        """The turns shown, root first: the chosen alternative at every fork."""
        out = [self._root]
        while (turn := out[-1].next) is not None:
            out.append(turn)
        return out

    @property
    def _history(self) -> list[_Entry]:
        return [e for t in self._path() for e in t.entries()]

    def _tail(self) -> _Turn:
        return self._path()[-1]

    def _offset(self) -> int:
        return 1 if self.system.strip() else 0

    def _locate(self, index: int) -> tuple[_Turn, _Entry]:
        """The turn and entry of ``messages[index]`` (the system prompt has none)."""
        total = len(self._history) + self._offset()
        i = index + total if index < 0 else index
        if not 0 <= i < total:
            raise IndexError(f"no message {index}: the conversation has {total}")
        i -= self._offset()
        if i < 0:
            raise ValueError("message 0 is the system prompt: set panel.system_box.value")
        for turn in self._path():
            entries = turn.entries()
            if i < len(entries):
                return turn, entries[i]
            i -= len(entries)
        raise AssertionError("unreachable")  # pragma: no cover

    def _index_of_view(self, view_id: str) -> int | None:
        for i, entry in enumerate(self._history):
            if any(v["id"] == view_id for v in entry.views):
                return i + self._offset()
        return None

    def _alt_label(self, turn: _Turn) -> str:
        siblings = turn.parent.children if turn.parent else []
        return f"{siblings.index(turn) + 1}/{len(siblings)}" if len(siblings) > 1 else ""

    def _views(self) -> list[dict[str, Any]]:
        """The transcript's messages for the turns shown (the alternatives' ‹ 2/3 › on the
        turn's last reply, or on its message while it has none)."""
        out: list[dict[str, Any]] = []
        for turn in self._path():
            views = [dict(v) for e in turn.entries() for v in e.views]
            alt = self._alt_label(turn)
            if alt and views:
                replies = [v for v in views if v["role"] == "assistant"]
                (replies[-1] if replies else views[0])["alt"] = alt
            out += views + [dict(n) for n in turn.notes]
        return out

    def _refresh(self) -> None:
        self.transcript.show(self._views())

    def _user_view(self, entry: _Entry) -> dict[str, Any]:
        text = content_text(entry.message.get("content"))
        shown = text + "".join(f"\n📎 {n}" for n in entry.attachments)
        return {
            "id": self.transcript.next_id(),
            "role": "user",
            "html": render_plain(shown),
        }  # the front end labels it "You" and gives it Edit and Delete (transcript.actions)

    # ------------------------------------------------------------------ public API

    @property
    def model(self) -> str:
        """The model the next message goes to; setting it adds it to the picker if needed."""
        return str(self.model_picker.value or "")

    @model.setter
    def model(self, value: str) -> None:
        if value not in self.model_picker.options:
            self.model_picker.options = [*self.model_picker.options, value]
        self.model_picker.value = value

    @property
    def system(self) -> str:
        """The system prompt, as the box shows it."""
        return str(self.system_box.value)

    @property
    def busy(self) -> bool:
        """True while a reply is streaming (or tools are running)."""
        return self._busy

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as the API takes it (system prompt first, if any): only the
        fields the API knows. Settable: a list of such dicts (an assistant message may carry
        ``usage``, as ``to_json()`` writes it) replaces the conversation."""
        out = [{"role": "system", "content": self.system}] if self.system.strip() else []
        return out + [dict(e.message) for e in self._history]

    @messages.setter
    def messages(self, value: Sequence[Mapping[str, Any]]) -> None:
        self._check_idle()
        items = list(value)
        for item in items:
            api_message(item)  # every role checked before anything changes
        root = turn = _Turn(None)
        system: str | None = None
        for item in items:
            if item["role"] == "system":
                if system is None:
                    system = content_text(item.get("content"))
                continue
            entry = self._entry_from(item)
            if item["role"] == "user":
                turn = _Turn(entry, parent=turn)
                turn.parent.children.append(turn)  # type: ignore[union-attr]
            else:
                turn.replies.append(entry)
        self._replace(root, system)

    def _check_idle(self) -> None:
        if self._busy:
            raise RuntimeError("a reply is still streaming: stop() it first")

    def _entry_from(self, item: Mapping[str, Any]) -> _Entry:
        """An entry (and its transcript messages) from a message as ``to_dict`` writes it."""
        entry = _Entry(api_message(item), attachments=list(item.get("attachments") or []))
        if entry.message["role"] == "user":
            entry.views = [self._user_view(entry)]
            return entry
        usage = item.get("usage")
        if entry.message["role"] == "assistant" and isinstance(usage, Mapping):
            entry.reply = ReplyInfo.from_dict(usage)
        entry.reasoning = str(item.get("reasoning") or "")
        entry.views = self._reply_views(entry)
        return entry

    def _replace(self, root: _Turn, system: str | None) -> None:
        """Make ``root`` the conversation (and ``system`` the system prompt)."""
        self._generation += 1
        self._root = root
        self._editing = None
        self.system_box.value = system or ""
        self.transcript.reset(self._views())
        self._set_status("")

    def _restore_turns(self, messages: list[Any], turns: list[Any]) -> None:
        """The whole tree, as ``to_dict`` writes it in ``turns`` (refs into ``messages``)."""
        self._check_idle()

        def item_of(ref: Any) -> Mapping[str, Any]:
            if isinstance(ref, Mapping) and set(ref) == {"shown"}:
                at = ref["shown"]
                if not isinstance(at, int) or not 0 <= at < len(messages):
                    raise ValueError(f"a saved turn refers to message {at!r}, which is missing")
                ref = messages[at]
            if not isinstance(ref, Mapping):
                raise ValueError(f"a saved message must be an object, got {ref!r}")
            api_message(ref)
            return ref

        # Every turn and message is checked before anything changes.
        plan: list[tuple[int | None, Mapping[str, Any] | None, list[Mapping[str, Any]], int]] = []
        for k, saved in enumerate(turns):
            if not isinstance(saved, Mapping):
                raise ValueError(f"saved turn {k} must be an object, got {saved!r}")
            parent = saved.get("parent")
            root = k == 0
            if (parent is not None) if root else not (isinstance(parent, int) and 0 <= parent < k):
                raise ValueError(f"saved turn {k} has a bad parent: {parent!r}")
            user = None if root else item_of(saved.get("user"))
            replies = [item_of(r) for r in saved.get("replies") or []]
            plan.append((parent, user, replies, int(saved.get("chosen") or 0)))
        nodes: list[_Turn] = []
        for parent, user, replies, chosen in plan:
            up = None if parent is None else nodes[parent]
            node = _Turn(None if user is None else self._entry_from(user), parent=up)
            node.replies = [self._entry_from(r) for r in replies]
            node.chosen = chosen
            if up is not None:
                up.children.append(node)
            nodes.append(node)
        for node in nodes:
            node.chosen = max(0, min(node.chosen, len(node.children) - 1))
        system = next(
            (content_text(m.get("content")) for m in messages if m.get("role") == "system"), None
        )
        self._replace(nodes[0] if nodes else _Turn(None), system)

    async def load_models(self) -> None:
        """Fill the model picker from ``list_models()``; on failure keep the model and say so."""
        try:
            models = await self.client.list_models()
        except QolabaError as err:
            title, detail = describe_error(err)
            self.model_note.value = status_html(
                f"Could not load the model list ({title}: {detail}); using {self.model}.",
                kind="warn",
            )
            return
        ids = [m.id for m in models]
        current = self.model
        if current and current not in ids:
            ids.insert(0, current)
        self.model_picker.options = ids
        self.model_picker.value = current or (ids[0] if ids else None)
        self.model_note.value = ""
        self.models_loaded = True

    # ---------------------------------------------------------------- attachments

    @property
    def attachments(self) -> list[str]:
        """The names of the images attached to the next message."""
        return [a.name for a in self._attachments]

    def attach_image(self, data: bytes, name: str = "image", mime: str | None = None) -> None:
        """Attach an image to the next message (as the Image button, a paste or a drop do).

        Raises ``ValidationError`` for a file that is not an image (nothing is attached).
        An image over 4 MiB or 2048 px is scaled down, and the panel says so.
        """
        mime = mime or mimetypes.guess_type(name)[0] or _guess_image(data)
        if not is_image(mime):
            raise ValidationError(
                f"{name} is not an image ({mime or 'unknown type'}): not attached",
                param="attachments",
            )
        sent, sent_mime, note = prepare_image(data, mime)
        self._attach_count += 1
        item = _Attachment(f"a{self._attach_count}", name, sent_mime, sent, note)
        item.thumb = thumbnail(sent)
        self._attachments.append(item)
        self._show_attachments()
        self._resolved("attachment")  # an image now: a refusal of the last pick is old news
        if note:
            self._set_status(f"{name} was {note} before sending.", "info")

    def remove_attachment(self, key: str | int) -> None:
        """Remove an attachment by its position or id (the × on its thumbnail)."""
        if isinstance(key, int):
            del self._attachments[key]
        else:
            self._attachments = [a for a in self._attachments if a.id != key]
        self._show_attachments()

    def _show_attachments(self) -> None:
        self.prompt.attachments = [
            {"id": a.id, "name": a.name, "thumb": a.thumb, "note": a.note}
            for a in self._attachments
        ]

    def _attach_or_refuse(self, files: Sequence[tuple[str, str, bytes]]) -> None:
        refused = []
        for name, mime, data in files:
            try:
                self.attach_image(data, name, mime or None)
            except ValidationError as err:
                refused.append(err.message)
        if refused:
            message = "; ".join(refused) + ". Only images can be attached."
            self._set_status(message, "error", cause="attachment")

    def _files(self, files: Sequence[tuple[str, str, bytes]]) -> None:
        self._attach_or_refuse(files)

    def _take_uploads(self) -> None:
        items = list(self.upload.value or ())
        if not items:
            return
        self.upload.value = ()  # the picker never holds a file back: all moved or refused
        self._attach_or_refuse(
            [
                (str(i.get("name", "image")), str(i.get("type") or ""), bytes(i["content"]))
                for i in items
            ]
        )

    # ---------------------------------------------------------------- sending

    def _check_ready(self) -> None:
        if self._busy:
            raise RuntimeError("a reply is still streaming: stop() it first")
        invalid = self.params.first_error()
        if invalid is not None:
            self._set_status(
                f"Fix {invalid.param} first: {invalid.message}", "error", cause="params"
            )
            raise invalid
        if not self.model:
            raise ValidationError("choose a model first", param="model")

    async def send(self, text: str, *, images: Sequence[str | Path | bytes] = ()) -> ChatCompletion:
        """Send ``text`` (and any attached images) and return the reply once it is complete.

        A stopped reply returns what arrived (``finish_reason`` None). API errors show as a
        card in the transcript and are raised; the conversation stays usable.
        """
        self._check_ready()
        self._busy = True  # before the first await: a second send() must find it set
        self._update_controls()
        self._set_status("")
        try:
            for image in images:
                if isinstance(image, bytes):
                    self.attach_image(image)
                else:
                    path = Path(image)
                    self.attach_image(await asyncio.to_thread(path.read_bytes), path.name)
            parts = [(a.name, image_part(a.mime, a.data)) for a in self._attachments]
            self._attachments.clear()
            self._show_attachments()
            content: str | list[dict[str, Any]] = text
            if parts:
                content = [{"type": "text", "text": text}, *(p for _, p in parts)]
            entry = _Entry({"role": "user", "content": content}, attachments=[n for n, _ in parts])
            entry.views = [self._user_view(entry)]
            tail = self._tail()
            turn = _Turn(entry, parent=tail)
            tail.children.append(turn)
            tail.chosen = len(tail.children) - 1
            self._refresh()
            return await self._reply()
        finally:
            self._busy = False
            self._update_controls()

    async def regenerate(self) -> ChatCompletion:
        """A new alternative of the last reply (the earlier ones stay: ``browse()``)."""
        self._check_ready()
        last = self._tail()
        if last.user is None or last.parent is None:
            raise ValueError("nothing to regenerate: send a message first")
        user = _Entry(dict(last.user.message), attachments=list(last.user.attachments))
        user.views = [dict(v) for v in last.user.views]  # the same message on screen
        return await self._branch(last.parent, user)

    async def edit(self, index: int, text: str) -> ChatCompletion:
        """Replace user message ``index`` of ``messages`` by ``text`` and resend from there.
        The earlier branch is kept as an alternative (``browse(index, -1)`` shows it)."""
        self._check_ready()
        turn, entry = self._locate(index)
        if entry is not turn.user or turn.parent is None:
            raise ValueError(f"message {index} is not a user message")
        content = entry.message.get("content")
        if isinstance(content, list):  # keep its images, change its text
            content = [{"type": "text", "text": text}] + [
                p for p in content if not (isinstance(p, Mapping) and p.get("type") == "text")
            ]
        else:
            content = text
        user = _Entry({**entry.message, "content": content}, attachments=list(entry.attachments))
        user.views = [self._user_view(user)]
        return await self._branch(turn.parent, user)

    async def _branch(self, parent: _Turn, user: _Entry) -> ChatCompletion:
        self._editing = None
        self._busy = True
        self._update_controls()
        self._set_status("")
        try:
            turn = _Turn(user, parent=parent)
            parent.children.append(turn)
            parent.chosen = len(parent.children) - 1
            self._refresh()
            return await self._reply()
        finally:
            self._busy = False
            self._update_controls()

    def browse(self, index: int, step: int = 1) -> tuple[int, int]:
        """Show another alternative of the turn of message ``index`` (``step`` -1: the one
        before); returns (shown, how many), 1-based. The one shown is continued from."""
        if self._busy:
            raise RuntimeError("a reply is still streaming: stop() it first")
        turn, _ = self._locate(index)
        parent = turn.parent
        if parent is None:  # pragma: no cover - the root has no message
            raise ValueError(f"message {index} has no alternatives")
        parent.chosen = max(0, min(len(parent.children) - 1, parent.chosen + step))
        self._refresh()
        return parent.chosen + 1, len(parent.children)

    def alternatives(self, index: int) -> tuple[int, int]:
        """(shown, how many) alternatives the turn of message ``index`` has, 1-based."""
        turn, _ = self._locate(index)
        siblings = turn.parent.children if turn.parent else [turn]
        return siblings.index(turn) + 1, len(siblings)

    def delete(self, index: int) -> None:
        """Delete message ``index`` and its pair (a user message and the replies it got);
        the rest of the conversation stays."""
        if self._busy:
            raise RuntimeError("a reply is still streaming: stop() it first")
        turn, _ = self._locate(index)
        parent = turn.parent
        if parent is None:  # replies before any user message: just those go
            self._root.replies.clear()
            self._refresh()
            return
        at = parent.children.index(turn)
        follow = turn.next
        if follow is not None:
            follow.parent = parent
            parent.children[at] = follow
        else:
            del parent.children[at]
            parent.chosen = max(0, min(parent.chosen, len(parent.children) - 1))
        self._editing = None
        self._refresh()

    def copy(self, index: int | None = None) -> str:
        """The Markdown that Copy puts on the clipboard: message ``index`` (default: the
        last reply) as it came."""
        if index is None:
            replies = [i for i, m in enumerate(self.messages) if m["role"] == "assistant"]
            if not replies:
                raise ValueError("no reply to copy yet")
            index = replies[-1]
        if index == 0 and self._offset():
            return self.system
        _, entry = self._locate(index)
        return content_text(entry.message.get("content"))

    def code_blocks(self, index: int | None = None) -> list[str]:
        """The code blocks of message ``index`` (default: the last reply), as each code
        block's Copy button copies them."""
        return code_blocks(self.copy(index))

    def stop(self) -> None:
        """Stop the streaming reply now: the connection closes, the partial text stays."""
        if self._inner is not None and not self._inner.done():
            self._stop_requested = True
            self._inner.cancel()

    def clear(self) -> None:
        """Forget the conversation (spending totals stay: the money is spent)."""
        self.stop()
        self._generation += 1
        self._root = _Turn(None)
        self._editing = None
        self._attachments.clear()
        self._show_attachments()
        self.transcript.clear()
        self._set_status("")

    # ---------------------------------------------------------------- exports

    def to_markdown(self) -> str:
        """The conversation as Markdown, with each reply's model and usage."""
        lines = ["# Chat", ""]
        if self.system.strip():
            lines += [f"**System:** {self.system}", ""]
        for entry in self._history:
            msg = entry.message
            role = msg["role"]
            if role == "user":
                lines += ["## You", "", content_text(msg.get("content"))]
                lines += [f"*attached: {n}*" for n in entry.attachments]
            elif role == "assistant":
                info = entry.reply
                title = f"## Assistant ({info.model})" if info else "## Assistant"
                lines += [title, "", content_text(msg.get("content"))]
                for call in msg.get("tool_calls") or []:
                    fn = call.get("function") or {}
                    lines += [f"*tool call:* `{fn.get('name')}({fn.get('arguments')})`"]
                if info is not None:
                    lines += ["", f"*{_reply_line(info)}*"]
            elif role == "tool":
                lines += ["## Tool result", "", "```", str(msg.get("content")), "```"]
            lines.append("")
        lines.append(
            f"*Session: {format_total(self.total_credit, self.total_estimated)}"
            f" · {format_money(self.total_cost)}"
            f" · {self.replies} replies*"
        )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """What ``save`` writes: the schema version, model, parameters and totals;
        ``messages``, the conversation shown (each reply with its usage, images embedded up
        to ``SAVE_IMAGE_CAP``); and ``turns``, every branch: one object per turn, parents
        first, as ``{"parent": index of its turn or null, "user": message, "replies":
        [messages], "chosen": which next turn is shown}``, where a message also in
        ``messages`` is written ``{"shown": its index}``."""
        messages: list[dict[str, Any]] = (
            [{"role": "system", "content": self.system}] if self.system.strip() else []
        )
        shown: dict[int, int] = {}
        for entry in self._history:
            shown[id(entry)] = len(messages)
            messages.append(_saved(entry))

        def ref(entry: _Entry) -> dict[str, Any]:
            at = shown.get(id(entry))
            return _saved(entry) if at is None else {"shown": at}

        turns: list[dict[str, Any]] = []
        number: dict[int, int] = {}
        queue = [self._root]  # breadth first: a turn's parent is written before it
        for turn in queue:
            number[id(turn)] = len(turns)
            saved: dict[str, Any] = {
                "parent": None if turn.parent is None else number[id(turn.parent)]
            }
            if turn.user is not None:
                saved["user"] = ref(turn.user)
            saved["replies"] = [ref(e) for e in turn.replies]
            saved["chosen"] = turn.chosen
            turns.append(saved)
            queue.extend(turn.children)
        return {
            "format": SAVE_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.model,
            "params": self.params.values() | self._extra,
            "messages": messages,
            "turns": turns,
            "total": {"credit": self.total_credit, "cost": self.total_cost},
        }

    def to_json(self, **dumps_kwargs: Any) -> str:
        """``to_dict()`` as JSON."""
        dumps_kwargs.setdefault("indent", 2)
        dumps_kwargs.setdefault("ensure_ascii", False)
        return json.dumps(self.to_dict(), default=str, **dumps_kwargs)

    def save(self, path: str | Path) -> Path:
        """Write the conversation to ``path`` as JSON (``ChatPanel.load`` reads it back)."""
        target = Path(path)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    @classmethod
    def load(
        cls,
        path: str | Path,
        client: Client | AsyncClient | None = None,
        *,
        model: str | None = None,
        tools: Sequence[Callable[..., Any] | Mapping[str, Any]] | None = None,
        max_tool_rounds: int = 5,
        tag: str | None = None,
        **params: Unpack[ChatPanelParams],
    ) -> ChatPanel:
        """A panel holding the conversation ``save`` wrote to ``path``, ready to go on.

        Every branch of the conversation comes back (the alternatives of each reply, the
        system prompt, the usage of each reply); the model and the request fields come from
        the file unless given here. Nothing is sent.

        Parameters
        ----------
        path : str or pathlib.Path
            A file ``ChatPanel.save`` wrote (schema version 1 or later).
        client : Client, AsyncClient or None, default None
            The client of the calls the panel makes from now on, as ``ChatPanel``'s
            (None: an ``AsyncClient`` from ``QOLABA_API_KEY`` / ``QOLABA_BASE_URL``).
        model : str or None, default None
            The model to go on with (None: the file's).
        tools : sequence of callables or dicts, or None, default None
            The panel's tools, as ``ChatPanel``'s ``tools=`` (functions are not saved in the
            file, so give them again to keep using them).
        max_tool_rounds : int, default 5
            How many times in a row tool results are sent back before the panel stops.
        tag : str or None, default None
            The ledger tag of the calls (None: the client's).
        **params : Unpack[ChatPanelParams]
            Request fields that replace the file's: ``temperature``, ``top_p``,
            ``max_tokens``, ``stop``, ``frequency_penalty``, ``presence_penalty``,
            ``tool_choice``, ``stream_options`` and ``extra_body``. See ``SamplingParams``.

        Returns
        -------
        ChatPanel
            A new panel showing the saved conversation.

        Raises
        ------
        ValueError
            The file is not a conversation ``ChatPanel.save`` wrote, or it was written by a
            newer qolaba_nb (a schema version this one does not read).
        OSError
            The file cannot be read.

        Examples
        --------
        >>> panel.save("rivers.json")  # doctest: +SKIP
        >>> again = ChatPanel.load("rivers.json", connect(), temperature=0.2)  # doctest: +SKIP
        >>> again  # the conversation, ready to go on  # doctest: +SKIP
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != SAVE_FORMAT:
            raise ValueError(f"{path} is not a conversation saved by ChatPanel.save")
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(
                f"{path} has schema version {version!r}; this qolaba_nb reads up to "
                f"{SCHEMA_VERSION}: upgrade qolaba_nb"
            )
        fields = {**(data.get("params") or {}), **params}
        panel = cls(
            client,
            model or data.get("model"),
            tools=tools,
            max_tool_rounds=max_tool_rounds,
            tag=tag,
            **fields,
        )
        messages, turns = data.get("messages") or [], data.get("turns")
        if version >= 2 and isinstance(turns, list):
            panel._restore_turns(list(messages), turns)
        else:  # version 1: the conversation shown, no other branch
            panel.messages = messages
        return panel

    # ------------------------------------------------------------------ one reply

    async def _reply(self) -> ChatCompletion:
        """Stream replies until one needs no tool run (at most ``max_tool_rounds`` runs)."""
        rounds = 0
        while True:
            completion, info = await self._stream_once()
            calls = completion.tool_calls
            if info.status != "ok" or not calls or not self.tools.can_run(calls):
                return completion
            if rounds >= self.max_tool_rounds:
                self._note(
                    "Tool rounds exhausted",
                    f"Stopped after {rounds} rounds of tool calls (max_tool_rounds).",
                    role="note",
                )
                return completion
            rounds += 1
            for call in calls:
                result = await self.tools.run(call)
                entry = _Entry(
                    {"role": "tool", "tool_call_id": call.get("id", ""), "content": result}
                )
                name = (call.get("function") or {}).get("name", "")
                entry.views = [
                    self.transcript.add_markdown(
                        "tool", f"```\n{result}\n```", label=f"tool result · {name}"
                    )
                ]
                self._tail().replies.append(entry)

    async def _stream_once(self) -> tuple[ChatCompletion, ReplyInfo]:
        model = self.model
        params = {**self._extra, **self.params.values()}
        if self.tools:
            params["tools"] = self.tools.schemas
        live = self.transcript.start(model)
        self._stop_requested = False
        # Its own task, so that stop() cancels the reading, never the caller's task.
        work = self._stream_core(live, model, params, self._generation)
        self._inner = asyncio.ensure_future(work)
        try:
            return await self._inner
        finally:
            self._inner = None

    async def _stream_core(
        self, live: LiveReply, model: str, params: dict[str, Any], generation: int
    ) -> tuple[ChatCompletion, ReplyInfo]:
        stream = None
        clock = _ThoughtClock()
        try:
            stream = await self.client.stream(self.messages, model=model, tag=self.tag, **params)
            noted = False
            async for chunk in stream:
                thought = getattr(chunk, "reasoning_delta", None)
                if thought:
                    clock.thinking()
                    live.reason(thought)
                if chunk.delta:
                    clock.answering()
                    live.append(chunk.delta)
                if chunk.tool_call_deltas and not noted:
                    live.note("calling a tool…")
                    noted = True
            completion = await stream.completion()
        except asyncio.CancelledError:
            if not self._stop_requested:
                live.drop()
                raise
            if stream is not None:
                # The cancellation closed the connection already (and the client recorded the
                # call as cancelled); aclose() makes sure, and lets completion() give the text.
                await stream.aclose()
                completion = await stream.completion()
            else:
                completion = ChatCompletion(None, model, "", {}, None, [], None)
            return self._record(
                live, model, completion, "stopped", generation, clock, _estimate(stream)
            )
        except QolabaError as err:
            partial = getattr(err, "partial_text", None) or ""
            if partial:
                cut = ChatCompletion(None, model, partial, {}, None, [], None)
                self._record(live, model, cut, "error", generation, clock, _estimate(stream))
            else:
                live.drop()
            if generation == self._generation:
                self._show_api_error(err)
            raise
        return self._record(live, model, completion, "ok", generation, clock, _estimate(stream))

    def _record(
        self,
        live: LiveReply,
        model: str,
        completion: ChatCompletion,
        status: str,
        generation: int,
        clock: _ThoughtClock,
        estimate: float | None = None,
    ) -> tuple[ChatCompletion, ReplyInfo]:
        """Keep the reply in the conversation and the transcript, add up what it cost
        (``estimate``: the credits the client recorded when the server reported none)."""
        info = ReplyInfo.of(completion, model, status)
        info.thought_s = clock.seconds()
        if info.credit is None and estimate is not None:
            info.credit, info.credit_estimated = estimate, True
            self.total_estimated += estimate
        self.total_credit += info.credit or 0.0  # spent, whatever happens to the reply
        self.total_cost += info.cost or 0.0
        self.replies += 1
        self._update_header()
        if generation != self._generation:  # Clear was pressed while it streamed
            live.drop()
            return completion, info
        message: dict[str, Any] = {"role": "assistant", "content": completion.text}
        if completion.tool_calls and status == "ok":
            message["tool_calls"] = completion.tool_calls
        entry = _Entry(message, reply=info)
        entry.reasoning = str(getattr(completion, "reasoning", None) or live.reasoning or "")
        turn = self._tail()
        entry.views = views = self._reply_views(entry, live_id=live.id)
        rest = views
        if views and views[0]["id"] == live.id:
            alt = self._alt_label(turn)
            live.commit({**views[0], "alt": alt} if alt else views[0])
            rest = views[1:]
        else:
            live.drop()
        for view in rest:
            self.transcript.append(view)
        turn.replies.append(entry)
        self._refresh()  # the alternatives' ‹ 2/3 › moves to this reply
        return completion, info

    def _reply_views(self, entry: _Entry, live_id: str | None = None) -> list[dict[str, Any]]:
        """The transcript messages of an assistant (or tool) entry: the reply, then a card
        for each tool call."""
        msg = entry.message
        if msg["role"] == "tool":
            return [
                {
                    "id": self.transcript.next_id(),
                    "role": "tool",
                    "label": "tool result",
                    "html": render_markdown(f"```\n{msg.get('content')}\n```"),
                }
            ]
        info = entry.reply
        status = info.status if info else "ok"
        text = content_text(msg.get("content"))
        views: list[dict[str, Any]] = []
        if text or status != "ok" or not msg.get("tool_calls"):
            view: dict[str, Any] = {
                "id": live_id or self.transcript.next_id(),
                "role": "assistant",
                "label": info.model if info else "assistant",
                "html": render_markdown(text or ("…" if status != "ok" else "")),
            }  # Copy and Regenerate: the front end's default for an assistant message
            if status != "ok":  # "ok" goes without saying: a short reply's bytes are few
                view["status"] = status
            if info is not None:
                view["meta"] = _reply_line(info, model=False)  # the label names the model
            if entry.reasoning:
                view["reasoning"] = render_markdown(entry.reasoning)
                view["reasoning_label"] = (
                    f"Thought for {info.thought_s:.1f} s"
                    if info and info.thought_s is not None
                    else "Reasoning"
                )
            views.append(view)
        for call in msg.get("tool_calls") or [] if status == "ok" else []:
            fn = call.get("function") or {}
            args = str(fn.get("arguments") or "")
            with contextlib.suppress(ValueError):  # not JSON: shown as it came
                args = json.dumps(json.loads(args), indent=2, ensure_ascii=False)
            views.append(
                {
                    "id": self.transcript.next_id(),
                    "role": "tool",
                    "label": f"tool call · {fn.get('name', '?')}",
                    "html": render_markdown(f"```json\n{args}\n```"),
                }
            )
        return views

    # ------------------------------------------------------------------ UI plumbing

    def _submit(self, text: str, *, from_button: bool = False) -> None:
        """Enter or Send: start a reply in the background, or say why not."""
        if from_button:
            self.prompt.value = ""
        if not text.strip() and not self._attachments:
            return
        refusal = None
        if self._busy:
            refusal, cause = "A reply is still streaming: Stop it first.", "busy"
        elif not self.params.valid:
            refusal, cause = "Fix the settings marked ⚠ first.", "params"
        if refusal is not None:
            self.prompt.value = text  # nothing is lost
            self._set_status(refusal, "error", cause=cause)
            return
        editing, self._editing = self._editing, None
        work = self.edit(editing, text) if editing is not None else self.send(text)
        schedule(self._quietly(work), on_error=self._internal_error, name="qolaba-chat")

    async def _quietly(self, work: Awaitable[object]) -> None:
        with contextlib.suppress(QolabaError):  # already shown as a card or next to a control
            await work

    def _action(self, action: str, view_id: str, event: Mapping[str, Any]) -> None:
        """A button of a message in the transcript."""
        index = self._index_of_view(view_id)
        if index is None:
            return  # a message of a branch no longer shown
        if action == "copy":
            text = self.copy(index)
            self.transcript.send({"op": "copy", "token": str(event.get("token", "")), "text": text})
            return
        if self._busy and action != "copy":
            self._set_status("A reply is still streaming: Stop it first.", "error", cause="busy")
            return
        if action == "regenerate":
            schedule(self._quietly(self.regenerate()), on_error=self._internal_error)
        elif action == "edit":
            self._start_edit(index)
        elif action == "delete":
            self.delete(index)
        elif action in ("prev", "next"):
            self.browse(index, -1 if action == "prev" else 1)

    def _start_edit(self, index: int) -> None:
        self._editing = index
        self.prompt.value = self.copy(index)
        self.prompt.focus()
        self._set_status("Editing a message: Enter resends from there, Esc cancels.", "info")

    def _escape(self) -> None:
        if self._editing is not None:
            self._editing = None
            self.prompt.value = ""
            self._set_status("")
        else:
            self.stop()

    def _recall(self) -> None:
        """Up in an empty box: edit the last user message."""
        if self._busy:
            return
        users = [i for i, m in enumerate(self.messages) if m["role"] == "user"]
        if users:
            self._start_edit(users[-1])

    def _note(self, title: str, detail: str = "", *, role: str = "error") -> None:
        card = self.transcript.add_card(title, detail, role=role)  # type: ignore[arg-type]
        self._tail().notes.append(card)

    def _show_api_error(self, err: QolabaError) -> None:
        title, detail = describe_error(err)
        self._note(title, detail)
        self.meter.refresh()
        if isinstance(err, RateLimitError) and err.retry_after:
            self.countdown.start(err.retry_after)

    def _internal_error(self, exc: BaseException) -> None:
        """A bug or an unexpected failure in a background task: shown, never swallowed."""
        title, detail = describe_error(exc)
        self._note(title, detail)
        self._set_status(f"{title}: {detail}", "error")

    def _set_status(self, text: str, kind: str = "info", *, cause: str = "") -> None:
        """Show ``text``; ``cause`` names the problem whose fix clears it (``_resolved``)."""
        self.status.value = status_html(text, kind=kind)
        self._status_cause = cause if text else ""

    def _resolved(self, cause: str) -> None:
        """The problem ``cause`` is fixed: its status line goes (another one stays)."""
        if self._status_cause == cause:
            self._set_status("")

    def _update_controls(self) -> None:
        self.send_button.disabled = self._busy or not self.params.valid
        self.stop_button.disabled = not self._busy
        self.clear_button.disabled = False
        self.prompt.disabled = False  # typing the next message while one streams is fine
        if self.params.valid:
            self._resolved("params")
        if not self._busy:
            self._resolved("busy")

    def _update_header(self) -> None:
        # Only the text: it changes after every reply, its style stays in the CSS.
        replies = f"{self.replies} {'reply' if self.replies == 1 else 'replies'}"
        self.header.value = escape_html(
            f"session: {format_total(self.total_credit, self.total_estimated)}"
            f" · {format_money(self.total_cost)} · {replies}"
        )
        self.meter.refresh()


class _ThoughtClock:
    """How long a reply reasoned: from its first reasoning delta to its first text."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._end: float | None = None

    def thinking(self) -> None:
        if self._start is None:
            self._start = time.monotonic()

    def answering(self) -> None:
        if self._start is not None and self._end is None:
            self._end = time.monotonic()

    def seconds(self) -> float | None:
        if self._start is None:
            return None
        return (self._end or time.monotonic()) - self._start


def _saved(entry: _Entry) -> dict[str, Any]:
    """An entry as ``to_dict`` writes it: its API fields, usage, reasoning, attachments."""
    item = dict(entry.message)
    item["content"] = _capped_images(item.get("content"))
    if entry.attachments:
        item["attachments"] = list(entry.attachments)
    if entry.reply is not None:
        item["usage"] = entry.reply.as_dict()
    if entry.reasoning:
        item["reasoning"] = entry.reasoning
    return item


def _estimate(stream: AsyncChatStream | None) -> float | None:
    """The credit the client recorded for ``stream``'s call when the server reported none
    (a stopped or cut reply: ``credit_source`` "estimated"); else None."""
    record = stream.call_record if stream is not None else None
    if record is None or record.credit_source != "estimated":
        return None
    return record.credit


def _capped_images(content: Any) -> Any:
    """``content`` with each image over ``SAVE_IMAGE_CAP`` replaced by a note saying so."""
    if not isinstance(content, list):
        return content
    out = []
    for part in content:
        url = ""
        if isinstance(part, Mapping) and part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url") or "")
        if url.startswith("data:") and len(url) * 3 // 4 > SAVE_IMAGE_CAP:
            size = len(url) * 3 // 4 / 1024 / 1024
            cap = SAVE_IMAGE_CAP / 1024 / 1024
            out.append({"type": "text", "text": f"[image left out: {size:.1f} MiB > {cap:g} MiB]"})
        else:
            out.append(part)
    return out


def _reply_line(info: ReplyInfo, *, model: bool = True) -> str:
    """The line under a reply: model, credits, cost, latency, TTFT, length and speed (the
    transcript leaves out the model: the reply's label names it)."""
    nothing_known = info.status == "ok" and info.credit is None and info.cost is None
    usage = usage_line(
        info.credit,
        info.cost,
        reported=not nothing_known,
        latency_s=info.latency_s,
        ttft_s=info.ttft_s,
        estimated=info.credit_estimated,
    )
    parts = [info.model] if model else []
    parts += [usage] if usage else []
    if info.chars is not None:
        parts.append(f"{info.chars:,} chars")
    if info.chars_per_s is not None:
        parts.append(f"{info.chars_per_s:,.0f} chars/s")
    if info.status != "ok":
        parts.append(info.status)
    return " · ".join(parts)
