"""Run the simulator in a background thread, for notebooks and tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
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

    >>> with Simulator(speed=0) as sim:
    ...     sim.base_url  # doctest: +SKIP
    'http://127.0.0.1:54321'

    Options (keyword arguments after ``api_key``) are those of ``create_app``: ``api_keys``,
    ``latency_s``, ``ttft_s``, ``chunk_delay_s``, ``chunks``, ``speed``, ``rate_limit``,
    ``rate_window_s``, ``max_log``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        **options: Any,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.api_key = api_key
        self.app = create_app(api_key, **options)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def state(self) -> SimState:
        state: SimState = self.app.state.sim
        return state

    @property
    def stats(self) -> SimStats:
        return self.state.stats

    @property
    def requests_log(self) -> list[dict[str, Any]]:
        return self.state.requests_log

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """Same as ``base_url``."""
        return self.base_url

    @property
    def running(self) -> bool:
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
