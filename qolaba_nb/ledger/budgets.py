"""Budgets: which budgets cover a call, and the error that refuses one."""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import BudgetExceededError
from .._record import SESSION_ID

__all__ = ["Budget", "exceeded", "fmt_credits", "session_key"]


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


def fmt_credits(x: float) -> str:
    """Credits as short text: ``0.5``, ``1.2345``, ``3``."""
    return f"{x:.4f}".rstrip("0").rstrip(".")


def covering(budgets: list[Budget], tag: str | None) -> list[Budget]:
    """The budgets that guard a call with ``tag``, tag-specific ones first."""
    return sorted(
        (b for b in budgets if b.tag is None or b.tag == tag),
        key=lambda b: (b.tag is None, b.session is None),
    )


def exceeded(b: Budget, credit: float) -> BudgetExceededError:
    """The error refusing a call because ``b`` has ``credit`` spent."""
    if b.session is None:
        who = "in this ledger"
    elif b.session == SESSION_ID:
        who = "this session"
    else:
        who = f"by session {b.session!r}"
    tag_note = f" (tag {b.tag!r})" if b.tag is not None else ""
    return BudgetExceededError(
        f"Budget of {fmt_credits(b.credits)} credits spent: "
        f"{fmt_credits(credit)} credits used {who}{tag_note}. "
        "The call was not sent.",
        spent=credit,
        budget=b.credits,
    )
