"""One budget of credits, shared by every twin of a client, reserved before each call is sent.

How a call pays (the one place this policy lives; ``_client`` follows it):

1. Before anything is sent, the call's expected credit is **reserved**: ``reserve_credits=`` on
   the call, else ``Client(reserve_credits=)``, else the ledger's ``expected_credit(model)``
   (the model's 95th-percentile credit per call), else ``DEFAULT_RESERVATION`` (1 credit). See
   ``reservation_amount``.
2. The reservation is taken from the client's ``Budget`` and then held in the ledger
   (``LedgerLike.hold``, atomic across processes). If either refuses, ``BudgetExceededError``
   says which budget and how much is spent, the other reservation is undone, and nothing is
   sent.
3. When the call ends, the reservation becomes the actual charge: the server's credit
   (``credit_source="reported"``), or an estimate for a reply that ended before its usage
   arrived (``"estimated"``; see ``estimate_credit``). A call the server never answered
   charges nothing.

The guarantee: **whenever each call costs no more than its reservation, the total spent never
exceeds the budget**, at any concurrency (threads, tasks, twins on other loops) and, through the
ledger's holds, in several processes sharing a ledger. Otherwise the overshoot is at most the
sum of (actual - reserved) over the calls in flight.

A replayed call (``Client(replay=...)``) cost nothing: it reserves nothing and counts nowhere.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._exceptions import BudgetExceededError, ValidationError
from ._money import credit_number

if TYPE_CHECKING:
    from ._client import _BaseClient
    from ._record import LedgerLike

__all__ = [
    "DEFAULT_RESERVATION",
    "Budget",
    "BudgetStatus",
    "Reservation",
    "budget_status",
    "check_credits",
    "estimate_credit",
    "reservation_amount",
]

#: What a call reserves when neither the caller nor the ledger's history says more.
DEFAULT_RESERVATION = 1.0


def check_credits(value: object, param: str) -> float:
    """``value`` as a float of credits >= 0, or a ``ValidationError`` naming ``param``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValidationError(f"{param} must be a number of credits >= 0", param=param)
    if math.isinf(value):
        raise ValidationError(f"{param} must be finite", param=param)
    return float(value)


class Budget:
    """Credits that every twin of a client spends from, reserved before each call is sent.

    ``Client(budget_credits=5)`` makes one; ``client.budget`` exposes it, and
    ``AsyncClient.twin``, ``compare()``, the panels and ``%%chat`` share it by reference. A
    ``Budget`` can also be given to several clients: ``Client(budget_credits=budget)``.

    Thread-safe and loop-safe: every method takes a lock for a few arithmetic operations and
    never waits on I/O, so it may be called from any thread or event loop.

    Parameters
    ----------
    credits
        The limit in credits; None counts spending without a limit (what a client without
        ``budget_credits`` uses, so that ``spent_credit`` is shared all the same).

    Examples
    --------
    >>> budget = Budget(5)
    >>> r = budget.reserve(0.5)
    >>> budget.reserved, budget.remaining
    (0.5, 4.5)
    >>> r.settle(0.25)
    >>> budget.spent, budget.reserved, budget.remaining
    (0.25, 0.0, 4.75)
    """

    def __init__(self, credits: float | None = None) -> None:
        self._credits = None if credits is None else check_credits(credits, "budget_credits")
        self._lock = threading.Lock()
        self._spent = 0.0
        self._spent_cost = 0.0
        self._reserved = 0.0
        self._live = 0  # reservations not yet settled or released

    def __repr__(self) -> str:
        limit = "no limit" if self._credits is None else f"credits={self._credits:g}"
        return f"<Budget {limit} spent={self._spent:g} reserved={self._reserved:g}>"

    @property
    def credits(self) -> float | None:
        """The limit in credits (None: no limit, spending is only counted)."""
        return self._credits

    @property
    def spent(self) -> float:
        """Credits charged so far: reported by the server, or estimated (never replayed)."""
        return self._spent

    @property
    def spent_cost(self) -> float:
        """USD charged so far, where the server reported a cost."""
        return self._spent_cost

    @property
    def reserved(self) -> float:
        """Credits set aside for the calls in flight."""
        return self._reserved

    @property
    def remaining(self) -> float:
        """Credits a new call may still reserve: limit - spent - reserved (inf without limit)."""
        if self._credits is None:
            return math.inf
        return max(0.0, self._credits - self._spent - self._reserved)

    def reserve(self, amount: float) -> Reservation:
        """Set ``amount`` credits aside for one call, or refuse it.

        Parameters
        ----------
        amount
            The credits the call is expected to cost (see ``reservation_amount``).

        Returns
        -------
        Reservation
            ``settle()`` it with the actual charge when the call ends, or ``release()`` it
            when the call was never sent.

        Raises
        ------
        BudgetExceededError
            When ``spent + reserved + amount`` would exceed the limit; nothing is reserved.
        """
        amount = check_credits(amount, "reserve_credits")
        with self._lock:
            if self._credits is not None and self._spent + self._reserved + amount > self._credits:
                spent, reserved = self._spent, self._reserved
                in_flight = (
                    f" and {credit_number(reserved)} reserved by calls in flight"
                    if reserved
                    else ""
                )
                raise BudgetExceededError(
                    f"Client budget of {credit_number(self._credits)} credits: "
                    f"{credit_number(spent)} spent{in_flight}, so this call's reservation of "
                    f"{credit_number(amount)} credits does not fit. The call was not sent. "
                    "(A call reserves its expected credit first; set reserve_credits= to "
                    "change that.)",
                    spent=spent,
                    budget=self._credits,
                )
            self._reserved += amount
            self._live += 1
        return Reservation(self, amount)

    def _end(self, amount: float, credit: float | None, cost: float | None) -> None:
        with self._lock:
            self._live -= 1
            # Sums of floats drift; with nothing in flight the reservation is exactly zero.
            self._reserved = self._reserved - amount if self._live else 0.0
            if credit is not None and math.isfinite(credit):
                self._spent += credit
            if cost is not None and math.isfinite(cost):
                self._spent_cost += cost


