"""``ClientSettings``: everything that makes a client what it is, in one frozen object.

A twin of a client (``AsyncClient.twin``, ``compare()``, the panels) is built from its
settings, so it talks to the same server with the same key, ledger and tag, and spends from the
same ``Budget`` object (held by reference, never copied): ``client.spent_credit`` counts the
spending of every twin.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Literal

import httpx

from . import _config
from ._budget import Budget, check_credits
from ._exceptions import ValidationError
from ._models import (
    check_api_key,
    check_base_url,
    check_headers,
    check_ledger,
    check_timeout,
)
from ._record import LedgerLike
from ._sse import DEFAULT_MAX_EVENT_BYTES

__all__ = ["DEFAULT_TIMEOUT", "ClientSettings"]

#: Qolaba gives upstream models 3 minutes before it answers 504; a read timeout below that
#: would cut answers the server is still willing to give.
DEFAULT_TIMEOUT = httpx.Timeout(240.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """The settings of a client, resolved and checked; what a twin copies.

    Build one with ``ClientSettings.resolve`` (what ``Client(...)`` does with its arguments);
    ``client.settings`` gives a client's.

    Attributes
    ----------
    api_key : Secret or None
        The key (never shown in a repr); None when none is set.
    base_url : str
        The API's base URL, without a trailing slash.
    timeout : httpx.Timeout
        Connect and read timeouts.
    max_retries : int
        Retries after a connection error or timeout, 429, 502, 503 or 504.
    headers : Mapping[str, str]
        Extra request headers (never ``Authorization``).
    ledger : LedgerLike, False or None
        Where calls are recorded: a ledger, False for none, None for the default ledger.
    tag : str or None
        The ledger tag of the calls.
    budget : Budget
        The credits every twin spends from (shared by reference). Its ``credits`` is None when
        no ``budget_credits`` was given: then it only counts.
    reserve_credits : float or None
        What each call reserves before it is sent; None: the ledger's expected credit for the
        model, else 1 credit.
    record, replay : path or None
        Record every exchange to this file, or serve them back from it.
    max_event_bytes : int
        The bound on one server-sent event (``EventTooLargeError`` past it); 16 MiB.
    """

    api_key: _config.Secret | None
    base_url: str
    timeout: httpx.Timeout
    max_retries: int
    headers: Mapping[str, str]
    ledger: LedgerLike | Literal[False] | None
    tag: str | None
    budget: Budget
    reserve_credits: float | None
    record: str | os.PathLike[str] | None
    replay: str | os.PathLike[str] | None
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        url = _config.mask_url(self.base_url)
        return f"ClientSettings(base_url={url!r}, api_key=<{key}>, tag={self.tag!r})"

    @classmethod
    def resolve(
        cls,
        api_key: str | _config.Secret | None = None,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,
        headers: Mapping[str, str] | None = None,
        ledger: LedgerLike | Literal[False] | None = None,
        tag: str | None = None,
        budget_credits: float | Budget | None = None,
        reserve_credits: float | None = None,
        record: str | os.PathLike[str] | None = None,
        replay: str | os.PathLike[str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> ClientSettings:
        """Check the arguments of ``Client(...)`` and fill in what the environment gives.

        Parameters
        ----------
        budget_credits
            A limit in credits (a new ``Budget``), or a ``Budget`` to share with other clients.
        reserve_credits
            What each call reserves before it is sent (see ``qolaba_nb._budget``).
        max_event_bytes
            The bound on one server-sent event, a positive integer.

        Other parameters are those of ``Client``.

        Raises
        ------
        ValidationError
            For a bad value, before anything is sent.
        """
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ValidationError("max_retries must be a non-negative integer", param="max_retries")
        if isinstance(budget_credits, Budget):
            budget = budget_credits
        else:
            if budget_credits is not None:
                check_credits(budget_credits, "budget_credits")
            budget = Budget(budget_credits)
        if reserve_credits is not None:
            reserve_credits = check_credits(reserve_credits, "reserve_credits")
        if record is not None and replay is not None:
            raise ValidationError("record= and replay= cannot be used together", param="replay")
        if (
            not isinstance(max_event_bytes, int)
            or isinstance(max_event_bytes, bool)
            or max_event_bytes < 1
        ):
            raise ValidationError(
                "max_event_bytes must be a positive integer", param="max_event_bytes"
            )
        check_timeout(timeout)
        check_ledger(ledger)
        key = _config.resolve_api_key(api_key)
        if key is not None:
            check_api_key(key.get())
        if replay is not None and key is None:
            key = _config.Secret("replay")  # a replay sends nothing anywhere
        return cls(
            api_key=key,
            base_url=check_base_url(
                _config.resolve_base_url(base_url) if isinstance(base_url, str | None) else base_url
            ),
            timeout=(
                timeout
                if isinstance(timeout, httpx.Timeout)
                else (DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout))
            ),
            max_retries=max_retries,
            headers=MappingProxyType(check_headers(headers)),
            ledger=ledger,
            tag=tag,
            budget=budget,
            reserve_credits=reserve_credits,
            record=record,
            replay=replay,
            max_event_bytes=max_event_bytes,
        )

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``Client(...)`` that make a twin: the same ``Budget`` object
        goes in ``budget_credits``, so the twin spends from it."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "budget"}
        out["headers"] = dict(self.headers)
        out["budget_credits"] = self.budget
        return out
