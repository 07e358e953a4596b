"""``ChatPanel``: chat with one model from a notebook, replies streaming in, Stop that stops.

    from qolaba_nb.widgets import ChatPanel
    panel = ChatPanel(model="openai/gpt-4o", system="Be brief.", temperature=0.3)
    panel                          # shows it; type, press Enter
    reply = await panel.send("Name three rivers.")   # or from code

Everything runs on the kernel's event loop (see ``_schedule``): while a reply streams, the
kernel is free, and Stop cancels the task reading the stream, which closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as w

from .._client import AsyncClient, Client
from .._exceptions import QolabaError, RateLimitError, ValidationError
from .._models import ChatCompletion, content_text
from .._render import usage_line
from ._common import (
    DEFAULT_MODEL,
    Countdown,
    as_async_client,
    describe_error,
    status_html,
)
from ._controls import PARAM_NAMES, ParamControls, PromptInput, image_parts
from ._meter import BudgetMeter
from ._schedule import has_running_loop, home, schedule
from ._tools import ToolBox
from ._transcript import LiveReply, Transcript

__all__ = ["ChatPanel"]


@dataclass(slots=True)
class ReplyInfo:
    """What one assistant reply cost and how it ended (for the meta line and the exports)."""

    model: str
    status: str  # "ok", "stopped" or "error"
    credit: float | None = None
    cost: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    finish_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": self.status,
            "credit": self.credit,
            "cost": self.cost,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "finish_reason": self.finish_reason,
        }


@dataclass(slots=True)
class _Entry:
    """One message of the conversation, and for assistant messages what the reply cost."""

    message: dict[str, Any]
    reply: ReplyInfo | None = None
    attachments: list[str] = field(default_factory=list)


def _meta(info: ReplyInfo, completion: ChatCompletion) -> str:
    line = usage_line(completion.usage, latency_s=completion.latency_s, ttft_s=completion.ttft_s)
    return f"{info.model} · {line}"


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


class ChatPanel(w.VBox):  # type: ignore[misc]
    """A chat with one model: pick a model, set the parameters, type; replies stream in.

    Parameters
    ----------
    client
        A ``Client`` or ``AsyncClient`` (a sync client is twinned into an async one); None
        builds an ``AsyncClient`` from ``QOLABA_API_KEY`` / ``QOLABA_BASE_URL``.
    model
        The model to start with; the picker offers every model of ``list_models()``.
    system
        The system prompt.
    tools
        Python functions (their schema is built from the signature and docstring; they run
        when the model calls them and the model gets the result) or tool schemas (shown when
        called, not run).
    max_tool_rounds
        How many times in a row tool results are sent back before the panel stops.
    tag
        The ledger tag of the calls (default: the client's).
    **params
        ``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``frequency_penalty``,
        ``presence_penalty`` fill the controls; anything else (``tool_choice``, ...) is sent
        with every call as it is.
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
        **params: Any,
    ) -> None:
        self.client = as_async_client(client)
        self.tag = tag
        self.max_tool_rounds = max_tool_rounds
        self.tools = ToolBox(tools)
        self._extra = {k: v for k, v in params.items() if k not in PARAM_NAMES}
        self._history: list[_Entry] = []
        self._attachments: list[dict[str, Any]] = []
        self.total_credit = 0.0
        self.total_cost = 0.0
        self.replies = 0
        self._inner: asyncio.Task[tuple[ChatCompletion, ReplyInfo]] | None = None
        self._generation = 0  # +1 on clear(): a reply stopped by Clear is not kept
        self._stop_requested = False
        self._busy = False
        self.models_loaded = False

        start = model or DEFAULT_MODEL
        self.header = w.HTML()
        self.meter = BudgetMeter(self.client, tag=tag)  # what is left of the budget
        self.model_picker = w.Dropdown(
            options=[start], value=start, description="model", layout=w.Layout(width="360px")
        )
        self.model_note = w.HTML()
        self.system_box = w.Textarea(
            value=system or "",
            placeholder="System prompt (optional)",
            layout=w.Layout(width="100%", height="48px"),
        )
        self.params = ParamControls(params, on_change=self._update_controls)
        self.transcript = Transcript()
        self.prompt = PromptInput(placeholder="Message: Enter sends, Shift+Enter adds a line")
        self.upload = w.FileUpload(accept="image/*", multiple=True, description="Image")
        self.upload_error = w.HTML()
        self.send_button = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop")
        self.clear_button = w.Button(description="Clear", icon="trash")
        self.status = w.HTML()
        self.countdown = Countdown(lambda text: self._set_status(text, "warn"))

        self.prompt.on_submit(self._submit)
        # Widget callbacks may run on a kernel subshell's thread: home() moves them to ours.
        self.send_button.on_click(
            home(lambda _b: self._submit(self.prompt.value, from_button=True))
        )
        self.stop_button.on_click(home(lambda _b: self.stop()))
        self.clear_button.on_click(home(lambda _b: self.clear()))
        self.upload.observe(home(lambda _c: self._check_uploads()), names="value")

        fields = list(self.params.fields.values())
        settings = w.HBox(
            [w.VBox([f.box for f in fields[:3]]), w.VBox([f.box for f in fields[3:]])]
        )
        super().__init__(
            [
                w.HBox([self.header, self.meter], layout=w.Layout(align_items="center")),
                w.HBox([self.model_picker, self.model_note]),
                self.system_box,
                settings,
                self.transcript,
                self.prompt,
                w.HBox(
                    [
                        self.send_button,
                        self.stop_button,
                        self.clear_button,
                        self.upload,
                        self.upload_error,
                    ]
                ),
                self.status,
            ],
            layout=w.Layout(width="100%"),
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

    # ------------------------------------------------------------------ public API

    @property
    def model(self) -> str:
        return str(self.model_picker.value or "")

    @model.setter
    def model(self, value: str) -> None:
        if value not in self.model_picker.options:
            self.model_picker.options = [*self.model_picker.options, value]
        self.model_picker.value = value

    @property
    def system(self) -> str:
        return str(self.system_box.value)

    @property
    def busy(self) -> bool:
        """True while a reply is streaming (or tools are running)."""
        return self._busy

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation as OpenAI-style message dicts (system prompt first, if any)."""
        out = [{"role": "system", "content": self.system}] if self.system.strip() else []
        return out + [dict(e.message) for e in self._history]

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

    def attach_image(self, data: bytes, name: str = "image", mime: str | None = None) -> None:
        """Attach an image to the next message (as the Image button does)."""
        mime = mime or mimetypes.guess_type(name)[0] or _guess_image(data)
        self._attachments.append({"name": name, "type": mime, "content": data})

    async def send(self, text: str, *, images: Sequence[str | Path | bytes] = ()) -> ChatCompletion:
        """Send ``text`` (and any attached images) and return the reply once it is complete.

        A stopped reply returns what arrived (``finish_reason`` None). API errors show as a
        card in the transcript and are raised; the conversation stays usable.
        """
        if self._busy:
            raise RuntimeError("a reply is still streaming: stop() it first")
        invalid = self.params.first_error()
        if invalid is not None:
            self._set_status(f"Fix {invalid.param} first: {invalid.message}", "error")
            raise invalid
        if not self.model:
            raise ValidationError("choose a model first", param="model")
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
            parts = self._take_attachments()
            content: str | list[dict[str, Any]] = text
            if parts:
                content = [{"type": "text", "text": text}, *(p for _, p in parts)]
            names = [n for n, _ in parts]
            self._history.append(_Entry({"role": "user", "content": content}, attachments=names))
            shown = text + "".join(f"\n📎 {n}" for n in names)
            self.transcript.add_plain("user", shown, label="You")
            return await self._reply()
        finally:
            self._busy = False
            self._update_controls()

    def stop(self) -> None:
        """Stop the streaming reply now: the connection closes, the partial text stays."""
        if self._inner is not None and not self._inner.done():
            self._stop_requested = True
            self._inner.cancel()

    def clear(self) -> None:
        """Forget the conversation (spending totals stay: the money is spent)."""
        self.stop()
        self._generation += 1
        self._history.clear()
        self._attachments.clear()
        self.transcript.clear()
        self._set_status("")

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
                    lines += ["", f"*{_export_usage(info)}*"]
            elif role == "tool":
                lines += ["## Tool result", "", "```", str(msg.get("content")), "```"]
            lines.append("")
        lines.append(
            f"*Session: {self.total_credit:g} credits · ${self.total_cost:.6f} · "
            f"{self.replies} replies*"
        )
        return "\n".join(lines) + "\n"

    def to_json(self, **dumps_kwargs: Any) -> str:
        """The conversation as JSON: the messages, each reply with its usage, and the totals."""
        messages = [{"role": "system", "content": self.system}] if self.system.strip() else []
        for entry in self._history:
            item = dict(entry.message)
            if entry.reply is not None:
                item["usage"] = entry.reply.as_dict()
            messages.append(item)
        data = {
            "model": self.model,
            "params": self.params.values() | self._extra,
            "messages": messages,
            "total": {"credit": self.total_credit, "cost": self.total_cost},
        }
        dumps_kwargs.setdefault("indent", 2)
        dumps_kwargs.setdefault("ensure_ascii", False)
        return json.dumps(data, default=str, **dumps_kwargs)

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
                self.transcript.add_card(
                    "Tool rounds exhausted",
                    f"Stopped after {rounds} rounds of tool calls (max_tool_rounds).",
                    role="note",
                )
                return completion
            rounds += 1
            for call in calls:
                result = await self.tools.run(call)
                self._history.append(
                    _Entry({"role": "tool", "tool_call_id": call.get("id", ""), "content": result})
                )
                name = (call.get("function") or {}).get("name", "")
                self.transcript.add_markdown(
                    "tool", f"```\n{result}\n```", label=f"tool result · {name}"
                )

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
        try:
            stream = await self.client.stream(self.messages, model=model, tag=self.tag, **params)
            noted = False
            async for chunk in stream:
                if chunk.delta:
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
            return self._record(live, model, completion, "stopped", generation)
        except QolabaError as err:
            partial = getattr(err, "partial_text", None) or ""
            if partial:
                cut = ChatCompletion(None, model, partial, {}, None, [], None)
                self._record(live, model, cut, "error", generation)
            else:
                live.drop()
            self._show_api_error(err)
            raise
        return self._record(live, model, completion, "ok", generation)

    def _record(
        self,
        live: LiveReply,
        model: str,
        completion: ChatCompletion,
        status: str,
        generation: int,
    ) -> tuple[ChatCompletion, ReplyInfo]:
        """Keep the reply in the conversation and the transcript, add up what it cost."""
        info = ReplyInfo(
            model=completion.model or model,
            status=status,
            credit=completion.credit,
            cost=completion.cost,
            latency_s=completion.latency_s,
            ttft_s=completion.ttft_s,
            finish_reason=completion.finish_reason,
        )
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
        self._history.append(_Entry(message, reply=info))
        if status == "ok":
            meta = _meta(info, completion)
        else:
            took = f" after {info.latency_s:.2f} s" if info.latency_s is not None else ""
            meta = f"{info.model} · {status}{took}"
        live.finish(
            meta=meta, status=status, text=completion.text or ("…" if status != "ok" else "")
        )
        for call in completion.tool_calls if status == "ok" else []:
            fn = call.get("function") or {}
            args = str(fn.get("arguments") or "")
            with contextlib.suppress(ValueError):  # not JSON: shown as it came
                args = json.dumps(json.loads(args), indent=2, ensure_ascii=False)
            self.transcript.add_markdown(
                "tool", f"```json\n{args}\n```", label=f"tool call · {fn.get('name', '?')}"
            )
        return completion, info

    # ------------------------------------------------------------------ UI plumbing

    def _submit(self, text: str, *, from_button: bool = False) -> None:
        """Enter or Send: start a reply in the background, or say why not."""
        if from_button:
            self.prompt.value = ""
        if not text.strip() and not self._attachments and not self.upload.value:
            return
        refusal = None
        if self._busy:
            refusal = "A reply is still streaming: Stop it first."
        elif not self.params.valid:
            refusal = "Fix the settings marked ⚠ first."
        elif self.upload_error.value:
            refusal = "Remove the attachment that is not an image first."
        if refusal is not None:
            self.prompt.value = text  # nothing is lost
            self._set_status(refusal, "error")
            return
        schedule(self._send_quietly(text), on_error=self._internal_error, name="qolaba-chat")

    async def _send_quietly(self, text: str) -> None:
        with contextlib.suppress(QolabaError):  # already shown as a card or next to a control
            await self.send(text)

    def _take_attachments(self) -> list[tuple[str, dict[str, Any]]]:
        items = [*self.upload.value, *self._attachments]
        parts = image_parts(items)  # raises ValidationError for a non-image
        self._attachments.clear()
        if self.upload.value:
            self.upload.value = ()
        return parts

    def _check_uploads(self) -> None:
        try:
            image_parts(self.upload.value)
        except ValidationError as err:
            self.upload_error.value = status_html(err.message, kind="error")
        else:
            self.upload_error.value = ""
        self._update_controls()

    def _show_api_error(self, err: QolabaError) -> None:
        title, detail = describe_error(err)
        self.transcript.add_card(title, detail)
        self.meter.refresh()
        if isinstance(err, RateLimitError) and err.retry_after:
            self.countdown.start(err.retry_after)

    def _internal_error(self, exc: BaseException) -> None:
        """A bug or an unexpected failure in a background task: shown, never swallowed."""
        title, detail = describe_error(exc)
        self.transcript.add_card(title, detail)
        self._set_status(f"{title}: {detail}", "error")

    def _set_status(self, text: str, kind: str = "info") -> None:
        self.status.value = status_html(text, kind=kind)

    def _update_controls(self) -> None:
        self.send_button.disabled = self._busy or not self.params.valid
        self.stop_button.disabled = not self._busy
        self.clear_button.disabled = False
        self.prompt.disabled = False  # typing the next message while one streams is fine

    def _update_header(self) -> None:
        self.header.value = (
            '<div style="font-weight:600">Qolaba chat'
            f'<span style="font-weight:400;color:#666;margin-left:12px">'
            f"session: {self.total_credit:g} credits · ${self.total_cost:.6f} · "
            f"{self.replies} {'reply' if self.replies == 1 else 'replies'}</span></div>"
        )
        self.meter.refresh()


def _export_usage(info: ReplyInfo) -> str:
    parts = [info.model]
    if info.credit is not None:
        parts.append(f"{info.credit:g} credits")
    if info.cost is not None:
        parts.append(f"${info.cost:.6f}")
    if info.latency_s is not None:
        parts.append(f"{info.latency_s:.2f} s")
    if info.ttft_s is not None:
        parts.append(f"first token {info.ttft_s:.2f} s")
    if info.status != "ok":
        parts.append(info.status)
    return " · ".join(parts)
