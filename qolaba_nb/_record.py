"""What the client tells the ledger about one call (pure data, no I/O).

The client builds exactly one ``CallRecord`` per call that reached the network (validation and
budget refusals send nothing and are not recorded) and hands it to ``LedgerLike.record``.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from ._exceptions import APIConnectionError, IncompleteStreamError, QolabaError

CallKind = Literal["chat", "stream"]
CallStatus = Literal["ok", "api_error", "connection_error", "cancelled", "truncated"]
#: Where a record's credit comes from: the server's usage, or the client's estimate for a reply
#: that ended before its usage arrived. A record with ``credit`` None has source None.
CreditSource = Literal["reported", "estimated"]

#: One id per process: every record made by this process carries it.
SESSION_ID = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def status_of(err: QolabaError) -> CallStatus:
    """The ledger status of a call that failed with ``err`` (the one mapping of errors to
    statuses: the client's records and ``compare()``'s rows both use it).

    Returns
    -------
    {"truncated", "connection_error", "api_error"}
        ``IncompleteStreamError``: the reply was cut; ``APIConnectionError`` (and timeouts):
        the server could not be reached or stopped answering; anything else: ``api_error``.
    """
    if isinstance(err, IncompleteStreamError):
        return "truncated"
    if isinstance(err, APIConnectionError):
        return "connection_error"
    return "api_error"


@dataclass(slots=True)
class CallRecord:
    """One call as the ledger keeps it.

    Attributes
    ----------
    credit : float or None
        Credits charged: the server's figure (``credit_source="reported"``), the client's
        estimate for a stream that ended early (``"estimated"``), or None when nothing is known.
    credit_source : {"reported", "estimated"} or None
        Where ``credit`` comes from; None exactly when ``credit`` is None.
    replayed : bool
        True when ``Client(replay=...)`` served the call: it cost nothing and counts toward no
        budget, no ``spent()`` and no ``estimate()`` history.
    """

    model: str
    kind: CallKind
    status: CallStatus
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))  # when the call started
    http_status: int | None = None
    error: str | None = None
    credit: float | None = None  # None when the server sent no usage: never 0 for "unknown"
    cost: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_chars: int | None = None
    completion_chars: int | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    retries: int = 0
    params: dict[str, Any] = field(default_factory=dict)  # sampling parameters only
    session: str = SESSION_ID
    tag: str | None = None
    run_id: str | None = None
    prompt_text: str | None = None  # kept by the ledger only when it was made with store_text=True
    completion_text: str | None = None
    credit_source: CreditSource | None = None  # None: nothing known (credit is None)
    replayed: bool = False  # served by Client(replay=...): counts nowhere


@dataclass(frozen=True, slots=True)
class Hold:
    """Credits a ledger has set aside for one call in flight.

    Attributes
    ----------
    id : int or str
        The ledger's handle for the hold (a row id, for instance).
    credits : float
        How many credits are set aside.
    """

    id: int | str
    credits: float


class LedgerLike(Protocol):
    """What the client needs from a ledger.

    Before a call is sent the client asks ``hold`` for the call's reservation; when the call
    ends, ``record(rec, hold=h)`` turns the hold into the actual charge, or ``release(h)`` drops
    it when nothing was sent.
    """

    def record(self, rec: CallRecord, *, hold: Hold | None = None) -> None:
        """Write one call.

        In the same transaction: update the running totals and delete ``hold``. Must not block
        an event loop for long.
        """
        ...

    def hold(self, credits: float, *, tag: str | None = None) -> Hold | None:
        """Set ``credits`` aside for a call with ``tag``, atomically across processes.

        For every budget of this ledger covering the call, check that spent + live holds +
        ``credits`` <= budget, then insert a hold with a lease (it expires if its process dies).

        Returns
        -------
        Hold or None
            None when no budget covers the call (then no I/O).

        Raises
        ------
        BudgetExceededError
            Saying which budget refused and how much is spent; nothing is held then.
        """
        ...

    def release(self, hold: Hold) -> None:
        """Drop a hold whose call was never sent."""
        ...

    def expected_credit(self, model: str) -> float | None:
        """The 95th-percentile credit per call of ``model`` over its recent history.

        Reported, not replayed calls only; else the largest credit of any call in the ledger;
        else None.
        """
        ...

    def credit_fit(self, model: str) -> tuple[float, float] | None:
        """``(base credits per call, credits per completion character)`` for ``model``.

        Fitted on the model's reported history; None without enough history.
        """
        ...

    def budget_remaining(self, *, tag: str | None = None) -> tuple[float, float] | None:
        """``(credits left, budget)`` of the tightest budget covering a call with ``tag``.

        Live holds count as spent; None when no budget covers the call.
        """
        ...

    def check_budget(self, *, tag: str | None = None) -> None:
        """Raise ``BudgetExceededError`` when a budget that covers this call is spent."""
        ...