class Reservation:
    """Credits set aside in a ``Budget`` for one call; ended exactly once.

    The first ``settle`` or ``release`` ends it; later calls do nothing, so every path out of
    a call may end it without counting twice.
    """

    __slots__ = ("_budget", "_done", "_lock", "amount")

    def __init__(self, budget: Budget, amount: float) -> None:
        self._budget = budget
        self.amount = amount
        self._done = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "ended" if self._done else "live"
        return f"<Reservation {credit_number(self.amount)} credits {state}>"

    @property
    def done(self) -> bool:
        """True once settled or released."""
        return self._done

    def _take(self) -> bool:
        with self._lock:
            if self._done:
                return False
            self._done = True
            return True

    def settle(self, credit: float | None, cost: float | None = None) -> None:
        """The call ended: the reservation becomes its actual charge.

        Parameters
        ----------
        credit
            Credits charged (reported or estimated); None when nothing is known, which
            charges nothing.
        cost
            USD charged, when the server said.
        """
        if self._take():
            self._budget._end(self.amount, credit, cost)

    def release(self) -> None:
        """The call was never sent: give the credits back."""
        if self._take():
            self._budget._end(self.amount, None, None)


def reservation_amount(
    model: str,
    *,
    call: float | None,
    client: float | None,
    ledger: LedgerLike | None,
) -> float:
    """What a call reserves before it is sent.

    Parameters
    ----------
    model
        The model called.
    call, client
        ``reserve_credits=`` given to the call, and to the client.
    ledger
        The client's ledger, whose ``expected_credit(model)`` is the model's 95th-percentile
        credit per call (or the largest credit of any call in the ledger).

    Returns
    -------
    float
        The first of ``call``, ``client``, the ledger's expected credit, and
        ``DEFAULT_RESERVATION`` (1 credit) that is known.
    """
    if call is not None:
        return call
    if client is not None:
        return client
    if ledger is not None:
        expected = ledger.expected_credit(model)
        if expected is not None and math.isfinite(expected) and expected >= 0:
            return float(expected)
    return DEFAULT_RESERVATION


def estimate_credit(
    model: str, completion_chars: int, *, reserved: float | None, ledger: LedgerLike | None
) -> float | None:
    """The credit of a reply that ended before the server reported its usage.

    Parameters
    ----------
    model
        The model called.
    completion_chars
        Characters of the reply received.
    reserved
        What the call reserved (None for a call that reserved nothing).
    ledger
        Its ``credit_fit(model)`` gives (base, per character), fitted on reported history.

    Returns
    -------
    float or None
        ``base + per_char * completion_chars`` when the ledger has a fit, else ``reserved``.
    """
    fit = ledger.credit_fit(model) if ledger is not None else None
    if fit is not None:
        base, per_char = fit
        estimate = float(base) + float(per_char) * completion_chars
        if math.isfinite(estimate) and estimate >= 0:
            return round(estimate, 6)
    return reserved


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """What is left of the tightest budget covering a client's calls (for the meters).

    Attributes
    ----------
    left : float
        Credits a new call may still reserve.
    total : float
        The budget.
    source : str
        Which budget: ``"client budget"`` or ``"ledger budget"``.
    text : str
        For people: ``"3.2 of 5 credits left"``.
    """

    left: float
    total: float
    source: str
    text: str

    @property
    def fraction(self) -> float:
        """``left / total`` between 0 and 1 (0 for a budget of 0)."""
        return min(1.0, max(0.0, self.left / self.total)) if self.total > 0 else 0.0


def _status(left: float, total: float, source: str) -> BudgetStatus:
    left = max(0.0, left)
    text = f"{credit_number(left)} of {credit_number(total)} credits left"
    return BudgetStatus(left, total, source, text)


def budget_status(client: _BaseClient, *, tag: str | None = None) -> BudgetStatus | None:
    """The tightest budget covering ``client``'s calls, or None when no budget is set.

    Parameters
    ----------
    client
        A ``Client`` or ``AsyncClient``; its own ``budget`` and its ledger's budgets count.
    tag
        The ledger tag of the calls (default: the client's).

    Returns
    -------
    BudgetStatus or None
        The budget with the fewest credits left (reservations of calls in flight count as
        spent).
    """
    found: list[BudgetStatus] = []
    budget = client.budget
    if budget is not None and budget.credits is not None:
        found.append(_status(budget.remaining, budget.credits, "client budget"))
    ledger = client.ledger
    if ledger is not None:
        remaining = ledger.budget_remaining(tag=tag if tag is not None else client.tag)
        if remaining is not None:
            found.append(_status(remaining[0], remaining[1], "ledger budget"))
    return min(found, key=lambda s: s.left) if found else None
