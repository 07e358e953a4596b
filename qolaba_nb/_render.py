"""Text for notebooks. Model output is untrusted: every ``<``, ``>`` and ``&`` it contains is
escaped before it reaches a Markdown or HTML renderer, so it can never become markup or script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import ChatCompletion, Usage


def escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_money(cost: float) -> str:
    """Dollars as every panel and export shows them: ``$0.000123``."""
    return f"${cost:.6f}"


def format_credits(credit: float) -> str:
    return f"{credit:g} credits"


def usage_line(usage: Usage | None, *, latency_s: float | None, ttft_s: float | None) -> str:
    parts = []
    if usage is not None and usage.credit is not None:
        parts.append(format_credits(usage.credit))
    if usage is not None and usage.cost is not None:
        parts.append(format_money(usage.cost))
    if usage is None:
        parts.append("no usage reported")
    if latency_s is not None:
        parts.append(f"{latency_s:.2f} s")
    if ttft_s is not None:
        parts.append(f"first token {ttft_s:.2f} s")
    return " · ".join(parts)


def completion_markdown(c: ChatCompletion) -> str:
    body = escape_html(c.text) if c.text else ""
    for call in c.tool_calls:
        fn = call.get("function") or {}
        body += f"\n\n`tool call` {escape_html(str(fn.get('name')))}"
        body += f"({escape_html(str(fn.get('arguments')))})"
    meta = usage_line(c.usage, latency_s=c.latency_s, ttft_s=c.ttft_s)
    return f"{body}\n\n<sub>{escape_html(c.model or '')} · {meta}</sub>"
