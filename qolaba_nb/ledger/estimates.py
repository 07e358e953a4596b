"""What a call is likely to cost, from the ledger's own history (pure arithmetic, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["HISTORY_CALLS", "MIN_FIT_CALLS", "fit_line", "percentile"]

#: How many of a model's most recent reported calls make its history.
HISTORY_CALLS: Final = 200
#: Fewer reported calls than this (with at least two reply lengths) give no fit.
MIN_FIT_CALLS: Final = 3


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly as numpy does."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares ``(base, per_unit)`` with ``y = base + per_unit * x``, both kept >= 0.

    None with fewer than :data:`MIN_FIT_CALLS` points or a single distinct ``x``.
    """
    n = len(xs)
    if n < MIN_FIT_CALLS or len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    base = my - slope * mx
    if slope < 0:  # longer replies never cost less: a flat price per call
        return (max(my, 0.0), 0.0)
    if base < 0:  # through the origin instead
        sxx0 = sum(x * x for x in xs)
        return (0.0, sum(x * y for x, y in zip(xs, ys, strict=True)) / sxx0)
    return (base, slope)
