"""``ComparePanel``: one prompt, 2 to 6 models side by side, all streaming at once.

    panel = ComparePanel(["openai/gpt-4o", "google/gemini-2.5-flash"], blind=True)
    panel                                   # type a prompt, press Enter; vote
    df = await panel.run("Explain recursion in one paragraph.")

The calls go through ``qolaba_nb.comparison.acompare`` (one run_id per prompt, in the ledger
too); its ``on_update`` callback feeds each column's transcript as the text arrives.
"""

from __future__ import annotations

import contextlib
import random
import string
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._client import AsyncClient, Client
from .._exceptions import QolabaError, ValidationError
from .._models import build_chat_body
from .._render import escape_html
from ._common import DEFAULT_MODEL, as_async_client, describe_error, status_html
from ._controls import PromptInput
from ._meter import BudgetMeter, estimate_text
from ._schedule import has_running_loop, home, schedule
from ._transcript import LiveReply, Transcript

if TYPE_CHECKING:
    import pandas as pd

    from ..comparison import CompareCell

__all__ = ["ComparePanel"]

MIN_MODELS = 2
MAX_MODELS = 6
_DEFAULT_MODELS = ("openai/gpt-4o-mini", DEFAULT_MODEL)
_CELL = ' style="padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"'


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    """A number for a table cell; "–" for a missing one (None or NaN)."""
    if value is None or value != value:  # NaN is the only value not equal to itself
        return "–"
    return f"{value:{spec}}{unit}"


class _Column:
    """One model's column: a title, its transcript, its numbers and a vote button."""

    def __init__(self, model: str, label: str, on_vote: Callable[[str], None]) -> None:
        self.model = model
        self.label = label
        self.title = w.HTML(self._title(revealed=False))
        self.transcript = Transcript()
        self.stats = w.HTML()
        self.vote_button = w.Button(description="Vote: better", icon="thumbs-up", disabled=True)
        self.vote_button.on_click(home(lambda _b: on_vote(self.model)))
        self.live: LiveReply | None = None
        self.box = w.VBox(
            [self.title, self.transcript, self.stats, self.vote_button],
            layout=w.Layout(flex="1 1 0", min_width="220px", margin="0 4px"),
        )
        self.box.add_class("qnb-compare-column")

    def _title(self, *, revealed: bool) -> str:
        hidden = not revealed or self.label == self.model
        name = self.label if hidden else f"{self.label} = {self.model}"
        return f'<div style="font-weight:600">{escape_html(name)}</div>'

    def relabel(self, label: str) -> None:
        """Ready for a new run under ``label``: name hidden again (blind), vote reset."""
        self.label = label
        self.title.value = self._title(revealed=False)
        self.vote_button.description = "Vote: better"
        self.vote_button.button_style = ""
        self.vote_button.disabled = True

    def reveal(self) -> None:
        self.title.value = self._title(revealed=True)

    def start(self) -> None:
        self.transcript.clear()
        self.stats.value = ""
        self.live = self.transcript.start(self.label)

    def update(self, cell: CompareCell) -> None:
        if self.live is None:
            return
        if not cell.done:
            self.live.append(cell.delta)
            return
        live, self.live = self.live, None
        if cell.status == "ok":
            live.finish(meta=f"finish: {cell.finish_reason}", status="ok", text=cell.text)
        else:
            if cell.text:
                live.finish(status="error", text=cell.text)
            else:
                live.drop()
            refused = (cell.error or "").startswith("BudgetExceededError")
            title = "Not sent: over budget" if refused else "Failed"
            self.transcript.add_card(title, cell.error or cell.status)
        self.stats.value = (
            '<div style="font-size:0.85em;color:#555;line-height:1.4">'
            f"{_fmt(cell.credit, 'g', ' credits')} · ${_fmt(cell.cost, '.6f')} · "
            f"{_fmt(cell.latency_s, '.2f', ' s')} · TTFT {_fmt(cell.ttft_s, '.2f', ' s')} · "
            f"{_fmt(cell.chars_per_s, '.0f', ' chars/s')}</div>"
        )


