"""Quick charts of spending and speed, from a ledger or comparison DataFrame.

Every function takes a DataFrame (``UsageLedger.to_dataframe()`` or a comparison runner's
result: ``prompt, model, text, credit, cost, latency_s, ttft_s, chars_per_s, finish_reason,
status, error, run_id`` and, for ledger frames, ``ts``), draws on ``ax`` (default: the current
Axes) and returns the Axes. Nothing calls ``plt.show()``: the notebook shows the figure.

Rows with a missing value in the plotted columns are skipped; a frame with nothing to plot
draws an empty, labelled Axes that says "no data". Long model names are shortened in the
middle, and with many models fonts shrink and legends move outside the plot.

Example
-------
>>> import matplotlib.pyplot as plt
>>> from qolaba_nb import plots
>>> fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))  # doctest: +SKIP
>>> plots.cost_by_model(ledger.to_dataframe(), ax=a)  # doctest: +SKIP
>>> plots.latency_vs_cost(comparison_df, ax=b)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Literal

import matplotlib.colors as mcolors
from matplotlib import colormaps
from matplotlib.axes import Axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "cost_by_model",
    "latency_vs_cost",
    "spend_over_time",
    "theme_figure",
    "themed_svg",
    "ttft_by_model",
]

NO_DATA: Final = "no data"
#: Model names longer than this are shortened in the middle ("anthropic/cla…0241022").
MAX_NAME: Final = 28
#: Up to this many models the legend sits inside the plot.
LEGEND_INSIDE_MAX: Final = 6
_MARKERS: Final = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")

_VALUE_LABELS: Final = {"cost": "Cost (USD)", "credit": "Credits"}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    # pyplot only to find (or make) the current Axes; works under any backend, Agg included.
    import matplotlib.pyplot as plt

    return plt.gca()


def _short(name: str, limit: int = MAX_NAME) -> str:
    """Shorten in the middle: the provider prefix and the version suffix both matter."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return f"{name[:head]}…{name[-tail:]}"


def _fontsize(n: int) -> float | None:
    """Tick and legend font size for ``n`` models (None: matplotlib's default)."""
    if n <= 8:
        return None
    return 8 if n <= 14 else 7


