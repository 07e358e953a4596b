"""``ComparePanel``: one prompt, 2 to 6 models side by side, all streaming at once.

    panel = ComparePanel(["openai/gpt-4o", "google/gemini-2.5-flash"], blind=True)
    panel                                   # type a prompt, press Enter; vote
    df = await panel.run("Explain recursion in one paragraph.")

The calls go through ``qolaba_nb.comparison.acompare`` (one run_id per prompt, in the ledger
too); its ``on_update`` callback feeds each column's transcript as the text arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import string
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import ipywidgets as w

from .._client import AsyncClient, Client
from .._exceptions import QolabaError, ValidationError
from .._models import build_chat_body
from .._render import cell_stats, escape_html, format_cell_credit, format_number
from .._types import SamplingParams
from .._votes import Choice, Vote
from ..comparison import check_stop_is_not_an_event
from ._common import DEFAULT_MODEL, as_async_client, describe_error, status_html
from ._controls import PromptInput
from ._meter import BudgetMeter, estimate_text
from ._schedule import has_running_loop, home, schedule
from ._transcript import LiveReply, Transcript

if TYPE_CHECKING:
    import pandas as pd

    from ..comparison import CompareCell

__all__ = ["ComparePanel"]

#: The columns a panel adds to the comparison frame.
VOTE_COLUMNS = ["label", "vote", "rank", "choice"]
MIN_MODELS = 2
MAX_MODELS = 6
_DEFAULT_MODELS = ("openai/gpt-4o-mini", DEFAULT_MODEL)
_CELL = ' style="padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"'
_HIDDEN_STATS = (
    '<div style="font-size:0.85em;color:#777">credits, cost and speed: shown after your vote</div>'
)
#: How to pick several models in the picker (a SelectMultiple).
PICK_HINT = "Ctrl+click (⌘+click on a Mac) to pick several models, Shift+click for a range."


class _Column:
    """One model's column: a title, its transcript, its numbers and a vote button."""

    def __init__(self, model: str, label: str, on_pick: Callable[[str], None]) -> None:
        self.model = model
        self.label = label
        self.blind = False
        self.revealed = False
        self.failed = False
        self.title = w.HTML(self._title())
        self.transcript = Transcript()
        self.stats = w.HTML()
        self._stats_html = ""
        self.vote_button = w.Button(description=_better(label), icon="thumbs-up", disabled=True)
        self.vote_button.on_click(home(lambda _b: on_pick(self.model)))
        self.live: LiveReply | None = None
        self.box = w.VBox(
            [self.title, self.transcript, self.stats, self.vote_button],
            layout=w.Layout(flex="1 1 0", min_width="220px", margin="0 4px"),
        )
        self.box.add_class("qnb-compare-column")

    def _title(self) -> str:
        hidden = not self.revealed or self.label == self.model
        name = self.label if hidden else f"{self.label} = {self.model}"
        return f'<div style="font-weight:600">{escape_html(name)}</div>'

    def relabel(self, label: str, *, blind: bool) -> None:
        """Ready for a new run under ``label``: name hidden again (blind), vote reset."""
        self.label = label
        self.blind = blind
        self.revealed = not blind
        self.failed = False
        self.title.value = self._title()
        self.vote_button.description = _better(label)
        self.vote_button.button_style = ""
        self.vote_button.disabled = True

    def reveal(self) -> None:
        self.revealed = True
        self.title.value = self._title()
        self.stats.value = self._stats_html

    def start(self) -> None:
        self.transcript.clear()
        self.stats.value = ""
        self._stats_html = ""
        self.live = self.transcript.start(self.label)

    def update(self, cell: CompareCell) -> None:
        if self.live is None:
            return
        if not cell.done:
            self.live.append(cell.delta)
            return
        live, self.live = self.live, None
        self.failed = cell.status != "ok"
        if cell.status == "ok":
            live.finish(meta=f"finish: {cell.finish_reason}", status="ok", text=cell.text)
        else:
            if cell.text:
                live.finish(status="error", text=cell.text)
            else:
                live.drop()
            if cell.status == "cancelled":
                title, detail = "Stopped", cell.error or cell.status
            elif cell.exception is not None:  # the ChatPanel's card for the same error
                title, detail = describe_error(cell.exception)
            else:
                title, detail = "Failed", cell.error or cell.status
            self.transcript.add_card(title, detail)
        self._stats_html = (
            '<div style="font-size:0.85em;color:#555;line-height:1.4">'
            f"{escape_html(cell_stats(cell.row()))}</div>"
        )
        # Blind: credits, cost and speed tell the models apart, so they wait for the vote.
        self.stats.value = self._stats_html if self.revealed else _HIDDEN_STATS


