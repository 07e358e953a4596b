"""Run the simulator in a background thread, for notebooks and tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._app import DEFAULT_API_KEY, SimState, SimStats, create_app, install_log_filter


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket. Binding it here (not in uvicorn) is how port 0 gets a real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # Listening now means a client that connects before uvicorn is ready just waits in
        # the backlog instead of being refused.
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for the request headers.

    uvicorn has none: a client that sends half its headers (or nothing) holds the connection
    for ever. Here the clock starts when a connection opens, or when the first byte of a next
    request arrives on a kept-alive one, and stops once the headers are complete.
    """

    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the headers are in
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def make_server(app: Starlette, *, foreground: bool = False) -> uvicorn.Server:
    protocol = type(
        "HeaderTimeoutProtocol",
        (_HeaderTimeoutProtocol,),
        {"header_timeout_s": app.state.sim.options.header_timeout_s},
    )
    config = uvicorn.Config(
        app,
        http=protocol,
        log_level="warning",
        access_log=False,
        lifespan="off",
        # A notebook's own logging setup is none of our business, except in the foreground.
        log_config=uvicorn.config.LOGGING_CONFIG if foreground else None,
        timeout_graceful_shutdown=2,
    )
    install_log_filter()
    return uvicorn.Server(config)


class Simulator:
    """The Qolaba API simulator on a loopback port, served from a daemon thread.

    A real HTTP server speaking the Qolaba chat API (models, chat, streaming with the usage
    event after ``[DONE]``, credits and cost, 400s, 429s with ``Retry-After``, upstream
    errors), so notebooks, teaching demos and tests run offline, without a key. Models whose
    id starts with ``sim/`` behave in set ways (``sim/echo``, ``sim/rate-limited``, ...).
    It is started with ``start()`` or a ``with`` block, and stopped with ``stop()``.

    Parameters
    ----------
    host : str, default "127.0.0.1"
        The address to listen on (loopback: nothing outside this machine can reach it).
    port : int, default 0
        The port; 0 takes a free one (``port`` and ``base_url`` say which, once started).
    api_key : str, default "qsim-local-key" (``DEFAULT_API_KEY``)
        The key clients must send (``Authorization: Bearer ...``); others get a 401.
    api_keys : iterable of str, default ()
        More keys it accepts.
    latency_s : float or None, default None
        Seconds every call takes in all, overriding each model's pacing.
    ttft_s : float or None, default None
        Seconds to the first token, overriding the model's.
    chunk_delay_s : float or None, default None
        Seconds between two streamed chunks, overriding the model's.
    chunks : int or None, default None
        The exact number of content chunks of a streamed answer.
    speed : float, default 1.0
        Multiplies the catalogue's pacing: 0.5 is twice as fast, 0 has no pauses.
    rate_limit : int, default 600
        Requests per key and window; past it, 429 with ``Retry-After``.
    rate_window_s : float, default 60.0
        The sliding window of ``rate_limit``, in seconds.
    max_log : int, default 10000
        How many of the newest requests ``requests_log`` keeps.
    max_log_bytes : int, default 32 MiB
        How many bytes of request bodies the log keeps in all.
    max_body_bytes : int, default 8 MiB
        The largest request body, in bytes; a longer one is answered 413.
    header_timeout_s : float, default 10.0
        Seconds a connection may take to send its request headers before it is closed.

    Raises
    ------
    ValueError
        ``speed`` is negative.

    Examples
    --------
    >>> from qolaba_nb import Client
    >>> from qolaba_nb.simulator import Simulator
    >>> with Simulator(speed=0) as sim:  # doctest: +SKIP
    ...     client = Client(sim.api_key, sim.base_url, ledger=False)
    ...     print(client.chat("Hi", model="sim/echo").text)
    Hi

    From a shell: ``python -m qolaba_nb.simulator --port 8765``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        *,
        api_keys: Iterable[str] = (),
        latency_s: float | None = None,
        ttft_s: float | None = None,
        chunk_delay_s: float | None = None,
        chunks: int | None = None,
        speed: float = 1.0,
        rate_limit: int = 600,
        rate_window_s: float = 60.0,
        max_log: int = 10_000,
        max_log_bytes: int = 32 * 1024 * 1024,
        max_body_bytes: int = 8 * 1024 * 1024,
        header_timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.api_key = api_key
        self.app = create_app(
            api_key,
            api_keys=api_keys,
            latency_s=latency_s,
            ttft_s=ttft_s,
            chunk_delay_s=chunk_delay_s,
            chunks=chunks,
            speed=speed,
            rate_limit=rate_limit,
            rate_window_s=rate_window_s,
            max_log=max_log,
            max_log_bytes=max_log_bytes,
            max_body_bytes=max_body_bytes,
            header_timeout_s=header_timeout_s,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def state(self) -> SimState:
        """Everything the server remembers between requests (``app.state.sim``)."""
        state: SimState = self.app.state.sim
        return state

    @property
    def stats(self) -> SimStats:
        """Counters: requests, streams completed, streams the client closed, streams cut."""
        return self.state.stats

    @property
    def requests_log(self) -> list[dict[str, Any]]:
        """The newest requests received (at most ``max_log``), as dicts; no key is kept."""
        return self.state.requests_log

    @property
    def base_url(self) -> str:
        """The URL to give a client, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """Same as ``base_url``."""
        return self.base_url

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> Simulator:
        """Start serving and return once the server accepts connections. Idempotent."""
        if self.running:
            return self
        self._sock = bind_socket(self.host, self._requested_port)
        self.port = self._sock.getsockname()[1]
        self._server = make_server(self.app)
        self._error = None
        self.state.begin_serving()
        self._thread = threading.Thread(
            target=self._serve, name=f"qolaba-simulator:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start: {self._error!r}")
            time.sleep(0.005)
        return self

    def _serve(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            asyncio.run(self._serve_async(self._server, self._sock))
        except BaseException as exc:  # reported by start(); a thread has nowhere else to put it
            self._error = exc

    async def _serve_async(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        await server.serve(sockets=[sock])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end. Idempotent."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is not None:
            server.should_exit = True
        if loop is not None and thread is not None and thread.is_alive():
            # Slow streams and latency sleeps would otherwise hold shutdown up.
            with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
                loop.call_soon_threadsafe(self.state.close)
        if thread is not None:
            thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._loop = self._sock = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        status = "running" if self.running else "stopped"
        return f"<Simulator {self.base_url} {status}>"
