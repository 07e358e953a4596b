"""``UsageDashboard``: what the ledger knows, as a table and a chart that keep up by themselves.

    UsageDashboard()            # the default ledger; or UsageDashboard(UsageLedger(path))

Filters (session, tag, model) narrow both the table and the chart. The dashboard polls the
ledger's last row id every ``poll_s`` seconds on the kernel's event loop and redraws when it
changed; ``refresh()`` (or the Refresh button) redraws at once.

Big ledgers stay fast: the table is aggregated in the database once, then kept up to date
from the rows recorded since (``UsageLedger.live_summary``); the chart draws the most recent
``recent_rows`` calls. A refresh reads only the rows after the last one it saw. Estimated
credits (streams stopped or cut before the server reported usage) are shown apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._exceptions import ValidationError
from .._money import format_money, format_total
from .._record import SESSION_ID
from .._render import escape_html
from ._common import describe_error, status_html
from ._schedule import Handle, has_running_loop, home, schedule

if TYPE_CHECKING:
    import pandas as pd

    from ..ledger import UsageLedger
    from ..ledger.core import LiveSummary

__all__ = ["PLOTS", "UsageDashboard"]

ALL = "(all)"

#: How many recent calls the chart draws by default.
RECENT_ROWS = 5_000
#: What the chart and the filters need of each call.
CHART_COLUMNS = [
    "id",
    "ts",
    "model",
    "status",
    "credit",
    "credit_source",
    "cost",
    "latency_s",
    "ttft_s",
    "session",
    "tag",
]
#: Column headings of the table, with units; estimated credits are marked as such, and
#: stopped replies (a Stop, not a failure) have their own column beside the errors.
TABLE_LABELS = {
    "stopped": "stopped",
    "credit": "credits (all)",
    "credit_reported": "credits reported",
    "credit_estimated": "credits ≈ estimated",
    "cost": "cost ($)",
    "latency_mean": "latency mean (s)",
    "latency_p50": "latency p50 (s)",
    "latency_p95": "latency p95 (s)",
    "ttft_mean": "TTFT mean (s)",
    "ttft_p50": "TTFT p50 (s)",
    "ttft_p95": "TTFT p95 (s)",
}


def session_label(session: str) -> str:
    """A session id ("20251201T104302-4242-a1b2c3") as its start time and a short label
    ("2025-12-01 10:43 UTC · a1b2c3"); anything else as it is."""
    from datetime import datetime

    stamp, _, rest = session.partition("-")
    try:
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    except ValueError:
        return session
    short = rest.rsplit("-", 1)[-1] if rest else ""
    return f"{started:%Y-%m-%d %H:%M} UTC" + (f" · {short}" if short else "")


def _spend_over_time(df: pd.DataFrame, ax: Any) -> Any:
    from .. import plots

    return plots.spend_over_time(df, ax=ax)


def _cost_by_model(df: pd.DataFrame, ax: Any) -> Any:
    from .. import plots

    return plots.cost_by_model(df, ax=ax)


def _latency_vs_cost(df: pd.DataFrame, ax: Any) -> Any:
    from .. import plots

    return plots.latency_vs_cost(df, ax=ax)


#: The charts the dropdown offers, by their label.
PLOTS: dict[str, Callable[[pd.DataFrame, Any], Any]] = {
    "spend over time": _spend_over_time,
    "cost by model": _cost_by_model,
    "latency vs cost": _latency_vs_cost,
}


def render_svg(df: pd.DataFrame, plot: str) -> str:
    """One chart as an inline ``<svg>`` that follows the notebook's theme (transparent, text
    in the theme's colour; glyphs drawn as paths, so no data becomes markup). A bare
    ``Figure`` (no pyplot): nothing leaks into the notebook."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .. import plots

    fig = Figure(figsize=(7.5, 3.4), dpi=96)
    FigureCanvasAgg(fig)
    PLOTS[plot](df, fig.add_subplot())
    svg = plots.themed_svg(fig)
    return svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def wrap() -> w.Layout:
    """A row that wraps onto more lines when the notebook is narrow (nothing cut off)."""
    return w.Layout(flex_flow="row wrap", align_items="center", width="100%")


def _as_filters(chosen: dict[str, str]) -> dict[str, Any]:
    return {k: chosen[k] for k in ("session", "tag", "model") if k in chosen}


