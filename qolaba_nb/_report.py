"""A comparison as one self-contained HTML file: ``report(df, "report.html")``.

The file holds everything inline and loads nothing: the prompts x models grid with the replies
(rendered by the one safe Markdown renderer, ``_markdown.render_markdown``: no raw HTML, no
images, safe links only), credit, cost, latency and TTFT per cell, the votes and judge scores,
the leaderboard, the charts as inline SVG, and the run's totals. A Content-Security-Policy of
``default-src 'none'`` makes the browser refuse any fetch even if something slipped through.
No script: the file is a document, not an app.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ._markdown import highlight_css, render_markdown
from ._money import credit_number
from ._render import UNKNOWN, as_number, cell_stats, escape_html, format_number

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["CSP", "report", "report_html"]

#: The page's Content-Security-Policy: inline styles, inline SVG, nothing fetched.
CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"

_CSS: Final = """
:root { color-scheme: light dark; --fg: #1b1b1b; --bg: #fff; --muted: #666; --line: #ddd;
  --cell: #fafafa; --ok: #2e7d32; --bad: #c62828; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e6e6; --bg: #161616; --muted: #a0a0a0;
  --line: #3a3a3a; --cell: #1f1f1f; } }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
  background: var(--bg); margin: 24px; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin: 28px 0 8px; }
