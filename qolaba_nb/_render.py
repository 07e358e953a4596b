"""Text and HTML for notebooks, from plain values (this module knows no package type).

Model output is untrusted: it reaches the page only through ``_markdown.render_markdown`` (raw
HTML escaped, no images, safe link schemes only), and everything else shown beside it (model
names, error messages, usage) is escaped. What goes out is HTML, not Markdown, so that no
Markdown renderer of the notebook gets a second go at it (Jupyter's would load images).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._money import format_credits, format_money

#: What a table or a stats line shows for a number nobody knows.
UNKNOWN = "–"


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def as_number(value: Any) -> float | None:
    """``value`` as a float; None when it is unknown (None, NaN, pandas' NA, not a number)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN is the one float not equal to itself


def format_number(value: Any, spec: str, unit: str = "") -> str:
    """A number for a table cell or a stats line: ``format(value, spec)`` and ``unit``;
    "–" when unknown (None, NaN, pandas' NA), as a frame's row may hold."""
    number = as_number(value)
    if number is None:
        return UNKNOWN
    return f"{int(number) if spec.endswith('d') else number:{spec}}{unit}"


def format_cell_credit(credit: Any, credit_source: Any) -> str:
    """A comparison cell's credits, marked when the client estimated them (a stopped or cut
    reply); "–" when unknown."""
    number = as_number(credit)
    if number is None:
        return UNKNOWN
    return format_credits(number, estimated=credit_source == "estimated")


def cell_stats(row: Mapping[str, Any]) -> str:
    """A comparison cell's numbers, from its row (``CompareCell.row()``, or a frame's row as a
    dict): ``0.2 credits · $0.001000 · 0.22 s · TTFT 0.10 s · 591 chars/s``.

    Plain text (escape it before putting it in HTML); "–" stands for a number not known.
    """
    cost = as_number(row.get("cost"))
    return " · ".join(
        [
            format_cell_credit(row.get("credit"), row.get("credit_source")),
            UNKNOWN if cost is None else format_money(cost),
            format_number(row.get("latency_s"), ".2f", " s"),
            "TTFT " + format_number(row.get("ttft_s"), ".2f", " s"),
            format_number(row.get("chars_per_s"), ".0f", " chars/s"),
        ]
    )


def usage_line(
    credit: float | None,
    cost: float | None,
    *,
    reported: bool,
    latency_s: float | None,
    ttft_s: float | None,
    estimated: bool = False,
) -> str:
    """``0.2 credits · $0.001000 · 0.22 s · first token 0.10 s``, from plain values.

    Parameters
    ----------
    credit, cost
        What the call cost, when known.
    reported
        Whether the server reported a usage at all ("no usage reported" when not).
    estimated
        Whether ``credit`` is the client's estimate ("≈0.07 credits (estimated)").
    latency_s, ttft_s
        Seconds to the whole reply and to its first token, when known.

    Returns
    -------
    str
        Plain text (escape it before putting it in HTML).
    """
    parts = []
    if credit is not None:
        parts.append(format_credits(credit, estimated=estimated))
    if cost is not None:
        parts.append(format_money(cost))
    if not reported:
        parts.append("no usage reported")
    if latency_s is not None:
        parts.append(f"{latency_s:.2f} s")
    if ttft_s is not None:
        parts.append(f"first token {ttft_s:.2f} s")
    return " · ".join(parts)


def reply_html(
    text: str,
    *,
    tool_calls: Sequence[tuple[str, str]] = (),
    error: tuple[str, str] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """A reply as safe HTML: model text through the one safe Markdown renderer.

    Parameters
    ----------
    text
        The model's text (untrusted Markdown); "" for none yet.
    tool_calls
        ``(name, arguments)`` of each tool call, shown as code.
    error
        ``(kind, message)`` of an error that ended the reply, shown after its partial text.
    notes
        Lines of plain text shown small under the reply (model and usage, budget, ...).

    Returns
    -------
    str
        HTML with no raw markup from the model, no image and no unsafe link.
    """
    from ._markdown import render_markdown  # the renderer imports this module's escape_html

    parts = [render_markdown(text)] if text else []
    for name, arguments in tool_calls:
        parts.append(
            f"<p><code>tool call</code> <code>{escape_html(name)}({escape_html(arguments)})"
            "</code></p>"
        )
    if error is not None:
        kind, message = error
        parts.append(f"<p><strong>{escape_html(kind)}:</strong> {escape_html(message)}</p>")
    for note in notes:
        parts.append(f'<div class="qnb-reply-note"><sub>{escape_html(note)}</sub></div>')
    return f'<div class="qnb-reply">{"".join(parts)}</div>'


def completion_html(
    text: str,
    *,
    model: str | None,
    tool_calls: Sequence[tuple[str, str]],
    credit: float | None,
    cost: float | None,
    reported: bool,
    latency_s: float | None,
    ttft_s: float | None,
    notes: Sequence[str] = (),
) -> str:
    """A finished reply with its model and usage line under it, as safe HTML.

    Parameters
    ----------
    text, tool_calls, notes
        As for ``reply_html``.
    model
        The model that answered.
    credit, cost, reported, latency_s, ttft_s
        As for ``usage_line``.

    Returns
    -------
    str
        What ``ChatCompletion._repr_html_`` and ``%%chat`` show.
    """
    meta = usage_line(credit, cost, reported=reported, latency_s=latency_s, ttft_s=ttft_s)
    return reply_html(text, tool_calls=tool_calls, notes=[f"{model or ''} · {meta}", *notes])
