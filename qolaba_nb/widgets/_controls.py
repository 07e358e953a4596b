"""Controls the panels share: the prompt box, the sampling parameters, image attachments."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import anywidget
import ipywidgets as w
import traitlets

from .._exceptions import ValidationError
from .._models import build_chat_body
from .._render import escape_html
from ._schedule import home
from ._transcript import static_text

__all__ = ["ParamControls", "PromptInput", "image_part", "image_parts", "prepare_image"]


class PromptInput(anywidget.AnyWidget):
    """A multi-line text box: Enter sends, Shift+Enter adds a line, no key reaches the notebook.

    ``on_submit(callback)`` registers ``callback(text)`` with the text the box showed when
    Enter was pressed (the front end empties the box and sends that text with the event).
    ``on_event(name, callback)`` listens to the box's other events: ``"escape"`` (Esc),
    ``"recall"`` (Up in an empty box), ``"files"`` (images pasted or dropped: the callback
    gets ``[(name, mime, bytes)]``) and ``"remove"`` (the x of an attachment: its id).
    ``attachments`` lists what the tray above the box shows: ``{id, name, thumb, note}``.
    """

    _esm = static_text("prompt_input.js")
    _css = static_text("prompt_input.css")

    value = traitlets.Unicode("").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("Message").tag(sync=True)  # the box's accessible name
    disabled = traitlets.Bool(False).tag(sync=True)
    rows = traitlets.Int(3).tag(sync=True)
    attachments = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callbacks: list[Callable[[str], None]] = []
        self._listeners: dict[str, list[Callable[[Any], None]]] = {}
        self.on_msg(home(self._on_custom))  # may arrive on a subshell thread

    def __repr__(self) -> str:
        return f"<PromptInput chars={len(self.value)}>"

    def on_submit(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def on_event(self, name: str, callback: Callable[[Any], None]) -> None:
        self._listeners.setdefault(name, []).append(callback)

    def submit(self, text: str | None = None) -> None:
        """What pressing Enter does (also for tests): empty the box, call the callbacks."""
        text = self.value if text is None else text
        self.value = ""
        for callback in self._callbacks:
            callback(text)

    def focus(self) -> None:
        """Put the cursor in the box (at the end of its text)."""
        self.send({"op": "focus"})

    def emit(self, name: str, payload: Any = None) -> None:
        """What the box does on ``name`` (also for tests): call that event's listeners."""
        for callback in self._listeners.get(name, ()):
            callback(payload)

    def _on_custom(self, _widget: Any, content: Mapping[str, Any], buffers: Any) -> None:
        if not isinstance(content, Mapping):
            return
        event = content.get("event")
        if event == "submit":
            value = content.get("value")
            self.submit(value if isinstance(value, str) else None)
        elif event in ("escape", "recall"):
            self.emit(event)
        elif event == "remove":
            self.emit("remove", str(content.get("id", "")))
        elif event == "files":
            meta = content.get("files") or []
            files = [
                (str(m.get("name") or "pasted image"), str(m.get("type") or ""), bytes(b))
                for m, b in zip(meta, buffers or (), strict=False)
                if isinstance(m, Mapping)
            ]
            self.emit("files", files)


# --------------------------------------------------------------------------- parameters

# (name, label, kind, hint): the sampling parameters of the API reference, in its order.
_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("temperature", "temperature", "float", "0–2"),
    ("top_p", "top_p", "float", "0–1"),
    ("max_tokens", "max_tokens", "int", "positive"),
    ("frequency_penalty", "freq. penalty", "float", "-2–2"),
    ("presence_penalty", "pres. penalty", "float", "-2–2"),
    ("stop", "stop", "stop", "up to 4, comma-separated"),
)
PARAM_NAMES = tuple(f[0] for f in _FIELDS)


def _parse(kind: str, raw: str) -> object:
    """The text of a control as the value to validate; "" means "not set" (None).

    Text that does not parse is passed on as it is, so that ``build_chat_body`` words the
    error exactly as the client would ("temperature must be a number, got 'abc'").
    """
    raw = raw.strip()
    if not raw:
        return None
    if kind == "stop":
        # Written "\n" in the box (a text box has no real line breaks): the stop sequence
        # "\n\n" (end of paragraph) is a common one.
        parts = [s.strip() for s in raw.replace("\n", ",").split(",")]
        return [p.replace("\\n", "\n") for p in parts if p]
    try:
        number = float(raw)
    except ValueError:
        return raw
    if kind == "int":
        return int(number) if number.is_integer() and "." not in raw else number
    return number


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v).replace("\n", "\\n") for v in value)
    return str(value).replace("\n", "\\n")