.meta, .stats, .muted { color: var(--muted); font-size: 0.85em; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.grid { table-layout: fixed; width: 100%; }
table.grid td { background: var(--cell); border: 1px solid var(--line); }
.reply { overflow-wrap: anywhere; max-height: 28em; overflow: auto; }
.reply pre { white-space: pre-wrap; }
.status-bad { color: var(--bad); font-weight: 600; }
.best { color: var(--ok); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.charts figure { margin: 0; max-width: 560px; }
.charts svg { width: 100%; height: auto; }
"""


def _credits(value: Any) -> str:
    """A total of credits, as the one money formatter writes them; "–" when unknown."""
    number = as_number(value)
    return UNKNOWN if number is None else credit_number(number)


def _isna(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value)) if not isinstance(value, list | tuple) else False


def _svg(draw: Callable[[Axes], Any], prefix: str, size: tuple[float, float] = (6.4, 4.0)) -> str:
    """One chart as inline SVG markup (text as paths: no font is fetched); its ids start with
    ``prefix``, so that several charts in one page never share an id."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    draw(ax)
    fig.tight_layout()
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "qolaba-report"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)


def _cell(row: dict[Any, Any]) -> str:
    parts = []
    status = str(row.get("status"))
    text = row.get("text")
    if isinstance(text, str) and text:
        parts.append(f'<div class="reply">{render_markdown(text)}</div>')
    if status != "ok":
        error = row.get("error")
        detail = f": {error}" if isinstance(error, str) and error else ""
        parts.append(f'<div class="status-bad">{escape_html(status + detail)}</div>')
    parts.append(f'<div class="stats">{escape_html(cell_stats(row))}</div>')
    score = row.get("judge_score")
    if not _isna(score):
        reason = row.get("judge_reason")
        why = f" — {reason}" if isinstance(reason, str) and reason else ""
        parts.append(
            f'<div class="stats">Judge: {escape_html(format_number(score, "g"))}/10'
            f"{escape_html(why)}</div>"
        )
    rate = row.get("judge_win_rate")
    if not _isna(rate):
        parts.append(
            '<div class="stats">Judge pairwise win rate: '
            f"{escape_html(format_number(rate, '.0%'))}</div>"
        )
    judge_error = row.get("judge_error")
    if isinstance(judge_error, str) and judge_error:
        parts.append(f'<div class="stats">Judge: {escape_html(judge_error)}</div>')
    rank: Any = row.get("rank")
    choice = row.get("choice")
    if not _isna(choice):
        mark = str(choice)
        if choice in ("better", "rank"):
            place = None if _isna(rank) else int(rank)
            if choice == "better":
                mark = "voted best" if place == 1 else ""
            else:
                mark = f"ranked {place}" if place is not None else ""
        if mark:
            parts.append(f'<div class="best">Vote: {escape_html(mark)}</div>')
    return "".join(parts)


def _table(frame: pd.DataFrame, formats: dict[str, str]) -> str:
    head = "".join(
        f'<th class="{"num" if c in formats else ""}">{escape_html(c.replace("_", " "))}</th>'
        for c in frame.columns
    )
    body = []
    for row in frame.to_dict(orient="records"):
        cells = []
        for column in frame.columns:
            value = row[column]
            if column in formats:
                cells.append(
                    f'<td class="num">{escape_html(format_number(value, formats[column]))}</td>'
                )
            else:
                shown = "" if _isna(value) else str(value)
                cells.append(f"<td>{escape_html(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div style="overflow-x:auto"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def report_html(df: pd.DataFrame, *, title: str = "Model comparison", seed: int = 0) -> str:
    """The report of a comparison frame as one HTML document (see ``report``)."""
    from . import plots
    from ._leaderboard import leaderboard

    missing = [c for c in ("prompt", "model", "text", "status") if c not in df.columns]
    if missing:
        raise ValueError(
            f"report() needs the column(s) {missing}; the frame has {list(df.columns)}"
        )
    models = list(dict.fromkeys(str(m) for m in df["model"]))
    keys = ["prompt", "repeat"] if "repeat" in df.columns else ["prompt"]
    by_key: dict[tuple[Any, ...], dict[str, dict[Any, Any]]] = {}
    for row in df.to_dict(orient="records"):
        key = tuple(row[k] for k in keys)
        by_key.setdefault(key, {})[str(row["model"])] = row

    grid = ['<table class="grid"><thead><tr><th style="width:18%">Prompt</th>']
    grid += [f"<th>{escape_html(m)}</th>" for m in models]
    grid.append("</tr></thead><tbody>")
    for key, cells in by_key.items():
        prompt = escape_html(str(key[0]))
        if len(key) > 1 and df["repeat"].nunique() > 1:
            prompt += f' <span class="muted">(repeat {escape_html(str(key[1]))})</span>'
        grid.append(f"<tr><th>{prompt}</th>")
        grid += [f"<td>{_cell(cells[m]) if m in cells else ''}</td>" for m in models]
        grid.append("</tr>")
    grid.append("</tbody></table>")

    board = leaderboard(df, seed=seed)
    shown = board[
        [
            "model",
            "votes",
            "win_rate",
            "rating",
            "rating_low",
            "rating_high",
            "judge_score",
            "credit_per_call",
            "cost_per_call",
            "latency_median_s",
            "ttft_median_s",
            "quality_per_credit",
        ]
    ]
    board_html = _table(
        shown,
        {
            "votes": "d",
            "win_rate": ".0%",
            "rating": ".0f",
            "rating_low": ".0f",
            "rating_high": ".0f",
            "judge_score": ".2f",
            "credit_per_call": ".4g",
            "cost_per_call": ".6f",
            "latency_median_s": ".2f",
            "ttft_median_s": ".2f",
            "quality_per_credit": ".3g",
        },
    )

    charts = [("Quality per credit", lambda ax: plots.quality_vs_cost(board, ax=ax))]
    if board["rating"].notna().any():
        charts.append(("Leaderboard", lambda ax: plots.leaderboard(board, ax=ax)))
    charts.append(("Credits by model", lambda ax: plots.cost_by_model(df, value="credit", ax=ax)))
    if "latency_s" in df.columns and "cost" in df.columns:
        charts.append(("Latency vs cost", lambda ax: plots.latency_vs_cost(df, ax=ax)))
    figures = "".join(
        f"<figure>{_svg(draw, f'chart{i}')}"
        f"<figcaption class='muted'>{escape_html(name)}</figcaption></figure>"
        for i, (name, draw) in enumerate(charts)
    )

    votes_html = ""
    if "choice" in df.columns and df["choice"].notna().any():
        rows = []
        for _key, group in df[df["choice"].notna()].groupby(
            ["prompt", *(["run_id"] if "run_id" in df.columns else [])], sort=False
        ):
            prompt_of_vote = str(group["prompt"].iloc[0])
            choice = str(group["choice"].iloc[0])
            ranked = group[group["rank"].notna()].sort_values("rank", kind="stable")
            order = ", ".join(
                f"{int(r)}. {m}" for m, r in zip(ranked["model"], ranked["rank"], strict=True)
            )
            if choice == "better":
                order = ", ".join(str(m) for m in ranked.loc[ranked["rank"] == 1, "model"])
            shown_as = ", ".join(
                f"{lab} = {m}"
                for lab, m in zip(group.get("label", group["model"]), group["model"], strict=True)
            )
            rows.append(
                f"<tr><td>{escape_html(prompt_of_vote)}</td><td>{escape_html(choice)}</td>"
                f"<td>{escape_html(order)}</td><td class='muted'>{escape_html(shown_as)}</td></tr>"
            )
        votes_html = (
            "<h2>Votes</h2><table><thead><tr><th>Prompt</th><th>Choice</th><th>Best / ranking</th>"
            f"<th>Shown as</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    ok = int((df["status"] == "ok").sum())
    credit = float(df["credit"].sum()) if "credit" in df.columns else math.nan
    cost = float(df["cost"].sum()) if "cost" in df.columns else math.nan
    judge_credit = df.attrs.get("judge_credit")
    totals = [
        ("Prompts", str(df["prompt"].nunique())),
        ("Models", str(len(models))),
        ("Calls", f"{len(df)} ({ok} ok, {len(df) - ok} failed)"),
        ("Credits (replies)", _credits(credit)),
        ("Cost (replies, USD)", format_number(cost, ".6f")),
    ]
    if judge_credit is not None or "judge_credit" in df.columns:
        spent = judge_credit if judge_credit is not None else float(df["judge_credit"].sum())
        totals.append(("Credits (judge, apart)", _credits(spent)))
    run_ids = sorted({str(r) for r in df["run_id"].dropna()}) if "run_id" in df.columns else []
    if run_ids:
        totals.append(("Run", ", ".join(run_ids)))
    totals_html = "".join(
        f"<tr><th>{escape_html(k)}</th><td class='num'>{escape_html(v)}</td></tr>"
        for k, v in totals
    )
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape_html(title)}</title>"
        f"<style>{_CSS}{highlight_css('.reply')}</style></head><body>"
        f"<h1>{escape_html(title)}</h1>"
        f"<div class='meta'>qolaba_nb report, {escape_html(made)}</div>"
        f"<h2>Totals</h2><table>{totals_html}</table>"
        f"<h2>Leaderboard</h2>{board_html}"
        f"<h2>Charts</h2><div class='charts'>{figures}</div>"
        f"{votes_html}"
        f"<h2>Replies</h2>{''.join(grid)}"
        "</body></html>\n"
    )


def report(
    df: pd.DataFrame,
    path: str | os.PathLike[str] = "report.html",
    *,
    title: str = "Model comparison",
    seed: int = 0,
) -> Path:
    """Write a comparison as one self-contained HTML file that loads nothing.

    Parameters
    ----------
    df : pandas.DataFrame
        A comparison frame: ``acompare``'s, with judge columns (``judge``), or
        ``ComparePanel.results`` with its votes.
    path : str or os.PathLike, default "report.html"
        Where to write the file (replaced if it exists; parent directories are created).
    title : str, default "Model comparison"
        The page's title and heading.
    seed : int, default 0
        Seed of the leaderboard's bootstrap intervals.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        ``df`` lacks one of the columns ``prompt``, ``model``, ``text`` and ``status``
        (nothing is written).

    Examples
    --------
    >>> df = compare(["Name three rivers."], ["sim/echo", "sim/lorem"])  # doctest: +SKIP
    >>> report(judge(df, model="openai/gpt-4o"), "rivers.html", title="Rivers")  # doctest: +SKIP
    PosixPath('rivers.html')
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = report_html(df, title=title, seed=seed)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(target)  # a half-written report never replaces a good one
    return target
