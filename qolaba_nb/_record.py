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

CallKind = Literal["chat", "stream"]
CallStatus = Literal["ok", "api_error", "connection_error", "cancelled", "truncated"]
CreditSource = Literal["reported", "estimated"]

#: One id per process: every record made by this process carries it.
SESSION_ID = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class CallRecord:
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
    """Credits a ledger has set aside for one call in flight."""

    id: int | str
    credits: float


class LedgerLike(Protocol):
    """What the client needs from a ledger."""

    def record(self, rec: CallRecord) -> None: ...

    def check_budget(self, *, tag: str | None = None) -> None:
        """Raise ``BudgetExceededError`` when a budget that covers this call is spent."""
        ...
