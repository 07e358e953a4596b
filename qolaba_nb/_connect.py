"""``connect()`` and ``login()``: a client for the real API when a key is set, else the simulator.

Notebooks call ``qolaba_nb.connect()`` so that they run anywhere: with ``QOLABA_API_KEY`` set
(environment or ``.env``) they talk to Qolaba; without it they start the built-in simulator
once per process and say so in one visible line.
"""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import httpx

from . import _config
from ._budget import Budget
from ._client import AsyncClient, Client
from ._record import LedgerLike
from ._sse import DEFAULT_MAX_EVENT_BYTES

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


def _target(
    api_key: str | _config.Secret | None, base_url: str | None
) -> tuple[str | _config.Secret | None, str | None, str]:
    """The key and URL a client gets, and the one line that says where they point."""
    if api_key or _config.resolve_api_key(None) is not None:
        url = _config.resolve_base_url(base_url)
        if os.environ.get(SIMULATOR_ENV) and not api_key:
            return api_key, base_url, f"Using the built-in Qolaba simulator at {url} (offline)."
        return api_key, base_url, f"Using the Qolaba API at {url}."
    sim = _shared_simulator()
    line = (
        f"QOLABA_API_KEY is not set: using the built-in Qolaba simulator at {sim.base_url} "
        "(offline; answers and credits are simulated)."
    )
    return sim.api_key, sim.base_url, line


def connect(
    *,
    api_key: str | _config.Secret | None = None,
    base_url: str | None = None,
    quiet: bool = False,
    transport: httpx.BaseTransport | None = None,
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
) -> Client:
    """A ``Client`` for the real API when a key is set, else for the built-in simulator.

    Notebooks start with ``client = qolaba_nb.connect()`` so that they run anywhere: with
    ``QOLABA_API_KEY`` set (environment or a ``.env`` file) the client talks to Qolaba;
    without it, the built-in simulator is started (once per process, on 127.0.0.1) and the
    client talks to it. One line says which. The other keywords are those of ``Client``.

    Parameters
    ----------
    api_key : str, Secret or None, default None
        The API key. None: ``QOLABA_API_KEY`` (environment or ``.env``); when that is not
        set either, the built-in simulator's key.
    base_url : str or None, default None
        The API's root URL. None: ``QOLABA_BASE_URL``, else Qolaba's; the simulator's URL
        when no key is set.
    quiet : bool, default False
        Do not print the line that says where the client points.
    transport : httpx.BaseTransport or None, default None
        An httpx transport to send through; None: httpx's own.
    timeout : float, httpx.Timeout or None, default None
        Seconds to wait for the server; None: 240 s to read, 10 s to connect.
    max_retries : int, default 2
        Retries after a connection error, 429, 502, 503 or 504 (``Retry-After`` honoured).
    headers : mapping of str to str or None, default None
        Extra headers sent with every request (never ``Authorization``).
    ledger : UsageLedger, False or None, default None
        Where calls are recorded; None: the default ledger; False: none.
    tag : str or None, default None
        The ledger tag of the client's calls.
    budget_credits : float, Budget or None, default None
        A limit in credits on what the client spends (``BudgetExceededError`` before a call
        that would pass it is sent); a ``Budget`` is shared. None: no limit.
    reserve_credits : float or None, default None
        Credits each call reserves before it is sent; None: the ledger's expected credit
        for the model, else 1 credit.
    record : str, path or None, default None
        Record every exchange to this file (without the key).
    replay : str, path or None, default None
        Serve every call from this recording; nothing is sent, nothing is charged.
    max_event_bytes : int, default 16 MiB
        The most bytes one server-sent event may have.

    Returns
    -------
    Client
        The client; close it (or use it in a ``with`` block) when done.

    Raises
    ------
    ValidationError
        A bad argument (see ``Client``).

    Examples
    --------
    >>> import qolaba_nb
    >>> client = qolaba_nb.connect(budget_credits=5, tag="class-1")  # doctest: +SKIP
    QOLABA_API_KEY is not set: using the built-in Qolaba simulator at http://127.0.0.1:...
    >>> client.chat("Name three rivers.", model="openai/gpt-4o").text  # doctest: +SKIP
    """
    key, url, line = _target(api_key, base_url)
    if not quiet:
        print(line)
    return Client(
        key,
        url,
        transport=transport,
        timeout=timeout,
        max_retries=max_retries,
        headers=headers,
        ledger=ledger,
        tag=tag,
        budget_credits=budget_credits,
        reserve_credits=reserve_credits,
        record=record,
        replay=replay,
        max_event_bytes=max_event_bytes,
    )


