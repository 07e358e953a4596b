"""``connect()`` and ``login()``: a client for the real API when a key is set, else the simulator.

Notebooks call ``qolaba_nb.connect()`` so that they run anywhere: with ``QOLABA_API_KEY`` set
(environment or ``.env``) they talk to Qolaba; without it they start the built-in simulator
once per process and say so in one visible line.
"""

from __future__ import annotations

import getpass
import os
import threading
from typing import TYPE_CHECKING, Any

from . import _config
from ._client import AsyncClient, Client

if TYPE_CHECKING:
    from .simulator import Simulator

#: Set by ``qolaba-nb lab`` and the test suite for kernels whose QOLABA_BASE_URL is a simulator.
SIMULATOR_ENV = "QOLABA_SIMULATOR"

_lock = threading.Lock()
_simulator: Simulator | None = None


def _shared_simulator() -> Simulator:
    global _simulator
    with _lock:
        if _simulator is None:
            from .simulator import Simulator

            _simulator = Simulator()
            _simulator.start()
        return _simulator


def _settings(**kwargs: Any) -> tuple[dict[str, Any], str]:
    """Client arguments, and the one line that says where they point."""
    if kwargs.get("api_key") or _config.resolve_api_key(None) is not None:
        base_url = _config.resolve_base_url(kwargs.get("base_url"))
        if os.environ.get(SIMULATOR_ENV) and not kwargs.get("api_key"):
            return kwargs, f"Using the built-in Qolaba simulator at {base_url} (offline)."
        return kwargs, f"Using the Qolaba API at {base_url}."
    sim = _shared_simulator()
    line = (
        f"QOLABA_API_KEY is not set: using the built-in Qolaba simulator at {sim.base_url} "
        "(offline; answers and credits are simulated)."
    )
    return {**kwargs, "api_key": sim.api_key, "base_url": sim.base_url}, line


def connect(*, quiet: bool = False, **kwargs: Any) -> Client:
    """A ``Client`` for the real API when a key is set, else for the built-in simulator.

    Keyword arguments go to ``Client`` (``ledger=``, ``tag=``, ``budget_credits=``, ...).
    """
    settings, line = _settings(**kwargs)
    if not quiet:
        print(line)
    return Client(**settings)


def aconnect(*, quiet: bool = False, **kwargs: Any) -> AsyncClient:
    """``connect()`` for asyncio code: an ``AsyncClient``."""
    settings, line = _settings(**kwargs)
    if not quiet:
        print(line)
    return AsyncClient(**settings)


def login(prompt: str = "Qolaba API key (input hidden): ") -> None:
    """Ask for the API key without echoing it and keep it in this process's environment only.

    Nothing is printed, returned or written to disk, so the key never lands in a notebook.
    """
    key = getpass.getpass(prompt).strip()
    if not key:
        raise ValueError("no key entered")
    os.environ[_config.API_KEY_ENV] = key
    os.environ.pop(SIMULATOR_ENV, None)
    print("Key set for this session.")
