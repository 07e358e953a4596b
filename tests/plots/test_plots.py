"""The four charts: artists and labels, not pixels."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.patches import PathPatch, Rectangle

from qolaba_nb import plots
from qolaba_nb.plots import MAX_NAME, NO_DATA

from .conftest import COMPARISON_COLUMNS

Comparison = Callable[..., pd.DataFrame]

MANY = [f"provider-{i:02d}/some-rather-long-model-name-v{i}-2025-01-01" for i in range(20)]


def _ax() -> Axes:
    _fig, ax = plt.subplots()
    return ax


def _texts(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _bars(ax: Axes) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def _ytick_labels(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


def _n_points(c: PathCollection) -> int:
    return len(np.asarray(c.get_offsets()))


def _marker(c: PathCollection) -> tuple[tuple[float, ...], ...]:
    return tuple(map(tuple, np.asarray(c.get_paths()[0].vertices).round(3)))


def _color(c: PathCollection) -> tuple[float, ...]:
    return tuple(np.asarray(c.get_facecolor(), dtype=float)[0])


def _scatters(ax: Axes) -> list[PathCollection]:
    return [c for c in ax.collections if isinstance(c, PathCollection)]


def _legend_labels(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


# ---- cost_by_model --------------------------------------------------------------------------


def test_cost_by_model_bars_sorted_and_labelled(make_comparison: Comparison) -> None:
    df = make_comparison(["a", "b", "c"], per_model=4)
    ax = _ax()
    assert plots.cost_by_model(df, ax=ax) is ax
    bars = _bars(ax)
    assert len(bars) == 3
    totals = df.groupby("model")["cost"].sum().sort_values()
    widths = [b.get_width() for b in bars]
    np.testing.assert_allclose(widths, totals.to_numpy())
    assert widths == sorted(widths)  # largest at the top
    assert _ytick_labels(ax) == list(totals.index)
    assert ax.get_xlabel() == "Cost (USD)"
    assert ax.get_ylabel() == "Model"
    assert len(ax.texts) == 3  # a value label per bar


def test_cost_by_model_credit(ledger_frame: pd.DataFrame) -> None:
    ax = plots.cost_by_model(ledger_frame, value="credit", ax=_ax())
    assert ax.get_xlabel() == "Credits"
    totals = ledger_frame.groupby("model", observed=True)["credit"].sum().sort_values()
    np.testing.assert_allclose([b.get_width() for b in _bars(ax)], totals.to_numpy())


def test_cost_by_model_skips_nan_and_unknown_models(make_comparison: Comparison) -> None:
    df = make_comparison(["a", "b", "c"])
    df.loc[df["model"] == "c", "cost"] = np.nan  # nothing known for c
    df.loc[0, "cost"] = np.nan  # one unknown for a
    ax = plots.cost_by_model(df, ax=_ax())
    assert len(_bars(ax)) == 2
    assert "c" not in _ytick_labels(ax)
    a_total = df.loc[df["model"] == "a", "cost"].sum()  # NaN skipped
    assert any(b.get_width() == pytest.approx(a_total) for b in _bars(ax))


def test_cost_by_model_bad_value(make_comparison: Comparison) -> None:
    with pytest.raises(ValueError, match="cost"):
        plots.cost_by_model(make_comparison(["a"]), value="usd", ax=_ax())  # type: ignore[arg-type]


def test_cost_by_model_uses_current_axes(make_comparison: Comparison) -> None:
    _fig, ax = plt.subplots()
    assert plots.cost_by_model(make_comparison(["a"])) is ax


# ---- spend_over_time ------------------------------------------------------------------------


def test_spend_over_time(ledger_frame: pd.DataFrame) -> None:
    ax = _ax()
    assert plots.spend_over_time(ledger_frame, ax=ax) is ax
    fig = ax.get_figure()
    assert fig is not None
    axes = fig.get_axes()
    assert len(axes) == 2  # the cost axis is a twin
    cost_ax = next(a for a in axes if a is not ax)
    assert ax.get_xlabel() == "Time (UTC)"
    assert ax.get_ylabel() == "Cumulative credits"
    assert cost_ax.get_ylabel() == "Cumulative cost (USD)"

    (credit_line,) = ax.get_lines()
    (cost_line,) = cost_ax.get_lines()
    credit_y = np.asarray(credit_line.get_ydata(), dtype=float)
    cost_y = np.asarray(cost_line.get_ydata(), dtype=float)
    # Unknown amounts are skipped, not counted as 0: 11 known credits, 10 known costs.
    assert len(credit_y) == 11 and len(cost_y) == 10
    assert credit_y[-1] == pytest.approx(ledger_frame["credit"].sum())
    assert cost_y[-1] == pytest.approx(ledger_frame["cost"].sum())
    assert np.all(np.diff(credit_y) >= 0)
    assert _legend_labels(ax) == ["Credits", "Cost (USD)"]


def test_spend_over_time_sorts_by_time(ledger_frame: pd.DataFrame) -> None:
    shuffled = ledger_frame.sample(frac=1, random_state=3)
    ax = plots.spend_over_time(shuffled, ax=_ax())
    (line,) = ax.get_lines()
    assert np.all(np.diff(np.asarray(line.get_ydata(), dtype=float)) >= 0)


def test_spend_over_time_draws_a_comparison_frame_by_call_number(
    make_comparison: Comparison,
) -> None:
    df = make_comparison(["a", "b"])
    ax = plots.spend_over_time(df, ax=_ax())
    assert ax.get_xlabel() == "Call (in the run's order)"
    (line,) = ax.get_lines()
    assert list(np.asarray(line.get_xdata(), dtype=float)) == list(range(1, len(df) + 1))
    assert float(np.asarray(line.get_ydata(), dtype=float)[-1]) == pytest.approx(df["credit"].sum())


def test_spend_over_time_of_one_call_is_a_point_on_a_short_axis(
    ledger_frame: pd.DataFrame,
) -> None:
    import matplotlib.dates as mdates

    ax = plots.spend_over_time(ledger_frame.iloc[:1], ax=_ax())
    (line,) = ax.get_lines()
    assert line.get_marker() == "o" and len(np.asarray(line.get_ydata())) == 1
    left, right = ax.get_xlim()
    span = mdates.num2timedelta(right - left)
    assert pd.Timedelta(minutes=1) <= span <= pd.Timedelta(minutes=10)
    assert left <= mdates.date2num(ledger_frame["ts"].iloc[0].tz_localize(None)) <= right


# ---- latency_vs_cost ------------------------------------------------------------------------


def test_latency_vs_cost(make_comparison: Comparison) -> None:
    df = make_comparison(["a", "b", "c"], per_model=5)
    df.loc[[0, 6], "cost"] = np.nan
    df.loc[11, "latency_s"] = np.nan
    ax = _ax()
    assert plots.latency_vs_cost(df, ax=ax) is ax
    collections = _scatters(ax)
    assert len(collections) == 3
    assert sum(_n_points(c) for c in collections) == 15 - 3
    assert ax.get_xlabel() == "Latency (s)"
    assert ax.get_ylabel() == "Cost (USD)"
    assert _legend_labels(ax) == ["a", "b", "c"]
    # A different marker and colour for each model.
    assert len({_marker(c) for c in collections}) == 3
    assert len({_color(c) for c in collections}) == 3


def test_latency_vs_credit(ledger_frame: pd.DataFrame) -> None:
    ax = plots.latency_vs_cost(ledger_frame, value="credit", ax=_ax())
    assert ax.get_ylabel() == "Credits"
    assert sum(_n_points(c) for c in _scatters(ax)) == 11


# ---- ttft_by_model -------------------------------------------------------------------------


def test_ttft_by_model(make_comparison: Comparison) -> None:
    df = make_comparison(["slow", "fast", "none"], per_model=6)
    df.loc[df["model"] == "slow", "ttft_s"] += 5
    df.loc[df["model"] == "none", "ttft_s"] = np.nan  # not streamed: no box
    ax = _ax()
    assert plots.ttft_by_model(df, ax=ax) is ax
    boxes = [p for p in ax.patches if isinstance(p, PathPatch)]
    assert len(boxes) == 2
    assert ax.get_xlabel() == "Time to first token (s)"
    assert ax.get_ylabel() == "Model"
    # Fastest first, drawn on top (the y axis is inverted).
    assert _ytick_labels(ax) == ["fast", "slow"]
    assert ax.yaxis_inverted()


def test_ttft_by_model_ledger(ledger_frame: pd.DataFrame) -> None:
    ax = plots.ttft_by_model(ledger_frame, ax=_ax())
    assert len([p for p in ax.patches if isinstance(p, PathPatch)]) == 3


# ---- many models, long names ---------------------------------------------------------------


def test_twenty_models(make_comparison: Comparison) -> None:
    df = make_comparison(MANY, per_model=3)

    ax = plots.cost_by_model(df, ax=_ax())
    assert len(_bars(ax)) == 20
    labels = _ytick_labels(ax)
    assert len(set(labels)) == 20
    assert all(len(x) <= MAX_NAME for x in labels) and all("…" in x for x in labels)
    assert all(float(t.get_fontsize()) <= 8 for t in ax.get_yticklabels())

    ax = plots.latency_vs_cost(df, ax=_ax())
    assert len(ax.collections) == 20
    legend = ax.get_legend()
    assert legend is not None
    assert len(legend.get_texts()) == 20
    assert all(float(t.get_fontsize()) <= 8 for t in legend.get_texts())
    assert legend._ncols == 1  # type: ignore[attr-defined]  # 20 fit one column at 7pt
    anchor = legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted())
    assert anchor.x0 > 1.0  # outside the plot, on the right
    assert len({_marker(c) for c in _scatters(ax)}) == 12  # every marker shape in use
    assert len({_color(c) for c in _scatters(ax)}) == 20

    ax = plots.ttft_by_model(df, ax=_ax())
    assert len([p for p in ax.patches if isinstance(p, PathPatch)]) == 20
    assert all(float(t.get_fontsize()) <= 8 for t in ax.get_yticklabels())


def test_short_names_unchanged_and_long_names_keep_both_ends() -> None:
    assert plots._short("gpt-4o-mini") == "gpt-4o-mini"
    long = "anthropic/claude-3-5-sonnet-20241022"
    short = plots._short(long)
    assert len(short) == MAX_NAME
    assert short.startswith("anthropic/") and short.endswith("20241022")


def test_two_models_legend_inside(make_comparison: Comparison) -> None:
    ax = plots.latency_vs_cost(make_comparison(["a", "b"]), ax=_ax())
    legend = ax.get_legend()
    assert legend is not None
    assert _legend_labels(ax) == ["a", "b"]
    anchor = legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted())
    assert anchor.x1 <= 1.0 + 1e-9  # anchored to the Axes itself


# ---- empty frames --------------------------------------------------------------------------

FUNCS: list[tuple[Callable[..., Axes], str, str]] = [
    (plots.cost_by_model, "Cost (USD)", "Model"),
    (plots.latency_vs_cost, "Latency (s)", "Cost (USD)"),
    (plots.ttft_by_model, "Time to first token (s)", "Model"),
    (plots.spend_over_time, "Time (UTC)", "Cumulative credits"),
]


@pytest.mark.parametrize(("func", "xlabel", "ylabel"), FUNCS)
def test_empty_ledger_frame(
    empty_ledger_frame: pd.DataFrame, func: Callable[..., Axes], xlabel: str, ylabel: str
) -> None:
    ax = func(empty_ledger_frame, ax=_ax())
    assert _texts(ax) == [NO_DATA]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel)
    assert not ax.get_lines() and not ax.collections
    assert ax.get_legend() is None


@pytest.mark.parametrize(("func", "xlabel", "ylabel"), FUNCS[:3])
def test_empty_comparison_frame(func: Callable[..., Axes], xlabel: str, ylabel: str) -> None:
    ax = func(pd.DataFrame(columns=COMPARISON_COLUMNS), ax=_ax())
    assert _texts(ax) == [NO_DATA]
    assert (ax.get_xlabel(), ax.get_ylabel()) == (xlabel, ylabel)


@pytest.mark.parametrize(("func", "xlabel", "ylabel"), FUNCS)
def test_all_nan_is_no_data(
    ledger_frame: pd.DataFrame, func: Callable[..., Axes], xlabel: str, ylabel: str
) -> None:
    df = ledger_frame.assign(credit=np.nan, cost=np.nan, ttft_s=np.nan)
    ax = func(df, ax=_ax())
    assert _texts(ax) == [NO_DATA]


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="latency_s"):
        plots.latency_vs_cost(pd.DataFrame({"model": ["a"], "cost": [1.0]}), ax=_ax())
