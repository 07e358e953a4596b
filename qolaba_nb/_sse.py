"""A Server-Sent Events decoder that follows the WHATWG event-stream rules to the letter.

It is a pure state machine: ``feed(bytes)`` returns the events those bytes complete, whatever
way the stream was cut into reads. The edge cases it exists for:

- lines end in CR, LF or CRLF, and a CRLF may be split across two reads;
- U+2028, U+2029 and U+0085 are NOT line breaks (``str.splitlines`` would break on them);
- a multi-byte UTF-8 character may be split across reads (an incremental decoder keeps it);
- one BOM at the very start of the stream is dropped, and only that one;
- ``:comment`` lines are ignored, also in the middle of an event;
- ``data:`` with or without the space; several data lines are joined with ``\\n``;
- a block without any data line (``retry:``, ``event: ping``, ``id:`` keep-alives) is never
  dispatched;
- beyond the spec: an ``error:`` field line (older llama.cpp sends its errors so) is dispatched
  at once as an ``event: error`` event with that value as data, so its message is not lost;
- an unterminated last event (no blank line before the end) is discarded;
- a line may arrive in thousands of reads: its parts are kept in a list and joined once, when
  it ends, so decoding stays linear in the line's length (re-copying the unfinished line on
  every read made one 32 MB line cost seconds);
- one event (its data lines and its unfinished line) is bounded by ``max_event_bytes``: past
  that, ``EventTooLargeError``, so a line that never ends cannot grow memory without bound.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from ._exceptions import EventTooLargeError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

#: The default bound on one event: far above any chat delta or whole reply sent as one event,
#: far below what would hurt a notebook's kernel.
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


@dataclass(slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Bytes in, complete events out.

    Parameters
    ----------
    max_event_bytes
        The bound on one event, counted in decoded characters (the byte count for ASCII
        text): its data lines plus its unfinished line. ``feed`` raises
        ``EventTooLargeError`` past it. Default ``DEFAULT_MAX_EVENT_BYTES`` (16 MiB).
    """

    __slots__ = (
        "_bom_checked",
        "_data",
        "_data_size",
        "_errors",
        "_event",
        "_last_id",
        "_max",
        "_pending",
        "_pending_size",
        "_retry",
        "_skip_lf",
        "_utf8",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []  # the parts of a line whose end has not arrived yet
        self._pending_size = 0
        self._data_size = 0  # characters in ``_data``
        self._skip_lf = False  # the last read ended in CR: a LF first in the next one ends no line
        self._bom_checked = False
        self._data: list[str] = []
        self._event = ""
        self._errors: list[ServerSentEvent] = []  # from ``error:`` field lines
        self._last_id: str | None = None  # persists across events, as the spec says
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._utf8.decode(chunk)
        if not text:
            return []
        if not self._bom_checked:
            self._bom_checked = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        has_cr = "\r" in text
        if not has_cr and "\n" not in text:  # the middle of a long line: keep it, copy nothing
            if text:
                self._pending.append(text)
                self._pending_size += len(text)
                if self._pending_size + self._data_size > self._max:
                    raise EventTooLargeError(self._max)
            return []
        # The fast path: servers almost always send LF only.
        lines = _LINE_BREAK.split(text) if has_cr else text.split("\n")
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = "".join(self._pending)
            self._pending = []
        rest = lines.pop()
        self._pending_size = len(rest)
        if rest:
            self._pending.append(rest)
        elif text.endswith("\r"):
            self._skip_lf = True
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if not line:  # a blank line ends the event (one without data is dropped)
                if data:
                    event = self._event or "message"
                    joined = data[0] if len(data) == 1 else "\n".join(data)
                    events.append(ServerSentEvent(joined, event, self._last_id, self._retry))
                    data = self._data = []
                    self._data_size = 0
                self._event = ""
            elif line.startswith("data:"):  # the hot path, kept inline
                data.append(line[6:] if line.startswith("data: ") else line[5:])
                self._data_size += len(line)
            else:
                self._process_line(line)
                if self._errors:
                    events.extend(self._errors)
                    self._errors.clear()
        if self._data_size + self._pending_size > self._max:
            raise EventTooLargeError(self._max)
        return events

    def _process_line(self, line: str) -> None:
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
            self._data_size += len(value)
            return
        if line[0] == ":":
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":  # "data" with no colon at all: an empty data line
            self._data.append(value)
            self._data_size += len(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        elif name == "error":
            self._errors.append(ServerSentEvent(value, "error", self._last_id, self._retry))
        # any other field is ignored
