"""The leaderboard charts, and labels that never collide."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection

from qolaba_nb import plots
from qolaba_nb._leaderboard import LEADERBOARD_COLUMNS
from qolaba_nb.plots import NO_DATA, pareto_frontier, short_names


def _ax() -> Axes:
    _fig, ax = plt.subplots()
    return ax


def _board(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    """model, rating, quality, credit per call; intervals of +-20 and +-0.5."""
    data = []
    for model, rating, quality, credit in rows:
        row: dict[str, object] = dict.fromkeys(LEADERBOARD_COLUMNS, np.nan)
        row.update(
            model=model,
            rating=rating,
            rating_low=rating - 20,
            rating_high=rating + 20,
            quality=quality,
            quality_low=quality - 0.5,
            quality_high=quality + 0.5,
            credit_per_call=credit,
            cost_per_call=credit / 200,
        )
        data.append(row)
    return pd.DataFrame(data, columns=LEADERBOARD_COLUMNS)


BOARD = _board(
    [
        ("openai/gpt-4o", 1080, 8.5, 1.0),
        ("openai/gpt-4o-mini", 1010, 7.0, 0.1),
        ("google/gemini-2.5-flash", 990, 7.5, 0.2),
        ("mistralai/mistral-large", 920, 6.0, 0.8),  # beaten on both counts
    ]
)


def test_short_names_never_collide() -> None:
    a = "provider/some-very-long-model-name-alpha-2025-01-01"
    b = "provider/some-very-long-model-name-omega-alpha-2025-01-01"
    assert plots._short(a) == plots._short(b)  # the plain shortening would merge them
    labels = short_names([a, b, "gpt-4o"])
    assert labels[a] != labels[b] and labels["gpt-4o"] == "gpt-4o"
    assert all(len(v) < len(k) for k, v in labels.items() if k != "gpt-4o")
    same_but_end = [f"x/{'m' * 40}-{i}" for i in range(12)]
    assert len(set(short_names(same_but_end).values())) == 12


def test_leaderboard_plot_best_on_top_with_intervals() -> None:
    ax = plots.leaderboard(BOARD, ax=_ax())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(short_names(BOARD["model"].tolist()).values())  # sorted by rating
    assert ax.yaxis_inverted()
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert list(np.asarray(points.get_offsets())[:, 0]) == [1080, 1010, 990, 920]
    bars = [c for c in ax.collections if c is not points]
    segments = bars[0].get_segments()  # type: ignore[attr-defined]
    assert tuple(segments[0][:, 0]) == (1060, 1100)
    assert "95%" in ax.get_xlabel()


def test_pareto_frontier() -> None:
    cost = [1.0, 0.1, 0.2, 0.8]
    quality = [8.5, 7.0, 7.5, 6.0]
    assert pareto_frontier(cost, quality) == [1, 2, 0]
    assert pareto_frontier([1, 1], [2, 3]) == [1]


def test_quality_vs_cost_one_point_per_model_and_the_frontier() -> None:
    ax = plots.quality_vs_cost(BOARD, ax=_ax())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]  # type: ignore[union-attr]
    assert legend[-1] == "Pareto frontier" and len(legend) == 5
    (front,) = [line for line in ax.get_lines() if line.get_label() == "Pareto frontier"]
    assert list(np.asarray(front.get_xdata(), dtype=float)) == [0.1, 0.2, 1.0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(np.asarray(c.get_offsets())) for c in points[:4]) == 4
    assert ax.get_xlabel() == "Credits per call"
    dollars = plots.quality_vs_cost(BOARD, value="cost", ax=_ax())
    assert dollars.get_xlabel() == "Cost (USD) per call"
    with pytest.raises(ValueError):
        plots.quality_vs_cost(BOARD, value="speed", ax=_ax())  # type: ignore[arg-type]


def test_new_plots_take_a_comparison_frame_and_say_no_data() -> None:
    df = pd.DataFrame(
        {
            "prompt": ["p", "p"],
            "model": ["a", "b"],
            "status": ["ok", "ok"],
            "credit": [0.5, 1.0],
            "cost": [0.01, 0.02],
            "latency_s": [1.0, 2.0],
            "ttft_s": [0.1, 0.2],
            "judge_score": [6.0, 9.0],
        }
    )
    ax = plots.quality_vs_cost(df, ax=_ax())
    (front,) = [line for line in ax.get_lines() if line.get_label() == "Pareto frontier"]
    assert list(np.asarray(front.get_ydata(), dtype=float)) == [6.0, 9.0]
    ax = plots.leaderboard(df, ax=_ax())  # no votes: no rating
    assert NO_DATA in [t.get_text() for t in ax.texts]
