"""What is left of the budget, for the panels' headers; and the estimate before a comparison.

``BudgetMeter`` shows "3.2 of 5 credits left" with a small bar, for the tightest budget covering
the panel's calls (the client's ``Budget`` or a ledger budget; see ``qolaba_nb.budget_status``),
and nothing when no budget is set. The panels call ``refresh()`` after every reply and every
refused call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import ipywidgets as w

from .._budget import BudgetStatus, budget_status
from .._money import credit_number
from .._render import escape_html

if TYPE_CHECKING:
    from .._client import _BaseClient

__all__ = ["BudgetMeter", "estimate_text", "meter_html"]

log = logging.getLogger("qolaba_nb")


def meter_html(status: BudgetStatus | None) -> str:
    """The meter's HTML: a bar and "3.2 of 5 credits left"; empty without a budget.

    Parameters
    ----------
    status
        From ``budget_status``; None when no budget covers the calls.
    """
    if status is None:
        return ""
    fraction = status.fraction
    color = "#2e7d32" if fraction > 0.25 else ("#e65100" if fraction > 0 else "#c62828")
    bar = (
        '<span style="display:inline-block;width:60px;height:6px;background:#ddd;'
        'border-radius:3px;vertical-align:middle;margin-right:6px;overflow:hidden">'
        f'<span style="display:block;height:100%;width:{fraction * 100:.0f}%;'
        f'background:{color}"></span></span>'
    )
    return (
        f'<span class="qnb-budget-meter" title="{escape_html(status.source)}" '
        f'style="font-size:0.9em;color:#555">{bar}{escape_html(status.text)}</span>'
    )


class BudgetMeter(w.HTML):  # type: ignore[misc]
    """A small meter of what is left of the budget covering a client's calls.

    Parameters
    ----------
    client
        The panel's client; its ``budget`` and its ledger's budgets count.
    tag
        The ledger tag of the panel's calls (default: the client's).

    Examples
    --------
    >>> meter = BudgetMeter(client)  # doctest: +SKIP
    >>> meter.refresh().text  # doctest: +SKIP
    '3.2 of 5 credits left'
    """

    def __init__(self, client: _BaseClient, *, tag: str | None = None) -> None:
        super().__init__()
        self.client = client
        self.tag = tag
        self.status: BudgetStatus | None = None
        self.add_class("qnb-budget-meter-box")
        self.refresh()

    def __repr__(self) -> str:
        return f"<BudgetMeter {self.status.text if self.status else 'no budget'}>"

    def refresh(self) -> BudgetStatus | None:
        """Read the budgets again and show what is left; returns the status shown."""
        try:
            self.status = budget_status(self.client, tag=self.tag)
        except Exception:  # a ledger that cannot answer must not break the panel
            log.warning("could not read the budget", exc_info=True)
            return self.status
        self.value = meter_html(self.status)
        return self.status


def estimate_text(
    client: _BaseClient, models: Sequence[str], *, prompts: int = 1, name_models: bool = True
) -> str:
    """What a comparison will cost, from the ledger's history, in one line.

    Parameters
    ----------
    client
        Its ledger holds the history; a client without a ``UsageLedger`` gives "".
    models
        The models of the comparison.
    prompts
        Prompts sent to each model.
    name_models
        Name the models without history. False in a blind comparison, where the line counts
        them instead, so that no model name shows before the vote.

    Returns
    -------
    str
        "about 0.8 credits for 4 calls, from 37 past calls", and "no history for x/y" for
        the models the ledger has never seen answer.
    """
    from ..comparison import estimate
    from ..ledger import UsageLedger

    ledger = client.ledger
    if not isinstance(ledger, UsageLedger) or not models:
        return ""
    frame = estimate(["?"] * prompts, list(models), ledger=ledger)
    known = frame[frame["calls"] > 0]
    unknown = [str(m) for m in frame.index[frame["calls"] == 0]]
    parts = []
    if len(known):
        calls = prompts * len(known)
        past = int(known["calls"].sum())
        total = float(known["expected_credit"].sum())
        parts.append(
            f"about {credit_number(total)} credits for {calls} call{'s' if calls != 1 else ''}, "
            f"from {past} past call{'s' if past != 1 else ''}"
        )
    if unknown:
        if name_models:
            parts.append(f"no history for {', '.join(unknown)}")
        else:
            parts.append(f"no history for {len(unknown)} of the {len(frame)} models")
    return "; ".join(parts)
