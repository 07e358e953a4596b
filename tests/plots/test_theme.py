"""Charts that follow the notebook's theme: transparent, text in the theme's colour."""

from __future__ import annotations

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qolaba_nb import plots


def figure() -> Figure:
    fig = Figure(figsize=(4, 3))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    df = pd.DataFrame({"model": ["a/x", "b/<script>y"], "credit": [1.0, 2.0], "cost": [0.1, 0.2]})
    plots.cost_by_model(df, ax=ax)
    return fig


def test_theme_figure_is_transparent_with_grey_text() -> None:
    fig = plots.theme_figure(figure())
    ax = fig.axes[0]
    assert fig.patch.get_alpha() == 0.0 and tuple(ax.get_facecolor())[3] == 0.0
    grey = (140 / 255, 140 / 255, 140 / 255, 1.0)
    assert ax.yaxis.label.get_color() == plots.THEME_GREY
    assert all(tuple(s.get_edgecolor()) == grey for s in ax.spines.values())


def test_themed_svg_uses_the_theme_colour_and_no_markup_from_the_data() -> None:
    svg = plots.themed_svg(figure())
    assert svg.startswith("<svg")
    assert plots.THEME_TEXT_CSS in svg
    assert "<script" not in svg and "#ffffff" not in svg.lower()
