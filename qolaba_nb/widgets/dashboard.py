"""``UsageDashboard``: what the ledger knows, as a table and a chart that keep up by themselves.

    UsageDashboard()            # the default ledger; or UsageDashboard(UsageLedger(path))

Filters (session, tag, model) narrow both the table and the chart. The dashboard polls the
ledger's row count every ``poll_s`` seconds on the kernel's event loop and redraws when it
changed; ``refresh()`` (or the Refresh button) redraws at once.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .._exceptions import ValidationError
from .._record import SESSION_ID
from .._render import escape_html
from ._common import describe_error, status_html
from ._schedule import Handle, has_running_loop, home, schedule

if TYPE_CHECKING:
    import pandas as pd

    from ..ledger import UsageLedger

__all__ = ["PLOTS", "UsageDashboard"]

ALL = "(all)"


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


def render_png(df: pd.DataFrame, plot: str) -> bytes:
    """One chart as PNG bytes. A bare ``Figure`` (no pyplot): nothing leaks into the notebook."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 3.4), dpi=96)
    FigureCanvasAgg(fig)
    PLOTS[plot](df, fig.add_subplot())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


class UsageDashboard(w.VBox):  # type: ignore[misc]
    """The ledger's summary table and one chart, filtered, refreshed as calls are recorded.

    Parameters
    ----------
    ledger
        A ``UsageLedger``; None for the default ledger (the one clients record to).
    poll_s
        Seconds between two looks at the ledger's row count: a number >= 0.1 (``ValueError``
        otherwise; ``0`` would poll without pause).
    plot
        The chart shown first: one of ``PLOTS``.
    """

    def __init__(
        self,
        ledger: UsageLedger | None = None,
        *,
        poll_s: float = 2.0,
        plot: str = "spend over time",
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
        self.refreshes = 0
        self._seen = -1
        self._quiet = False  # True while the filters' options are being rebuilt
        self._poller: Handle[None] | None = None

        self.header = w.HTML()
        self.session_filter = w.Dropdown(options=[ALL], value=ALL, description="session")
        self.tag_filter = w.Dropdown(options=[ALL], value=ALL, description="tag")
        self.model_filter = w.Dropdown(options=[ALL], value=ALL, description="model")
        self.plot_choice = w.Dropdown(options=list(PLOTS), value=plot, description="chart")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.table = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(max_width="760px"))
        self.status = w.HTML()

        for control in (self.session_filter, self.tag_filter, self.model_filter, self.plot_choice):
            control.observe(home(self._on_filter), names="value")
        # Widget callbacks may run on a kernel subshell's thread: home() moves them to ours.
        self.refresh_button.on_click(home(lambda _b: self.refresh()))
        super().__init__(
            [
                self.header,
                w.HBox([self.session_filter, self.tag_filter, self.model_filter]),
                w.HBox([self.plot_choice, self.refresh_button]),
                self.table,
                self.image,
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
        """Read the ledger again and redraw the table and the chart."""
        try:
            self._seen = len(self.ledger)
            everything = self.ledger.to_dataframe()
            self._update_options(everything)
            filters = self.filters()
            df = self.ledger.to_dataframe(**filters)
            self._draw(df, filters)
        except Exception as exc:  # a locked or closed ledger: say so, keep the last picture
            self._internal_error(exc)
            return
        self.refreshes += 1
        self.status.value = ""

    def close(self) -> None:
        """Stop polling and close the widget."""
        # getattr: ipywidgets calls close() from __del__, also when __init__ raised early
        poller = getattr(self, "_poller", None)
        if poller is not None:
            poller.cancel()
            self._poller = None
        super().close()

    # ------------------------------------------------------------------ plumbing

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                changed = len(self.ledger) != self._seen
            except Exception:  # closed meanwhile: stop quietly, refresh() would say why
                return
            if changed:
                self.refresh()

    def _on_filter(self, _change: Any) -> None:
        if not self._quiet:
            self.refresh()

    def _update_options(self, df: pd.DataFrame) -> None:
        """Offer the values the ledger holds; keep each current choice."""
        sessions = sorted(set(df["session"].dropna()))
        options = {
            self.session_filter: [ALL, "current", *[s for s in sessions if s != SESSION_ID]],
            self.tag_filter: [ALL, *sorted(set(df["tag"].dropna()))],
            self.model_filter: [ALL, *sorted({str(m) for m in df["model"].dropna()})],
        }
        self._quiet = True
        try:
            for dropdown, values in options.items():
                current = dropdown.value
                if list(dropdown.options) != values:
                    dropdown.options = values
                    dropdown.value = current if current in values else ALL
        finally:
            self._quiet = False

    def _draw(self, df: pd.DataFrame, filters: dict[str, str]) -> None:
        calls = len(df)
        credit = float(df["credit"].sum()) if calls else 0.0
        cost = float(df["cost"].sum()) if calls else 0.0
        scope = ", ".join(f"{k}={v}" for k, v in filters.items()) or "all calls"
        self.header.value = (
            '<div style="font-weight:600">Qolaba usage'
            f'<span style="font-weight:400;color:#666;margin-left:12px">'
            f"{escape_html(scope)}: {calls} calls · {credit:g} credits · ${cost:.6f}</span></div>"
        )
        if calls:
            summary = self.ledger.summary(by="model", **filters)
            # to_html escapes cell text by default: model names and tags are data, not markup
            self.table.value = summary.to_html(
                escape=True, float_format=lambda x: f"{x:.4g}", na_rep="–", border=0
            )
        else:
            self.table.value = status_html("No calls recorded yet.")
        self.image.value = render_png(df, self.plot_choice.value)

    def _internal_error(self, exc: BaseException) -> None:
        title, detail = describe_error(exc)
        self.status.value = status_html(f"{title}: {detail}", kind="error")
