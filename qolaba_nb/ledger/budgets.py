"""Budgets: which budgets cover a call, running totals, holds, and the error that refuses one.

Spending is read from the ``totals`` table (one row per budget scope, kept in the same
transaction as every insert, see ``m002_money``), never by scanning ``calls``. Holds are rows of
``holds``: credits set aside for a call in flight, with a lease. A hold whose lease ran out, or
whose process on this host is gone, counts for nothing and is deleted by the next hold.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._exceptions import BudgetExceededError
from .._money import credit_number
from .._record import SESSION_ID
from .records import _INSERT_COLUMNS

__all__ = [
    "DEFAULT_HOLD_LEASE_S",
    "Budget",
    "covering",
    "exceeded",
    "scope",
    "session_key",
    "totals_deltas",
]

#: How long a hold lasts when its process neither records nor releases it (seconds). Longer
#: than any one call (the client's read timeout is a few minutes); a process that dies on this
#: host frees its holds at once anyway.
DEFAULT_HOLD_LEASE_S: Final = 900.0

#: This machine, as written in ``holds.host``.
HOST: Final = socket.gethostname()

ANY: Final = "*"


@dataclass(frozen=True, slots=True)
class Budget:
    """A limit on the credits of a session (None: every session) and a tag (None: every tag)."""

    credits: float
    session: str | None
    tag: str | None


def session_key(session: str | None) -> str | None:
    """``session=`` as stored: ``None``/``"current"`` is this process, ``"all"`` is None."""
    if session is None or session == "current":
        return SESSION_ID
    if session == "all":
        return None
    return session


def covering(budgets: Iterable[Budget], tag: str | None) -> list[Budget]:
    """The budgets that guard a call with ``tag``, tag-specific ones first."""
    return sorted(
        (b for b in budgets if b.tag is None or b.tag == tag),
        key=lambda b: (b.tag is None, b.session is None),
    )


def _who(b: Budget) -> str:
    if b.session is None:
        who = "in this ledger"
    elif b.session == SESSION_ID:
        who = "this session"
    else:
        who = f"by session {b.session!r}"
    return who + (f" (tag {b.tag!r})" if b.tag is not None else "")


def exceeded(
    b: Budget, credit: float, *, held: float = 0.0, asked: float | None = None
) -> BudgetExceededError:
    """The error refusing a call because ``b`` has ``credit`` spent and ``held`` reserved.

    Parameters
    ----------
    b
        The budget that refuses the call.
    credit
        Credits already spent in the budget's scope.
    held
        Credits held by other calls in flight in that scope.
    asked
        The credits this call asked to hold; None when the budget is simply used up.
    """
    in_flight = f", {credit_number(held)} more held by calls in flight" if held > 0 else ""
    if asked is None:
        head = f"Budget of {credit_number(b.credits)} credits spent: "
        tail = ""
    else:
        head = f"Budget of {credit_number(b.credits)} credits would be exceeded: "
        tail = f"; this call needs up to {credit_number(asked)}"
    return BudgetExceededError(
        f"{head}{credit_number(credit)} credits used {_who(b)}{in_flight}{tail}. "
        "The call was not sent.",
        spent=credit,
        budget=b.credits,
    )


# ---- running totals ------------------------------------------------------------------------


def scope(session: str | None, tag: str | None) -> tuple[str, str]:
    """The ``totals`` key of a budget scope (None: every session / every tag)."""
    return (ANY if session is None else "=" + session, ANY if tag is None else "=" + tag)


_I_CREDIT: Final = _INSERT_COLUMNS.index("credit")
_I_COST: Final = _INSERT_COLUMNS.index("cost")
_I_SESSION: Final = _INSERT_COLUMNS.index("session")
_I_TAG: Final = _INSERT_COLUMNS.index("tag")
_I_SOURCE: Final = _INSERT_COLUMNS.index("credit_source")
_I_REPLAYED: Final = _INSERT_COLUMNS.index("replayed")

#: One scope's increments; works as written in SQLite and PostgreSQL.
UPSERT_TOTALS: Final = """
INSERT INTO totals (scope_session, scope_tag, credit, estimated_credit, cost, max_credit)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (scope_session, scope_tag) DO UPDATE SET
    credit = totals.credit + excluded.credit,
    estimated_credit = totals.estimated_credit + excluded.estimated_credit,
    cost = totals.cost + excluded.cost,
    max_credit = CASE
        WHEN totals.max_credit IS NULL OR excluded.max_credit > totals.max_credit
        THEN COALESCE(excluded.max_credit, totals.max_credit)
        ELSE totals.max_credit END
"""


def totals_deltas(rows: Sequence[Sequence[Any]]) -> list[tuple[str, str, float, float, float, Any]]:
    """The :data:`UPSERT_TOTALS` arguments for inserting ``rows`` (encoded ``calls`` rows).

    Replayed rows and rows with neither credit nor cost change nothing.
    """
    acc: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        if row[_I_REPLAYED]:
            continue
        credit, cost = row[_I_CREDIT], row[_I_COST]
        if credit is None and cost is None:
            continue
        credit = float(credit or 0.0)
        estimated = credit if row[_I_SOURCE] == "estimated" else 0.0
        reported = row[_I_CREDIT] if row[_I_SOURCE] == "reported" else None
        session, tag = row[_I_SESSION], row[_I_TAG]
        keys = [(ANY, ANY), ("=" + session, ANY)]
        if tag is not None:
            keys += [(ANY, "=" + tag), ("=" + session, "=" + tag)]
        for key in keys:
            a = acc.setdefault(key, [0.0, 0.0, 0.0, None])
            a[0] += credit
            a[1] += estimated
            a[2] += float(cost or 0.0)
            if reported is not None and (a[3] is None or reported > a[3]):
                a[3] = reported
    return [(k[0], k[1], a[0], a[1], a[2], a[3]) for k, a in acc.items()]


# ---- holds ---------------------------------------------------------------------------------


def held_query(session: str | None, tag: str | None, now: float) -> tuple[str, list[Any]]:
    """``SELECT`` of the credits held by live holds in a budget scope."""
    sql = "SELECT COALESCE(SUM(credits), 0.0) FROM holds WHERE expires_at >= ?"
    args: list[Any] = [now]
    if session is not None:
        sql += " AND session = ?"
        args.append(session)
    if tag is not None:
        sql += " AND tag = ?"
        args.append(tag)
    return sql, args


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie does not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return True  # cannot tell (e.g. Windows): let the lease decide
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
            return state not in (b"Z", b"X")
        except (OSError, IndexError):
            return False
    return True