def _colors(n: int) -> list[tuple[float, float, float, float]]:
    # tab10 while it lasts, tab20 up to 20 models, then a continuous map so none repeat.
    if n <= 10:
        cmap = colormaps["tab10"]
        return [cmap(i) for i in range(n)]
    if n <= 20:
        cmap = colormaps["tab20"]
        return [cmap(i) for i in range(n)]
    cmap = colormaps["turbo"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def _no_data(ax: Axes) -> Axes:
    ax.text(
        0.5,
        0.5,
        NO_DATA,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="0.5",
    )
    return ax


def _require(df: pd.DataFrame, columns: Sequence[str], func: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{func}() needs the column(s) {missing}; the frame has {list(df.columns)}"
        )


def _numeric(df: pd.DataFrame, column: str) -> pd.Series[float]:
    import pandas as pd

    return pd.to_numeric(df[column], errors="coerce").astype("float64")


def _models(df: pd.DataFrame) -> pd.Series[str]:
    # Categorical or str: plain strings either way (categories would keep unused models).
    return df["model"].astype(object).astype(str)


def _legend(ax: Axes, n: int, title: str = "Model") -> None:
    size = _fontsize(n)
    if n <= LEGEND_INSIDE_MAX:
        ax.legend(title=title, fontsize=size, loc="best")
        return
    # Outside on the right, in columns of at most 24 entries, so it never covers the points.
    ax.legend(
        title=title,
        fontsize=size,
        title_fontsize=size,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        ncols=math.ceil(n / 24),  # one column up to 24 models: small fonts fit them
        markerscale=0.8,
    )


# --------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------


def cost_by_model(
    df: pd.DataFrame,
    *,
    value: Literal["cost", "credit"] = "cost",
    ax: Axes | None = None,
) -> Axes:
    """Total cost (or credits) per model as horizontal bars, the most expensive on top.

    Parameters
    ----------
    df
        Ledger or comparison frame with ``model`` and ``value`` columns.
    value
        ``"cost"`` (USD) or ``"credit"``. Unknown amounts (NaN) are skipped; a model with no
        known amount gets no bar.
    ax
        Axes to draw on; default the current Axes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = cost_by_model(ledger.to_dataframe(since="7d"), value="credit")  # doctest: +SKIP
    """
    if value not in _VALUE_LABELS:
        raise ValueError(f"value must be 'cost' or 'credit', not {value!r}")
    ax = _axes(ax)
    label = _VALUE_LABELS[value]
    ax.set_xlabel(label)
    ax.set_ylabel("Model")
    ax.set_title(f"Total {'cost' if value == 'cost' else 'credits'} by model")
    _require(df, ["model", value], "cost_by_model")

    amounts = _numeric(df, value)
    keep = amounts.notna() & df["model"].notna()
    if not keep.any():
        return _no_data(ax)
    totals = amounts[keep].groupby(_models(df)[keep]).sum().sort_values(kind="stable")
    n = len(totals)
    names = [_short(str(m)) for m in totals.index]
    positions = list(range(n))
    bars = ax.barh(positions, totals.to_numpy(), color=_colors(1)[0])
    ax.set_yticks(positions, names, fontsize=_fontsize(n))
    fmt = "{:,.4g}" if value == "cost" else "{:,.2f}"
    ax.bar_label(
        bars,
        labels=[fmt.format(v) for v in totals.to_numpy()],
        padding=3,
        fontsize=_fontsize(n) or 9,
    )
    ax.margins(x=0.15)  # room for the value labels
    return ax


def spend_over_time(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Cumulative credits (left axis) and cost in USD (right axis) over time.

    Parameters
    ----------
    df
        Ledger frame with ``ts``, ``credit`` and ``cost``. Each line skips the calls whose
        amount is unknown.
    ax
        Axes to draw on; default the current Axes. The cost axis is ``ax.twinx()``.

    Returns
    -------
    matplotlib.axes.Axes
        The credit (left) Axes.

    Examples
    --------
    >>> ax = spend_over_time(ledger.to_dataframe(since="1d"))  # doctest: +SKIP
    """
    import matplotlib.dates as mdates
    import pandas as pd

    ax = _axes(ax)
    credit_color, cost_color = _colors(2)
    ax.set_xlabel("Time (UTC)")
    ax.set_ylabel("Cumulative credits", color=credit_color)
    ax.set_title("Spending over time")
    cost_ax = ax.twinx()
    cost_ax.set_ylabel("Cumulative cost (USD)", color=cost_color)
    _require(df, ["ts", "credit", "cost"], "spend_over_time")

    ts = pd.to_datetime(df["ts"], utc=True, errors="coerce")
    frame = pd.DataFrame({"ts": ts, "credit": _numeric(df, "credit"), "cost": _numeric(df, "cost")})
    frame = frame[frame["ts"].notna()].sort_values("ts", kind="stable")
    lines = []
    for column, target, color, label in (
        ("credit", ax, credit_color, "Credits"),
        ("cost", cost_ax, cost_color, "Cost (USD)"),
    ):
        part = frame[frame[column].notna()]
        if part.empty:
            continue
        # matplotlib wants naive datetimes; they are UTC, as the axis label says.
        x = part["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        (line,) = target.step(
            x, part[column].cumsum().to_numpy(), where="post", color=color, label=label
        )
        lines.append(line)
    if not lines:
        return _no_data(ax)
    # (matplotlib.dates has no annotations on these two.)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="y", colors=credit_color)
    cost_ax.tick_params(axis="y", colors=cost_color)
    ax.set_ylim(bottom=0)
    cost_ax.set_ylim(bottom=0)
    # One legend for both axes, on the left Axes.
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")
    return ax


def latency_vs_cost(
    df: pd.DataFrame,
    *,
    value: Literal["cost", "credit"] = "cost",
    ax: Axes | None = None,
) -> Axes:
    """One point per call: latency against cost, a marker and colour per model.

    Parameters
    ----------
    df
        Ledger or comparison frame with ``model``, ``latency_s`` and ``cost`` (or ``credit``).
        Calls missing either number are skipped.
    value
        ``"cost"`` (USD, default) or ``"credit"`` on the y axis.
    ax
        Axes to draw on; default the current Axes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = latency_vs_cost(comparison_df)  # doctest: +SKIP
    """
    if value not in _VALUE_LABELS:
        raise ValueError(f"value must be 'cost' or 'credit', not {value!r}")
    ax = _axes(ax)
    ax.set_xlabel("Latency (s)")
    ax.set_ylabel(_VALUE_LABELS[value])
    ax.set_title(f"Latency vs {'cost' if value == 'cost' else 'credits'}")
    _require(df, ["model", "latency_s", value], "latency_vs_cost")

    x, y = _numeric(df, "latency_s"), _numeric(df, value)
    keep = x.notna() & y.notna() & df["model"].notna()
    if not keep.any():
        return _no_data(ax)
    models = _models(df)[keep]
    x, y = x[keep], y[keep]
    names = sorted(models.unique())
    n = len(names)
    colors = _colors(n)
    size = 36 if n <= 8 else 20
    for i, name in enumerate(names):
        sel = models == name
        ax.scatter(
            x[sel].to_numpy(),
            y[sel].to_numpy(),
            marker=_MARKERS[i % len(_MARKERS)],
            color=mcolors.to_hex(colors[i]),
            s=size,
            alpha=0.8,
            label=_short(name),
        )
    _legend(ax, n)
    return ax


def ttft_by_model(df: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Distribution of time to first token per model (horizontal boxes, fastest on top).

    Parameters
    ----------
    df
        Ledger or comparison frame with ``model`` and ``ttft_s``. Non-streamed calls have no
        time to first token and are skipped, as are models with none.
    ax
        Axes to draw on; default the current Axes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = ttft_by_model(ledger.to_dataframe(since="1d"))  # doctest: +SKIP
    """
    ax = _axes(ax)
    ax.set_xlabel("Time to first token (s)")
    ax.set_ylabel("Model")
    ax.set_title("Time to first token by model")
    _require(df, ["model", "ttft_s"], "ttft_by_model")

    ttft = _numeric(df, "ttft_s")
    keep = ttft.notna() & df["model"].notna()
    if not keep.any():
        return _no_data(ax)
    groups = ttft[keep].groupby(_models(df)[keep])
    order = groups.median().sort_values(kind="stable").index  # fastest first
    data = [groups.get_group(m).to_numpy() for m in order]
    n = len(data)
    positions = list(range(1, n + 1))
    result = ax.boxplot(
        data,
        positions=positions,
        orientation="horizontal",
        patch_artist=True,
        widths=0.6,
        tick_labels=[_short(str(m)) for m in order],
        flierprops={"markersize": 3, "alpha": 0.6},
        medianprops={"color": "black"},
    )
    for box, color in zip(result["boxes"], _colors(n), strict=True):
        box.set_facecolor(mcolors.to_hex(color))
        box.set_alpha(0.7)
    ax.tick_params(axis="y", labelsize=_fontsize(n))
    ax.invert_yaxis()  # first (fastest) model on top
    ax.set_xlim(left=0)
    return ax


# --------------------------------------------------------------------------------------------
# Theme: charts that read on JupyterLab's light and dark themes
# --------------------------------------------------------------------------------------------

#: Text, ticks and spines of a themed raster figure: a grey that reads on white and on
#: JupyterLab's dark grey alike (a PNG cannot follow the theme).
THEME_GREY: Final = "#8c8c8c"
# Drawn in this colour, then replaced by the theme's text colour in an inline SVG.
_THEME_SENTINEL: Final = "#010203"
THEME_TEXT_CSS: Final = "var(--jp-ui-font-color1, #333)"


def theme_figure(fig: Figure, *, color: str = THEME_GREY) -> Figure:
    """Make ``fig`` follow the notebook's theme: a transparent background, and text, ticks,
    spines and legends in ``color``. Returns ``fig``."""
    fig.patch.set_alpha(0.0)
    for ax in fig.axes:
        ax.set_facecolor("none")
        ax.tick_params(colors=color, which="both")
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
        for text in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts):
            text.set_color(color)
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_alpha(0.0)
            legend.get_frame().set_edgecolor(color)
            for text in (*legend.get_texts(), legend.get_title()):
                text.set_color(color)
    for text in fig.texts:
        text.set_color(color)
    return fig


def themed_svg(fig: Figure) -> str:
    """``fig`` as an inline ``<svg>`` whose text takes the theme's colour (a CSS variable),
    on a transparent background. Glyphs are paths: no text of the data becomes markup."""
    import io

    theme_figure(fig, color=_THEME_SENTINEL)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", transparent=True, bbox_inches="tight")
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # no XML declaration or doctype inside HTML
    return svg.replace(_THEME_SENTINEL, THEME_TEXT_CSS)