class ComparePanel(w.VBox):  # type: ignore[misc]
    """Send one prompt to several models at once and compare the replies as they stream.

    Parameters
    ----------
    models
        The models to start with (2 to 6); the picker offers every model of the API.
    client
        As for ``ChatPanel``: an ``AsyncClient``, a ``Client`` (twinned), or None (env).
    blind
        Hide the model names ("Model A", "Model B", ... in a shuffled order) until a vote.
    tag
        Ledger tag of the calls.
    **params
        Sampling parameters sent with every call (``temperature=0.2``, ...).
    """

    def __init__(
        self,
        models: Sequence[str] | None = None,
        client: Client | AsyncClient | None = None,
        *,
        blind: bool = False,
        tag: str | None = None,
        **params: Any,
    ) -> None:
        build_chat_body("x", model="m", stream=True, params=params)  # bad params fail here
        self.client = as_async_client(client)
        self.blind = blind
        self.tag = tag
        self.params = params
        self._runs: list[pd.DataFrame] = []
        self._columns: dict[str, _Column] = {}
        self._busy = False
        self._voted = False
        self.last_prompt: str | None = None

        start = list(models or _DEFAULT_MODELS)
        self.model_picker = w.SelectMultiple(
            options=start, value=start, rows=6, description="models", layout=w.Layout(width="380px")
        )
        self.model_note = w.HTML()
        self.prompt = PromptInput(placeholder="Prompt: Enter sends to every model at once")
        self.send_button = w.Button(
            description="Send to all", button_style="primary", icon="paper-plane"
        )
        self.prompt_shown = w.HTML()
        self.meter = BudgetMeter(self.client, tag=tag)  # what is left of the budget
        self.estimate_line = w.HTML()  # what "Send to all" will cost, from the ledger
        self.columns_box = w.HBox(layout=w.Layout(width="100%", align_items="flex-start"))
        self.summary = w.HTML()
        self.status = w.HTML()

        self.prompt.on_submit(self._submit)
        # Widget callbacks may run on a kernel subshell's thread: home() moves them to ours.
        self.send_button.on_click(
            home(lambda _b: self._submit(self.prompt.value, from_button=True))
        )
        self.model_picker.observe(home(lambda _c: self._models_changed()), names="value")
        super().__init__(
            [
                w.HBox(
                    [w.HTML('<div style="font-weight:600">Qolaba compare</div>'), self.meter],
                    layout=w.Layout(align_items="center", grid_gap="12px"),
                ),
                w.HBox([self.model_picker, self.model_note]),
                self.prompt,
                w.HBox([self.send_button, self.estimate_line]),
                self.prompt_shown,
                self.columns_box,
                self.summary,
                self.status,
            ],
            layout=w.Layout(width="100%"),
        )
        self.add_class("qnb-compare-panel")
        self._models_changed()
        if has_running_loop():
            schedule(self.load_models(), on_error=self._internal_error, name="qolaba-models")

    def __repr__(self) -> str:
        return f"<ComparePanel models={len(self.models)} runs={len(self._runs)} blind={self.blind}>"

    # ------------------------------------------------------------------ public API

    @property
    def models(self) -> list[str]:
        return list(self.model_picker.value)

    @models.setter
    def models(self, value: Sequence[str]) -> None:
        missing = [m for m in value if m not in self.model_picker.options]
        if missing:
            self.model_picker.options = [*self.model_picker.options, *missing]
        self.model_picker.value = tuple(value)

    @property
    def columns(self) -> list[_Column]:
        return [self._columns[m] for m in self._order]

    @property
    def results(self) -> pd.DataFrame:
        """Every run of this panel, one row per model, with the ``vote`` column."""
        import pandas as pd

        from ..comparison import COLUMNS

        if not self._runs:
            return pd.DataFrame(columns=[*COLUMNS, "vote"])
        return pd.concat(self._runs, ignore_index=True)

    async def load_models(self) -> None:
        """Fill the picker from ``list_models()``; on failure keep the models given, and say so."""
        try:
            found = [m.id for m in await self.client.list_models()]
        except QolabaError as err:
            title, detail = describe_error(err)
            self.model_note.value = status_html(
                f"Could not load the model list ({title}: {detail}).", kind="warn"
            )
            return
        chosen = self.models
        self.model_picker.options = [m for m in chosen if m not in found] + found
        self.model_picker.value = tuple(chosen)

    async def run(self, prompt: str) -> pd.DataFrame:
        """Send ``prompt`` to every chosen model at once; the ``acompare`` frame plus ``vote``."""
        import pandas as pd

        from ..comparison import acompare

        models = self.models
        problem = self._selection_problem(models)
        if problem is not None:
            self._set_status(problem, "error")
            raise ValidationError(problem, param="models")
        if self._busy:
            raise RuntimeError("a comparison is still running")
        self._busy = True
        self._voted = False
        self._update_controls()
        self.last_prompt = prompt
        self.prompt_shown.value = (
            '<div class="qnb-plain" style="margin:4px 0">'
            f"<b>Prompt:</b> {escape_html(prompt)}</div>"
        )
        self._build_columns(models, shuffle=self.blind)
        for column in self.columns:
            column.start()
        self.summary.value = ""
        self._set_status("")
        try:
            frame = await acompare(
                [prompt],
                models,
                client=self.client,
                concurrency=len(models),
                tag=self.tag,
                run_id=f"cmp-{uuid.uuid4().hex[:12]}",
                progress=False,
                on_update=self._on_update,
                **self.params,
            )
        except Exception as err:
            for column in self.columns:
                if column.live is not None:
                    column.live.drop()
                    column.live = None
            title, detail = describe_error(err)
            self._set_status(f"{title}: {detail}", "error")
            raise
        finally:
            self._busy = False
            self._update_controls()
            self._update_budget()
        frame["vote"] = pd.array([pd.NA] * len(frame), dtype="boolean")
        self._runs.append(frame)
        for column in self.columns:
            column.vote_button.disabled = False
        self._update_summary()
        return frame

    def vote(self, choice: str | int) -> None:
        """Vote for the better answer of the last run: a model id, a label or a column index.

        The ``vote`` column of the last run becomes True for that model, False for the
        others; blind labels are revealed.
        """
        if not self._runs:
            raise ValueError("nothing to vote on yet: run a prompt first")
        columns = self.columns
        if isinstance(choice, int):
            model = columns[choice].model
        else:
            by_label = {c.label: c.model for c in columns}
            model = by_label.get(choice, choice)
        frame = self._runs[-1]
        if model not in set(frame["model"]):
            raise ValueError(f"{choice!r} is not a model or label of the last run")
        frame["vote"] = (frame["model"] == model).astype("boolean")
        self._voted = True
        for column in columns:
            column.reveal()
            column.vote_button.disabled = True
            if column.model == model:
                column.vote_button.description = "Voted better"
                column.vote_button.button_style = "success"
        self._update_summary()

    # ------------------------------------------------------------------ plumbing

    def _selection_problem(self, models: list[str]) -> str | None:
        if not MIN_MODELS <= len(models) <= MAX_MODELS:
            return f"Pick {MIN_MODELS} to {MAX_MODELS} models (now {len(models)})."
        return None

    def _update_budget(self) -> None:
        """The meter and the estimate of the next "Send to all", read again."""
        self.meter.refresh()
        try:
            line = estimate_text(self.client, self.models)
        except Exception as err:  # a ledger that cannot answer must not break the panel
            line = f"no estimate ({type(err).__name__})"
        self.estimate_line.value = status_html(f"Estimate: {line}" if line else "")

    def _models_changed(self) -> None:
        self._update_budget()
        problem = self._selection_problem(self.models)
        self.model_note.value = status_html(problem or "", kind="error")
        if not self._busy:
            self._build_columns(self.models, shuffle=False)
        self._update_controls()

    def _build_columns(self, models: list[str], *, shuffle: bool) -> None:
        order = list(models)
        if shuffle:
            random.shuffle(order)  # blind: the position must not give the model away
        labels = (
            [f"Model {string.ascii_uppercase[i]}" for i in range(len(order))]
            if self.blind
            else order
        )
        # Columns are kept across runs: their transcripts are already on screen, so the first
        # deltas of a run are not sent to a view that does not exist yet.
        columns = {}
        for model, label in zip(order, labels, strict=True):
            column = self._columns.get(model) or _Column(model, label, self.vote)
            column.relabel(label)
            columns[model] = column
        self._order = order
        self._columns = columns
        self.columns_box.children = [c.box for c in self.columns]

    def _on_update(self, cell: CompareCell) -> None:
        column = self._columns.get(cell.model)
        if column is not None:
            column.update(cell)

    def _update_summary(self) -> None:
        import pandas as pd

        frame = self._runs[-1]
        names = {c.model: c.label for c in self.columns}
        header = ["model", "status", "credit", "cost ($)", "latency", "TTFT", "chars/s", "chars"]
        header.append("vote")
        rows = []
        for row in frame.to_dict(orient="records"):
            model = str(row["model"])
            shown = model if (self._voted or not self.blind) else names.get(model, model)
            vote = row["vote"]
            cells = [
                shown,
                str(row["status"]),
                _fmt(row["credit"], "g"),
                _fmt(row["cost"], ".6f"),
                _fmt(row["latency_s"], ".2f", " s"),
                _fmt(row["ttft_s"], ".2f", " s"),
                _fmt(row["chars_per_s"], ".0f"),
                str(len(row["text"] or "")),
                "" if pd.isna(vote) else ("✔" if vote else ""),
            ]
            rows.append(
                "<tr>" + "".join(f"<td{_CELL}>{escape_html(c)}</td>" for c in cells) + "</tr>"
            )
        head = "".join(f"<th{_CELL}>{escape_html(h)}</th>" for h in header)
        self.summary.value = (
            '<table class="qnb-summary" style="border-collapse:collapse">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _submit(self, text: str, *, from_button: bool = False) -> None:
        if from_button:
            self.prompt.value = ""
        if not text.strip():
            return
        problem = self._selection_problem(self.models)
        if self._busy:
            problem = "A comparison is still running."
        if problem is not None:
            self.prompt.value = text
            self._set_status(problem, "error")
            return
        schedule(self._run_quietly(text), on_error=self._internal_error, name="qolaba-compare")

    async def _run_quietly(self, text: str) -> None:
        with contextlib.suppress(QolabaError):  # shown in the status line
            await self.run(text)

    def _internal_error(self, exc: BaseException) -> None:
        title, detail = describe_error(exc)
        self._set_status(f"{title}: {detail}", "error")

    def _set_status(self, text: str, kind: str = "info") -> None:
        self.status.value = status_html(text, kind=kind)

    def _update_controls(self) -> None:
        self.send_button.disabled = self._busy or self._selection_problem(self.models) is not None