def _better(label: str) -> str:
    return f"{label.removeprefix('Model ')} better"


class ComparePanel(w.VBox):  # type: ignore[misc]
    """Send one prompt to several models at once and compare the replies as they stream.

    Every reply streams into its own column with its credits, cost (USD), latency and
    time to first token (seconds); a vote (a column's button, Tie, Both bad, or a ranking)
    is kept in the ledger, for ``leaderboard()``.

    Parameters
    ----------
    models : sequence of str or None, default None
        The models to start with (2 to 6; None: ``"openai/gpt-4o-mini"`` and
        ``"google/gemini-2.5-flash"``); the picker offers every model of the API.
    client : Client, AsyncClient or None, default None
        As for ``ChatPanel``: an ``AsyncClient``, a ``Client`` (twinned), or None (env).
    blind : bool, default False
        Hide the model names ("Model A", "Model B", ... in a shuffled order), and the
        credits, cost and speed that would give them away, until a vote. Every view (the
        columns, the summary, the frame ``run`` returns) is in the order of the labels.
    tag : str or None, default None
        Ledger tag of the calls (and of the votes).
    seed : int or None, default None
        Seed of the blind shuffle (tests, reproducible demos); None: unpredictable.
    **params : Unpack[SamplingParams]
        The request fields sent with every call, as for ``chat()``: ``temperature``,
        ``max_tokens``, ``top_p``, ``frequency_penalty``, ``presence_penalty``, ``stop``
        (stop sequences), ``tools``, ``tool_choice``, ``stream_options``, ``extra_body``.
        Checked here: a bad one raises ``ValidationError`` at once.

    Examples
    --------
    >>> from qolaba_nb import ComparePanel
    >>> panel = ComparePanel(["openai/gpt-4o", "sim/echo"], blind=True)  # doctest: +SKIP
    >>> panel  # doctest: +SKIP
    """

    def __init__(
        self,
        models: Sequence[str] | None = None,
        client: Client | AsyncClient | None = None,
        *,
        blind: bool = False,
        tag: str | None = None,
        seed: int | None = None,
        **params: Unpack[SamplingParams],
    ) -> None:
        check_stop_is_not_an_event(params, "the panel's Stop button (or .stop()) stops a run")
        build_chat_body("x", model="m", stream=True, params=params)  # bad params fail here
        self.client = as_async_client(client)
        self.blind = blind
        self.tag = tag
        self.params = params
        self._rng = random.Random(seed)
        self._runs: list[pd.DataFrame] = []
        self._columns: dict[str, _Column] = {}
        self._order: list[str] = []
        self._busy = False
        self._voted = False
        self._awaiting_vote = False  # from a run's start to its vote
        self._cancel: asyncio.Event | None = None
        self._ranking: list[str] = []
        self.votes: list[Vote] = []
        self.last_prompt: str | None = None

        start = list(models or _DEFAULT_MODELS)
        self.model_picker = w.SelectMultiple(
            options=start, value=start, rows=6, description="models", layout=w.Layout(width="380px")
        )
        self.model_hint = w.HTML(
            '<div class="qnb-plain" style="font-size:0.85em;color:#555">'
            f"{escape_html(PICK_HINT)}</div>"
        )
        self.model_note = w.HTML()
        self.model_box = w.HBox([self.model_picker, w.VBox([self.model_hint, self.model_note])])
        self.model_box.add_class("qnb-model-picker")
        self.hidden_note = w.HTML(
            '<div class="qnb-plain" style="color:#555">Blind vote: the models are hidden until'
            " you vote.</div>",
            layout=w.Layout(display="none"),
        )
        self.hidden_note.add_class("qnb-blind-note")
        self.prompt = PromptInput(placeholder="Prompt: Enter sends to every model at once")
        self.send_button = w.Button(
            description="Send to all", button_style="primary", icon="paper-plane"
        )
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.tie_button = w.Button(description="Tie", icon="equals", disabled=True)
        self.bad_button = w.Button(description="Both bad", icon="thumbs-down", disabled=True)
        self.rank_button = w.ToggleButton(
            description="Rank them", icon="list-ol", disabled=True, value=False
        )
        self.report_button = w.Button(
            description="Report", icon="file", disabled=True, tooltip="Save a one-file HTML report"
        )
        # Empty: a new compare-report-<run id>.html in the current directory for each report.
        self.report_path_box = w.Text(
            placeholder="compare-report-<run id>.html",
            description="report file",
            tooltip="Where the Report button writes; empty: a new file named after the run",
            layout=w.Layout(width="300px"),
        )
        self.report_path_box.add_class("qnb-report-path")
        self.report_link = (
            w.Output()
        )  # a link to the last report written (rendered by the front end)
        self.report_link.add_class("qnb-report-link")
        self.vote_bar = w.HBox(
            [
                self.tie_button,
                self.bad_button,
                self.rank_button,
                self.report_button,
                self.report_path_box,
            ],
            layout=w.Layout(flex_flow="row wrap"),
        )
        self.vote_bar.add_class("qnb-vote-bar")
        self.prompt_shown = w.HTML()
        self.meter = BudgetMeter(self.client, tag=tag)  # what is left of the budget
        self.estimate_line = w.HTML()  # what "Send to all" will cost, from the ledger
        # Columns wrap onto new rows when the notebook is too narrow for them side by side.
        self.columns_box = w.HBox(
            layout=w.Layout(width="100%", align_items="flex-start", flex_flow="row wrap")
        )
        self.summary = w.HTML()
        self.status = w.HTML()
        self._status_cause = ""  # what the status line complains about

        self.prompt.on_submit(self._submit)
        # Widget callbacks may run on a kernel subshell's thread: home() moves them to ours.
        self.send_button.on_click(
            home(lambda _b: self._submit(self.prompt.value, from_button=True))
        )
        self.stop_button.on_click(home(lambda _b: self.stop()))
        self.tie_button.on_click(home(lambda _b: self.vote("tie")))
        self.bad_button.on_click(home(lambda _b: self.vote("both bad")))
        self.rank_button.observe(home(lambda _c: self._rank_mode()), names="value")
        self.report_button.on_click(home(lambda _b: self._report_quietly()))
        self.model_picker.observe(home(lambda _c: self._models_changed()), names="value")
        super().__init__(
            [
                w.HBox(
                    [w.HTML('<div style="font-weight:600">Qolaba compare</div>'), self.meter],
                    layout=w.Layout(align_items="center", grid_gap="12px"),
                ),
                self.model_box,
                self.hidden_note,
                self.prompt,
                # wraps when narrow: squeezed, the buttons would cut their labels short
                w.HBox(
                    [self.send_button, self.stop_button, self.estimate_line],
                    layout=w.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.prompt_shown,
                self.columns_box,
                self.vote_bar,
                self.summary,
                self.status,
                self.report_link,
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
        """The models a prompt is sent to, as the picker shows them."""
        return list(self.model_picker.value)

    @models.setter
    def models(self, value: Sequence[str]) -> None:
        missing = [m for m in value if m not in self.model_picker.options]
        if missing:
            self.model_picker.options = [*self.model_picker.options, *missing]
        self.model_picker.value = tuple(value)

    @property
    def columns(self) -> list[_Column]:
        """The columns in the order shown (blind: the shuffled order of the labels)."""
        return [self._columns[m] for m in self._order]

    @property
    def results(self) -> pd.DataFrame:
        """Every run of this panel, one row per model, with the vote columns.

        Rows are in the order shown; a blind run not voted on yet has its labels in the
        ``model`` column.
        """
        import pandas as pd

        from ..comparison import COLUMNS

        if not self._runs:
            return pd.DataFrame(columns=[*COLUMNS, *VOTE_COLUMNS])
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
        """Send ``prompt`` to every chosen model at once.

        Parameters
        ----------
        prompt : str
            The prompt, sent to every model of the picker.

        Returns
        -------
        pandas.DataFrame
            The ``acompare`` frame plus ``label``, ``vote``, ``rank`` and ``choice``, one row
            per column in the order shown. Blind, the ``model`` column holds the labels until
            the vote, which fills in the models (in this same frame).
        """
        import pandas as pd

        from ..comparison import acompare

        models = self.models
        problem = self._selection_problem(models)
        if problem is not None:
            self._set_status(problem, "error", cause="models")
            raise ValidationError(problem, param="models")
        if self._busy:
            raise RuntimeError("a comparison is still running")
        self._busy = True
        self._voted = False
        self._awaiting_vote = True
        self._ranking = []
        self._cancel = asyncio.Event()
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
        order = list(self._order)
        try:
            frame = await acompare(
                [prompt],
                order,  # the order shown: the frame's rows follow the labels
                client=self.client,
                concurrency=len(order),
                tag=self.tag,
                run_id=f"cmp-{uuid.uuid4().hex[:12]}",
                progress=False,
                on_update=self._on_update,
                cancel=self._cancel,
                **self.params,
            )
        except Exception as err:
            self._awaiting_vote = False  # no reply to vote on
            for column in self.columns:
                if column.live is not None:
                    column.live.drop()
                    column.live = None
            title, detail = describe_error(err)
            self._set_status(f"{title}: {detail}", "error")
            raise
        finally:
            self._busy = False
            self._cancel = None
            self._update_controls()
            self._update_budget()
        labels = [self._columns[m].label for m in order]
        frame["label"] = labels
        if self.blind:
            frame["model"] = labels  # the names wait for the vote
        frame["vote"] = pd.array([pd.NA] * len(frame), dtype="boolean")
        frame["rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
        frame["choice"] = pd.array([pd.NA] * len(frame), dtype="string")
        self._runs.append(frame)
        self._update_controls()
        self._update_summary()
        return frame

    def stop(self) -> None:
        """Stop every column of the run in flight; what arrived is kept, marked "cancelled"."""
        if self._cancel is not None:
            self._cancel.set()
            self._set_status("Stopping every column…", cause="busy")

    def vote(self, choice: str | int | Sequence[str | int]) -> Vote:
        """Vote on the last run's replies; blind names and numbers are revealed.

        Parameters
        ----------
        choice : str, int or sequence
            The best reply (a label such as ``"Model A"`` or ``"A"``, a model id, or a
            column index), ``"tie"``, ``"both bad"``, or a ranking: a list of those, best
            first. A failed reply cannot be chosen or ranked.

        Returns
        -------
        Vote
            The vote, also kept in ``votes`` and, when the client's ledger keeps votes,
            stored there.
        """
        if not self._runs:
            raise ValueError("nothing to vote on yet: run a prompt first")
        if self._voted:
            raise ValueError("the last run has its vote already: run a prompt again")
        columns = self.columns
        eligible = tuple(c.model for c in columns if not c.failed)
        kind: Choice
        ranking: tuple[str, ...]
        if isinstance(choice, str) and choice.lower() in ("tie", "both bad", "both_bad"):
            kind, ranking = ("tie" if choice.lower() == "tie" else "both bad"), ()
        elif isinstance(choice, (str, int)):
            kind, ranking = "better", (self._resolve(choice),)
        else:
            kind, ranking = "rank", tuple(self._resolve(c) for c in choice)
        for model in ranking:
            if model not in eligible:
                raise ValueError(
                    f"{self._columns[model].label} failed, so it cannot win or be ranked"
                )
        frame = self._runs[-1]
        vote = Vote(
            run_id=str(frame["run_id"].iloc[0]),
            prompt=str(frame["prompt"].iloc[0]),
            models=tuple(c.model for c in columns),
            labels=tuple(c.label for c in columns),
            choice=kind,
            ranking=ranking,
            eligible=eligible,
            blind=self.blind,
            tag=self.tag,
        )
        self._voted = True
        self._awaiting_vote = False
        frame["model"] = [c.model for c in columns]
        ranks = [vote.rank_of(c.model) for c in columns]
        frame["rank"] = pd_array(ranks, "Int64")
        frame["vote"] = pd_array(
            [None if r is None else (r == 1 and kind in ("better", "rank")) for r in ranks],
            "boolean",
        )
        frame["choice"] = pd_array([kind] * len(columns), "string")
        self.votes.append(vote)
        self._store(vote)
        for column in columns:
            column.reveal()
            if column.model in ranking:
                place = ranking.index(column.model) + 1
                column.vote_button.description = (
                    "Voted better" if kind == "better" else f"Ranked {place}"
                )
                column.vote_button.button_style = "success"
        self._update_controls()
        self._update_summary()
        return vote

    @property
    def report_path(self) -> str | None:
        """The report file field's path; None (the field empty): a new file per report."""
        return self.report_path_box.value.strip() or None

    @report_path.setter
    def report_path(self, value: str | os.PathLike[str] | None) -> None:
        self.report_path_box.value = "" if value is None else os.fspath(value)

    def save_report(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write every run of this panel as one self-contained HTML file (``qolaba_nb.report``).

        The panel then shows where it went, with a link that opens it (in JupyterLab, in a
        tab of its own) when the file is under the current directory.

        Parameters
        ----------
        path : str, os.PathLike or None, optional
            Where to write it (replaced if it exists). None: ``report_path`` (the "report
            file" field) if set, else ``compare-report-<run id>.html`` in the current
            directory, named after the last run, with ``-2``, ``-3``, ... added rather than
            replacing an earlier report.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        from .._report import report

        if not self._runs:
            raise ValueError("nothing to report yet: run a prompt first")
        if self.blind and not self._voted:
            raise ValueError("vote first: the report shows the model names and numbers")
        chosen = path if path is not None else self.report_path
        if chosen is None:
            run_id = str(self._runs[-1]["run_id"].iloc[0])
            chosen = _unused(Path.cwd() / f"compare-report-{run_id}.html")
        target = report(self.results, chosen, title="ComparePanel runs")
        self._set_status(f"Report written to {target.resolve()}", "info")
        self._show_link(target)
        return target

    def _show_link(self, target: Path) -> None:
        """A link to ``target``, relative to the current directory (the notebook's, usually),
        which JupyterLab resolves and opens; a file elsewhere is named, not linked."""
        full = target.resolve()
        try:
            relative = full.relative_to(Path.cwd().resolve()).as_posix()
        except ValueError:
            shown = f"<code>{escape_html(str(full))}</code>"
        else:
            href = escape_html(urllib.parse.quote(relative))
            shown = (
                f'<a href="{href}" target="_blank" rel="noopener">Open {escape_html(relative)}</a>'
            )
        # Set as an output, not an HTML widget: the front end's renderer resolves the
        # relative link against the notebook's folder and opens it inside JupyterLab.
        self.report_link.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "text/html": f'<div class="qnb-plain">{shown}</div>',
                    "text/plain": str(full),
                },
                "metadata": {},
            },
        )

    def _report_quietly(self) -> None:
        try:
            self.save_report()
        except (OSError, ValueError) as err:
            self._set_status(f"Could not write the report: {err}", "error")

    # ------------------------------------------------------------------ plumbing

    def _resolve(self, choice: str | int) -> str:
        columns = self.columns
        if isinstance(choice, int):
            return columns[choice].model
        by_label = {c.label: c.model for c in columns}
        by_label.update({c.label.removeprefix("Model "): c.model for c in columns})
        model = by_label.get(choice, choice)
        if model not in self._columns:
            raise ValueError(f"{choice!r} is not a model or label of the last run")
        return model

    def _store(self, vote: Vote) -> None:
        ledger = self.client.ledger
        save = getattr(ledger, "record_vote", None)
        if save is None:
            return
        from ..ledger.comparisons import kept_prompt

        try:
            save(dataclasses.replace(vote, prompt=kept_prompt(vote.prompt, self.client._api_key)))
        except Exception as err:  # the vote is kept in self.votes: say so, lose nothing
            self._set_status(f"The vote is kept here but not in the ledger: {err}", "warn")

    def _pick(self, model: str) -> None:
        """A column's vote button: the best reply, or the next place when ranking."""
        if not self.rank_button.value:
            self.vote(model)
            return
        if model not in self._ranking:
            self._ranking.append(model)
            column = self._columns[model]
            column.vote_button.description = f"Ranked {len(self._ranking)}"
            column.vote_button.disabled = True
        left = [c.model for c in self.columns if not c.failed and c.model not in self._ranking]
        if len(left) <= 1:
            ranking = [*self._ranking, *left]
            self.rank_button.value = False  # (clears self._ranking)
            self.vote(ranking)

    def _rank_mode(self) -> None:
        self._ranking = []
        self._update_controls()

    def _selection_problem(self, models: list[str]) -> str | None:
        if not MIN_MODELS <= len(models) <= MAX_MODELS:
            return f"Pick {MIN_MODELS} to {MAX_MODELS} models (now {len(models)}). {PICK_HINT}"
        return None

    def _update_budget(self) -> None:
        """The meter and the estimate of the next "Send to all", read again."""
        self.meter.refresh()
        try:
            line = estimate_text(self.client, self.models, name_models=not self.blind)
        except Exception as err:  # a ledger that cannot answer must not break the panel
            line = f"no estimate ({type(err).__name__})"
        self.estimate_line.value = status_html(f"Estimate: {line}" if line else "")

    def _models_changed(self) -> None:
        self._update_budget()
        problem = self._selection_problem(self.models)
        self.model_note.value = status_html(problem or "", kind="error")
        if problem is None:
            self._resolved("models")
        if not self._busy:
            self._build_columns(self.models, shuffle=False)
        self._update_controls()

    def _build_columns(self, models: list[str], *, shuffle: bool) -> None:
        order = list(models)
        if shuffle:
            self._rng.shuffle(order)  # blind: the position must not give the model away
        labels = (
            [f"Model {string.ascii_uppercase[i]}" for i in range(len(order))]
            if self.blind
            else order
        )
        # Columns are kept across runs: their transcripts are already on screen, so the first
        # deltas of a run are not sent to a view that does not exist yet.
        columns = {}
        for model, label in zip(order, labels, strict=True):
            column = self._columns.get(model) or _Column(model, label, self._pick)
            column.relabel(label, blind=self.blind)
            columns[model] = column
        self._order = order
        self._columns = columns
        self.columns_box.children = [c.box for c in self.columns]

    def _on_update(self, cell: CompareCell) -> None:
        column = self._columns.get(cell.model)
        if column is not None:
            column.update(cell)

    def _update_summary(self) -> None:
        frame = self._runs[-1]
        hide = self.blind and not self._voted
        header = ["model", "status", "chars"]
        if not hide:
            header[2:2] = ["credit", "cost ($)", "latency", "TTFT", "chars/s"]
            header.append("vote")
        rows = []
        for row in frame.to_dict(orient="records"):  # rows in the order shown
            cells = [str(row["model"] if not hide else row["label"]), str(row["status"])]
            if not hide:
                cells += [
                    format_cell_credit(row["credit"], row["credit_source"]),
                    format_number(row["cost"], ".6f"),
                    format_number(row["latency_s"], ".2f", " s"),
                    format_number(row["ttft_s"], ".2f", " s"),
                    format_number(row["chars_per_s"], ".0f"),
                ]
            cells.append(str(len(row["text"] or "")))
            if not hide:
                cells.append(_vote_mark(row["choice"], row["rank"]))
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
        problem, cause = self._selection_problem(self.models), "models"
        if self._busy:
            problem, cause = "A comparison is still running.", "busy"
        if problem is not None:
            self.prompt.value = text
            self._set_status(problem, "error", cause=cause)
            return
        schedule(self._run_quietly(text), on_error=self._internal_error, name="qolaba-compare")

    async def _run_quietly(self, text: str) -> None:
        with contextlib.suppress(QolabaError):  # shown in the status line
            await self.run(text)

    def _internal_error(self, exc: BaseException) -> None:
        title, detail = describe_error(exc)
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
        if not self._busy:
            self._resolved("busy")  # "still running", "stopping…": the run is over
        self.send_button.disabled = self._busy or self._selection_problem(self.models) is not None
        self.stop_button.disabled = not self._busy
        open_vote = bool(self._runs) and not self._busy and not self._voted
        ok = [c for c in self.columns if not c.failed]
        for column in self.columns:
            column.vote_button.disabled = (
                not open_vote or column.failed or column.model in self._ranking
            )
        self.tie_button.disabled = self.bad_button.disabled = not open_vote or len(ok) < 2
        self.rank_button.disabled = not open_vote or len(ok) < 3
        # Blind, the picker's list would tell which models are in play while the vote is open.
        hide = self.blind and self._awaiting_vote
        self.model_box.layout.display = "none" if hide else None
        self.hidden_note.layout.display = None if hide else "none"
        # Blind, a report before the vote would give the models away.
        self.report_button.disabled = (
            not self._runs or self._busy or (self.blind and not self._voted)
        )


def _unused(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3``, ... : the first name no file has."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _vote_mark(choice: Any, rank: Any) -> str:
    import pandas as pd

    if pd.isna(choice):
        return ""
    if choice == "better":
        return "✔ best" if rank == 1 else ""
    if choice == "rank":
        return "" if pd.isna(rank) else f"#{rank}"
    return str(choice)


def pd_array(values: list[Any], dtype: str) -> Any:
    """A pandas array of a nullable ``dtype``; None becomes NA."""
    import pandas as pd

    data: list[Any] = [pd.NA if v is None else v for v in values]
    return pd.array(data, dtype=dtype)  # type: ignore[call-overload]