class _Field:
    """One parameter: a text box and, next to it, its validation error."""

    def __init__(self, name: str, label: str, kind: str, hint: str, value: object) -> None:
        self.name = name
        self.kind = kind
        self.text = w.Text(
            value=_shown(value),
            placeholder=hint,
            description=label,
            continuous_update=True,
            layout=w.Layout(width="230px"),
            style={"description_width": "95px"},
        )
        # The message wraps under its field when the row is narrow (it used to squeeze into
        # one letter per line beside it).
        self.error = w.HTML(layout=w.Layout(margin="0 0 0 6px", flex="1 1 160px", min_width="0"))
        self.error.add_class("qnb-param-error")
        self.box = w.HBox([self.text, self.error], layout=w.Layout(flex_flow="row wrap"))

    @property
    def value(self) -> object:
        return _parse(self.kind, self.text.value)

    def check(self) -> str | None:
        """The client's validation message for this value, or None when it is fine."""
        try:
            build_chat_body("x", model="m", stream=True, params={self.name: self.value})
        except ValidationError as err:
            return err.message
        return None

    def show(self, message: str | None) -> None:
        colour = "var(--jp-error-color1, #c62828)"
        self.error.value = (
            ""
            if message is None
            else f'<span style="color:{colour}">⚠ {escape_html(message)}</span>'
        )


class ParamControls:
    """Text boxes for temperature, top_p, max_tokens, penalties and stop, validated live.

    Validation is ``build_chat_body``'s, so a control rejects exactly what the client would;
    the error shows next to the control and ``valid`` turns False.
    """

    def __init__(self, values: Mapping[str, object], on_change: Callable[[], None]) -> None:
        self.fields = {
            name: _Field(name, label, kind, hint, values.get(name))
            for name, label, kind, hint in _FIELDS
        }
        self._on_change = on_change
        self.errors: dict[str, str] = {}
        for field in self.fields.values():
            field.text.observe(home(self._changed), names="value")
        self.validate()
        self.widget = w.VBox([f.box for f in self.fields.values()])

    def _changed(self, _change: Mapping[str, Any]) -> None:
        self.validate()
        self._on_change()

    def validate(self) -> bool:
        self.errors = {}
        for name, field in self.fields.items():
            message = field.check()
            field.show(message)
            if message is not None:
                self.errors[name] = message
        return not self.errors

    @property
    def valid(self) -> bool:
        return not self.errors

    def values(self) -> dict[str, Any]:
        """The parameters that are set, ready for ``client.stream(**params)``."""
        return {n: f.value for n, f in self.fields.items() if f.value is not None}

    def first_error(self) -> ValidationError | None:
        for name, message in self.errors.items():
            return ValidationError(message, param=name)
        return None


# --------------------------------------------------------------------------- attachments

#: An image larger than this (bytes) or wider/taller than ``MAX_IMAGE_SIDE`` pixels is scaled
#: down before it is sent, and the user is told.
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_IMAGE_SIDE = 2048
THUMB_SIDE = 96


def is_image(mime: str) -> bool:
    return mime.startswith("image/")


def prepare_image(data: bytes, mime: str) -> tuple[bytes, str, str]:
    """``(data, mime, note)``: the image as sent. One over ``MAX_IMAGE_BYTES`` or
    ``MAX_IMAGE_SIDE`` is scaled down (PNG stays PNG, the rest becomes JPEG) and ``note``
    says so ("scaled from 4000×3000 to 2048×1536"); otherwise ``note`` is ""."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return data, mime, ""
    import io

    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            if len(data) <= MAX_IMAGE_BYTES and max(size) <= MAX_IMAGE_SIDE:
                return data, mime, ""
            img.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            out = io.BytesIO()
            if mime == "image/png" or img.mode in ("RGBA", "LA", "P"):
                img.save(out, "PNG", optimize=True)
                new_mime = "image/png"
            else:
                img.convert("RGB").save(out, "JPEG", quality=85)
                new_mime = "image/jpeg"
            note = f"scaled from {size[0]}×{size[1]} to {img.size[0]}×{img.size[1]}"
            return out.getvalue(), new_mime, note
    except Exception:  # not decodable: sent as it is, the server will say what it thinks
        return data, mime, ""


def thumbnail(data: bytes) -> str:
    """A small PNG ``data:`` URL of the user's own image for the attachment tray, or ""."""
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img.thumbnail((THUMB_SIDE, THUMB_SIDE))
            out = io.BytesIO()
            img.convert("RGBA").save(out, "PNG")
    except Exception:
        return ""
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def image_part(mime: str, data: bytes) -> dict[str, Any]:
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return {"type": "image_url", "image_url": {"url": url}}


def image_parts(uploads: Any) -> list[tuple[str, dict[str, Any]]]:
    """``FileUpload.value`` items as ``(name, image_url part)``, each a ``data:`` URL.

    Raises ``ValidationError`` for a file that is not an image.
    """
    parts = []
    for item in uploads or ():
        name = str(item.get("name", "image"))
        mime = str(item.get("type") or "")
        if not is_image(mime):
            raise ValidationError(
                f"{name} is not an image ({mime or 'unknown type'})", param="attachments"
            )
        parts.append((name, image_part(mime, bytes(item["content"]))))
    return parts