class UsageDashboard(w.VBox):  # type: ignore[misc]
    """The ledger's summary table and one chart, filtered, refreshed as calls are recorded.

    The table has, per model, the calls, credits, cost (USD) and latency percentiles
    (seconds); filters pick a session, a tag or a model. It polls the ledger while it is
    shown, and reads only when a row was added.

    Parameters
    ----------
    ledger : UsageLedger or None, default None
        The ledger to show; None for the default ledger (the one clients record to).
    poll_s : float, default 2.0
        Seconds between two looks at the ledger's last row id: a number >= 0.1
        (``ValidationError`` otherwise; ``0`` would poll without pause).
    plot : str, default "spend over time"
        The chart shown first: ``"spend over time"``, ``"cost by model"`` or
        ``"latency vs cost"`` (``PLOTS``).
    recent_rows : int, default 5000
        How many of the most recent calls the chart draws (the table counts them all).

    Raises
    ------
    ValidationError
        ``poll_s`` is not a number of seconds >= 0.1.
    ValueError
        ``plot`` is not one of ``PLOTS``.

    Examples
    --------
    >>> from qolaba_nb import UsageDashboard
    >>> UsageDashboard(plot="cost by model")  # doctest: +SKIP
    """

    def __init__(
        self,
        ledger: UsageLedger | None = None,
        *,
        poll_s: float = 2.0,
        plot: str = "spend over time",
        recent_rows: int = RECENT_ROWS,
    ) -> None:
        if isinstance(poll_s, bool) or not isinstance(poll_s, int | float) or not poll_s >= 0.1:
            raise ValidationError(
                f"poll_s must be a number of seconds >= 0.1, got {poll_s!r}", param="poll_s"
            )
        if ledger is None:
            from ..ledger import default_ledger

            ledger = default_ledger()
        if plot not in PLOTS:
            raise ValueError(f"plot must be one of {sorted(PLOTS)}, not {plot!r}")
        self.ledger = ledger
        self.poll_s = poll_s
        self.recent_rows = recent_rows
        self.refreshes = 0
        self._seen = -1  # the last row id read
        self._live: LiveSummary | None = None  # the table, for the filters of _live_filters
        self._live_filters: dict[str, str] = {}
        self._recent: pd.DataFrame | None = None  # the chart's rows, unfiltered
        self._values: dict[str, set[str]] = {"session": set(), "tag": set(), "model": set()}
        self._quiet = False  # True while the filters' options are being rebuilt
        self._poller: Handle[None] | None = None

        self.header = w.HTML()
        self.session_filter = w.Dropdown(options=[ALL], value=ALL, description="session")
        self.tag_filter = w.Dropdown(options=[ALL], value=ALL, description="tag")
        self.model_filter = w.Dropdown(options=[ALL], value=ALL, description="model")
        self.plot_choice = w.Dropdown(options=list(PLOTS), value=plot, description="chart")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.table = w.HTML(
            layout=w.Layout(overflow="auto", max_width="100%")
        )  # scrolls when narrow
        self.chart = w.HTML(layout=w.Layout(max_width="760px"))  # an inline, themed SVG
        self.status = w.HTML()

        for control in (self.session_filter, self.tag_filter, self.model_filter, self.plot_choice):
            control.observe(home(self._on_filter), names="value")
        # Widget callbacks may run on a kernel subshell's thread: home() moves them to ours.
        self.refresh_button.on_click(home(lambda _b: self.refresh()))
        super().__init__(
            [
                self.header,
                w.HBox([self.session_filter, self.tag_filter, self.model_filter], layout=wrap()),
                w.HBox([self.plot_choice, self.refresh_button], layout=wrap()),
                self.table,
                self.chart,
                self.status,
            ],
            layout=w.Layout(width="100%"),
        )
        self.add_class("qnb-usage-dashboard")
        self.refresh()
        if has_running_loop():
            self._poller = schedule(self._poll(), on_error=self._internal_error, name="qolaba-poll")

    def __repr__(self) -> str:
        # Nothing that changes between runs (row counts, paths): nbval compares text/plain.
        return f"<UsageDashboard plot={self.plot_choice.value!r}>"

    # ------------------------------------------------------------------ public API

    def filters(self) -> dict[str, str]:
        """The filters in effect, as ``UsageLedger.to_dataframe`` keywords."""
        chosen = {
            "session": self.session_filter.value,
            "tag": self.tag_filter.value,
            "model": self.model_filter.value,
        }
        return {k: v for k, v in chosen.items() if v != ALL}

    def refresh(self) -> None:
        """Take in the calls recorded since the last look and redraw the table and the chart."""
        try:
            self._read_new()
            filters = self.filters()
            if self._live is None or filters != self._live_filters:
                self._live = self.ledger.live_summary(by="model", **_as_filters(filters))
                self._live_filters = filters
            else:
                self._live.update()
            self._update_options()
            self._draw(filters)
        except Exception as exc:  # a locked or closed ledger: say so, keep the last picture
            self._internal_error(exc)
            return
        self.refreshes += 1
        self.status.value = ""

    def stop(self) -> None:
        """Stop polling; the dashboard stays on screen as it is (``refresh()`` still works)."""
        # getattr: ipywidgets calls close() from __del__, also when __init__ raised early
        poller = getattr(self, "_poller", None)
        if poller is not None:
            poller.cancel()
            self._poller = None

    def close(self) -> None:
        """Stop polling and close the widget (it disappears from the notebook)."""
        self.stop()
        super().close()

    # ------------------------------------------------------------------ plumbing

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                changed = self.ledger.last_id() != self._seen
            except Exception:  # closed meanwhile: stop quietly, refresh() would say why
                return
            if changed:
                self.refresh()

    def _on_filter(self, _change: Any) -> None:
        if not self._quiet:
            self.refresh()

    def _read_new(self) -> None:
        """Read the rows after the last one seen: for the chart, and for the filters' options."""
        import pandas as pd

        led = self.ledger
        if self._recent is None:
            for column in self._values:
                self._values[column] = set(led.distinct_values(column))
            new = led.to_dataframe(limit=self.recent_rows, columns=CHART_COLUMNS)
        else:
            new = led.to_dataframe(after_id=self._seen, columns=CHART_COLUMNS)
            for column, values in self._values.items():
                values.update(str(v) for v in new[column].dropna().unique())
        if self._recent is not None and len(new):
            new = pd.concat([self._recent, new], ignore_index=True)
        elif self._recent is not None:
            new = self._recent
        self._recent = new.iloc[-self.recent_rows :] if len(new) > self.recent_rows else new
        last = int(self._recent["id"].iloc[-1]) if len(self._recent) else 0
        self._seen = max(self._seen, last)

    def _update_options(self) -> None:
        """Offer the values the ledger holds; keep each current choice."""
        options: dict[w.Dropdown, list[Any]] = {
            self.session_filter: [
                (ALL, ALL),
                (f"current ({session_label(SESSION_ID)})", "current"),
                *(
                    (session_label(s), s)
                    for s in sorted(self._values["session"], reverse=True)  # newest first
                    if s != SESSION_ID
                ),
            ],
            self.tag_filter: [ALL, *sorted(self._values["tag"])],
            self.model_filter: [ALL, *sorted(self._values["model"])],
        }
        self._quiet = True
        try:
            for dropdown, values in options.items():
                current = dropdown.value
                pairs = [v if isinstance(v, tuple) else (v, v) for v in values]
                if [o if isinstance(o, tuple) else (o, o) for o in dropdown.options] != pairs:
                    dropdown.options = values
                    dropdown.value = current if current in [v for _, v in pairs] else ALL
        finally:
            self._quiet = False

    def _chart_rows(self, filters: dict[str, str]) -> pd.DataFrame:
        df = self._recent
        assert df is not None
        for column, value in filters.items():
            wanted = SESSION_ID if column == "session" and value == "current" else value
            df = df[df[column] == wanted]
        return df

    def _draw(self, filters: dict[str, str]) -> None:
        assert self._live is not None
        summary = self._live.frame()
        calls = int(summary["calls"].sum()) if len(summary) else 0
        credit = float(summary["credit"].sum()) if calls else 0.0  # NaN groups count as 0
        estimated = float(summary["credit_estimated"].sum()) if calls else 0.0
        cost = float(summary["cost"].sum()) if calls else 0.0
        scope = ", ".join(f"{k}={v}" for k, v in filters.items()) or "all calls"
        self.header.value = (
            '<div style="font-weight:600">Qolaba usage'
            '<span style="font-weight:400;color:var(--jp-content-font-color2, #666);'
            'margin-left:12px">'
            f"{escape_html(scope)}: {calls} calls · {format_total(credit, estimated)}"
            f" · {format_money(cost)}"
            "</span></div>"
        )
        if calls:
            table = summary.rename(columns=TABLE_LABELS)
            # to_html escapes cell text by default: model names and tags are data, not markup
            self.table.value = table.to_html(
                escape=True, float_format=lambda x: f"{x:.4g}", na_rep="–", border=0
            )
        else:
            self.table.value = status_html("No calls recorded yet.")
        rows = self._chart_rows(filters)
        self.chart.value = render_svg(rows, self.plot_choice.value)

    def _internal_error(self, exc: BaseException) -> None:
        title, detail = describe_error(exc)
        self.status.value = status_html(f"{title}: {detail}", kind="error")