def aconnect(
    *,
    api_key: str | _config.Secret | None = None,
    base_url: str | None = None,
    quiet: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
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
) -> AsyncClient:
    """``connect()`` for asyncio code: an ``AsyncClient`` for the API, else the simulator.

    The same choice as ``connect()`` (a key set: the real API; else the built-in
    simulator), said in one line; the other keywords are those of ``AsyncClient``.

    Parameters
    ----------
    api_key : str, Secret or None, default None
        The API key. None: ``QOLABA_API_KEY`` (environment or ``.env``); when that is not
        set either, the built-in simulator's key.
    base_url : str or None, default None
        The API's root URL. None: ``QOLABA_BASE_URL``, else Qolaba's; the simulator's URL
        when no key is set.
    quiet : bool, default False
        Do not print the line that says where the client points.
    transport : httpx.AsyncBaseTransport or None, default None
        An httpx transport to send through; None: httpx's own.
    timeout : float, httpx.Timeout or None, default None
        Seconds to wait for the server; None: 240 s to read, 10 s to connect.
    max_retries : int, default 2
        Retries after a connection error, 429, 502, 503 or 504 (``Retry-After`` honoured).
    headers : mapping of str to str or None, default None
        Extra headers sent with every request (never ``Authorization``).
    ledger : UsageLedger, False or None, default None
        Where calls are recorded; None: the default ledger; False: none.
    tag : str or None, default None
        The ledger tag of the client's calls.
    budget_credits : float, Budget or None, default None
        A limit in credits on what the client spends (``BudgetExceededError`` before a call
        that would pass it is sent); a ``Budget`` is shared. None: no limit.
    reserve_credits : float or None, default None
        Credits each call reserves before it is sent; None: the ledger's expected credit
        for the model, else 1 credit.
    record : str, path or None, default None
        Record every exchange to this file (without the key).
    replay : str, path or None, default None
        Serve every call from this recording; nothing is sent, nothing is charged.
    max_event_bytes : int, default 16 MiB
        The most bytes one server-sent event may have.

    Returns
    -------
    AsyncClient
        The client; ``await client.aclose()`` (or ``async with``) when done.

    Raises
    ------
    ValidationError
        A bad argument (see ``Client``).

    Examples
    --------
    >>> async with qolaba_nb.aconnect(quiet=True) as client:  # doctest: +SKIP
    ...     reply = await client.chat("Hi", model="openai/gpt-4o")
    """
    key, url, line = _target(api_key, base_url)
    if not quiet:
        print(line)
    return AsyncClient(
        key,
        url,
        transport=transport,
        timeout=timeout,
        max_retries=max_retries,
        headers=headers,
        ledger=ledger,
        tag=tag,
        budget_credits=budget_credits,
        reserve_credits=reserve_credits,
        record=record,
        replay=replay,
        max_event_bytes=max_event_bytes,
    )


def login(prompt: str = "Qolaba API key (input hidden): ") -> None:
    """Ask for the API key without echoing it and keep it in this process's environment only.

    The key goes into ``QOLABA_API_KEY`` of this process, so the next ``connect()`` talks to
    the real API. Nothing is printed but "Key set for this session.", nothing is returned or
    written to disk: the key never lands in a notebook or its outputs.

    Parameters
    ----------
    prompt : str, default "Qolaba API key (input hidden): "
        The question shown beside the hidden input.

    Raises
    ------
    ValueError
        Nothing was entered.

    Examples
    --------
    >>> qolaba_nb.login()  # doctest: +SKIP
    Qolaba API key (input hidden): ········
    Key set for this session.
    >>> client = qolaba_nb.connect()  # doctest: +SKIP
    Using the Qolaba API at https://qolaba-server-b2b.up.railway.app.
    """
    key = getpass.getpass(prompt).strip()
    if not key:
        raise ValueError("no key entered")
    os.environ[_config.API_KEY_ENV] = key
    os.environ.pop(SIMULATOR_ENV, None)
    print("Key set for this session.")
