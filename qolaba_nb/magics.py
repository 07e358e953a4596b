"""IPython magics: ``%load_ext qolaba_nb``, then ``%%chat`` and ``%qolaba``.

::

    %%chat -m google/gemini-2.5-flash -t 0.2
    Summarise {topic} in three bullet points.

The cell's text is sent (``{name}`` is filled from the notebook's variables; ``{{`` and ``}}``
stay literal braces), the reply streams into the cell's output, rendered by the one safe
Markdown renderer (raw HTML escaped, no images fetched, safe links only) into HTML, the
completion is stored in ``_chat``, and the next ``%%chat`` continues the conversation until
``--new``. ``%qolaba usage`` shows this session's spending.
``--client NAME`` sends through the notebook's ``Client`` called NAME (its budget, ledger and
tag); when a budget covers the calls, each reply ends with what is left of it.
"""

from __future__ import annotations

import re
import time
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import HTML, display

from ._budget import budget_status
from ._client import Client
from ._connect import connect
from ._exceptions import QolabaError
from ._render import completion_html, escape_html, reply_html

_NAME = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UPDATES_PER_S = 10


def fill(template: str, namespace: dict[str, Any]) -> str:
    """``{name}`` from the namespace; unknown names and other braces are left as they are."""

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        return str(namespace[name]) if name in namespace else token

    return _NAME.sub(sub, template)


def _notice(text: str, where: str = "") -> str:
    """A line of our own words (escaped), in the place the reply will take."""
    label = f"<strong>%%chat {escape_html(where)}:</strong> " if where else ""
    return f'<div class="qnb-reply"><em>{label}{escape_html(text)}</em></div>'


@magics_class
class QolabaMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.history: list[dict[str, Any]] = []
        self.model: str | None = None
        self._client: Client | None = None

    @property
    def user_ns(self) -> dict[str, Any]:
        assert self.shell is not None, "the magics run inside IPython"
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = connect()
        return self._client

    @magic_arguments()
    @argument("-m", "--model", help="model id; defaults to the last one used")
    @argument("-t", "--temperature", type=float, help="sampling temperature, 0 to 2")
    @argument("--max-tokens", type=int, help="maximum tokens in the reply")
    @argument("--system", help="a system prompt for this turn")
    @argument("--no-stream", action="store_true", help="wait for the whole reply")
    @argument("--new", action="store_true", help="start a new conversation")
    @argument("-c", "--client", help="the name of a Client in the notebook to send through")
    @cell_magic
    def chat(self, line: str, cell: str) -> None:
        """Send the cell to a model; the reply streams below as Markdown."""
        args = parse_argstring(self.chat, line)
        if args.new:
            self.history = []
        if args.client:
            chosen = self.user_ns.get(args.client)
            if not isinstance(chosen, Client):
                display(HTML(_notice(f"{args.client} is not a qolaba_nb Client", "--client")))
                return
            self._client = chosen
        model = args.model or self.model
        if not model:
            display(HTML(_notice("%%chat needs a model the first time: %%chat -m MODEL")))
            return
        self.model = model
        prompt = {"role": "user", "content": fill(cell.strip(), self.user_ns)}
        system = [{"role": "system", "content": args.system}] if args.system else []
        messages = [*system, *self.history, prompt]
        params = {"temperature": args.temperature, "max_tokens": args.max_tokens}
        params = {k: v for k, v in params.items() if v is not None}
        handle = display(HTML(_notice("waiting for the first token…")), display_id=True)
        try:
            if args.no_stream:
                reply = self.client.chat(messages, model=model, **params)
            else:
                with self.client.stream(messages, model=model, **params) as stream:
                    shown = time.monotonic()
                    for _ in stream.text_deltas():
                        if time.monotonic() - shown >= 1 / _UPDATES_PER_S:
                            handle.update(HTML(reply_html(stream.text)))
                            shown = time.monotonic()
                    reply = stream.completion()
        except QolabaError as err:
            partial = getattr(err, "partial_text", None) or ""
            error = (type(err).__name__, str(err))
            handle.update(HTML(reply_html(partial, error=error, notes=self._budget_notes())))
            return
        html = completion_html(reply.text, notes=self._budget_notes(), **reply._display_values())
        handle.update(HTML(html))
        self.history += [prompt, {"role": "assistant", "content": reply.text}]
        self.user_ns["_chat"] = reply

    def _budget_notes(self) -> list[str]:
        """ "budget: 3.2 of 5 credits left" under the reply when a budget covers the calls."""
        status = budget_status(self.client)
        return [f"budget: {status.text}"] if status else []

    @line_magic
    def qolaba(self, line: str) -> Any:
        """``%qolaba usage``: this session's calls and spending; ``%qolaba new``: forget the
        conversation."""
        command = line.strip() or "usage"
        if command == "new":
            self.history = []
            return None
        if command == "usage":
            ledger = self.client.ledger
            if ledger is None or not hasattr(ledger, "summary"):
                print("This client records no usage (ledger=False).")
                return None
            return ledger.summary(by="model", session="current")
        print("usage: %qolaba usage | %qolaba new")
        return None


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(QolabaMagics)
