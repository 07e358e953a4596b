"""qolaba_nb: chat with, compare and pay for Qolaba's models from Jupyter.

``import qolaba_nb`` stays light (httpx only): the ledger's pandas, the plots' matplotlib and the
widgets' ipywidgets load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._budget import Budget, BudgetStatus, budget_status
from ._client import AsyncChatStream, AsyncClient, ChatStream, Client
from ._connect import aconnect, connect, login
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    EventTooLargeError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    QolabaError,
    RateLimitError,
    ReplayMissError,
    StreamError,
    UpstreamError,
    UpstreamTimeoutError,
    ValidationError,
)
from ._models import ChatChunk, ChatCompletion, Choice, Model, Usage
from ._record import CallRecord
from ._settings import ClientSettings
from ._types import ChatPanelParams, SamplingParams

if TYPE_CHECKING:
    from ._judge import ajudge, judge
    from ._leaderboard import leaderboard
    from ._report import report
    from .comparison import acompare, compare, estimate
    from .ledger import UsageLedger
    from .simulator import Simulator
    from .widgets import ChatPanel, ComparePanel, UsageDashboard

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChatStream",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Budget",
    "BudgetExceededError",
    "BudgetStatus",
    "CallRecord",
    "ChatChunk",
    "ChatCompletion",
    "ChatPanel",
    "ChatPanelParams",
    "ChatStream",
    "Choice",
    "Client",
    "ClientSettings",
    "ComparePanel",
    "EventTooLargeError",
    "IncompleteStreamError",
    "InternalServerError",
    "Model",
    "NotFoundError",
    "PermissionDeniedError",
    "QolabaError",
    "RateLimitError",
    "ReplayMissError",
    "SamplingParams",
    "Simulator",
    "StreamError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "Usage",
    "UsageDashboard",
    "UsageLedger",
    "ValidationError",
    "__version__",
    "acompare",
    "aconnect",
    "ajudge",
    "budget_status",
    "compare",
    "connect",
    "estimate",
    "judge",
    "leaderboard",
    "login",
    "report",
]

# Heavy or optional parts, imported on first use (PEP 562).
_LAZY = {
    "ChatPanel": "qolaba_nb.widgets",
    "ComparePanel": "qolaba_nb.widgets",
    "Simulator": "qolaba_nb.simulator",
    "UsageDashboard": "qolaba_nb.widgets",
    "UsageLedger": "qolaba_nb.ledger",
    "acompare": "qolaba_nb.comparison",
    "ajudge": "qolaba_nb._judge",
    "compare": "qolaba_nb.comparison",
    "estimate": "qolaba_nb.comparison",
    "judge": "qolaba_nb._judge",
    "leaderboard": "qolaba_nb._leaderboard",
    "report": "qolaba_nb._report",
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext qolaba_nb``: the ``%%chat`` and ``%qolaba`` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'qolaba_nb' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
