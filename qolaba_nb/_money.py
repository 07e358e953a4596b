"""Credits and dollars as people read them: the one formatter every panel, message, export
and error uses.

* credits: up to 6 significant digits, never an exponent (``0.2042``, ``0.01016``,
  ``0.00001``, ``1234567``), so a credit the server reported reads as it came;
* dollars: 6 decimals (``$0.001021``), what one call's cost needs;
* an estimated amount (the server did not say: a stopped or cut stream) is marked
  ``≈… (estimated)``, so it is never mistaken for a reported one.
"""

from __future__ import annotations

import math

__all__ = ["credit_number", "format_credits", "format_money", "format_total"]


def credit_number(credit: float) -> str:
    """A number of credits, without the unit.

    Examples
    --------
    >>> credit_number(3.2), credit_number(5.0), credit_number(0.123456), credit_number(1e-05)
    ('3.2', '5', '0.123456', '0.00001')
    """
    text = f"{credit:.6g}"
    if "e" in text:  # very small or very large: plain digits, still 6 significant
        decimals = max(0, 5 - math.floor(math.log10(abs(credit))))
        text = f"{credit:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text


def format_credits(credit: float, *, estimated: bool = False) -> str:
    """``0.2042 credits``; estimated: ``≈0.07 credits (estimated)``."""
    if estimated:
        return f"≈{credit_number(credit)} credits (estimated)"
    return f"{credit_number(credit)} credits"


def format_total(credit: float, estimated: float = 0.0) -> str:
    """A sum of credits, saying how much of it is estimated: ``0.27 credits (≈0.07
    estimated)``; ``0.2 credits`` when none is."""
    note = f" (≈{credit_number(estimated)} estimated)" if estimated > 0 else ""
    return f"{format_credits(credit)}{note}"


def format_money(cost: float, *, estimated: bool = False) -> str:
    """Dollars: ``$0.001021``; estimated: ``≈$0.000350``."""
    return f"{'≈' if estimated else ''}${cost:.6f}"
