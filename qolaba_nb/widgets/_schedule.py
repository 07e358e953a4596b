"""The one way the panels run code: on the kernel's event loop, never blocking it.

A Jupyter kernel runs an asyncio loop on its main thread, and cells run on it; the panels
keep their HTTP connections, tasks and widget updates on that loop (the "home" loop). A
button click schedules a task there and returns at once, so the kernel stays free while a
reply streams. Never ``asyncio.run()`` in a notebook (the loop is already running).

Three pitfalls this module exists for:

* Widget messages do not always arrive on the main thread. JupyterLab sends them on a
  kernel *subshell*, and ipykernel (7+) may handle them on the subshell's own thread, with
  its own event loop. A task started there would use connections that belong to the home
  loop ("bound to a different event loop"). ``schedule`` and ``call_home`` hand such work
  over to the home loop, thread-safely.
* The event loop keeps only a weak reference to a task: a task nobody holds can be
  garbage-collected half way through. Every task started here is held in ``_TASKS``.
* An exception in a task nobody awaits is only logged when the task is collected, usually
  never where the user looks: ``on_error`` is called with it as soon as the task ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "Handle",
    "call_home",
    "has_running_loop",
    "home",
    "home_loop",
    "running_tasks",
    "schedule",
]

log = logging.getLogger("qolaba_nb.widgets")

T = TypeVar("T")
P = ParamSpec("P")

#: What ``schedule`` returns: the task, or a thread-safe future of it (both can be cancelled).
Handle = asyncio.Task[T] | concurrent.futures.Future[T]

_TASKS: set[asyncio.Task[Any]] = set()
_home: asyncio.AbstractEventLoop | None = None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def has_running_loop() -> bool:
    """True inside a kernel cell, a widget callback or a coroutine."""
    return _running_loop() is not None


def home_loop() -> asyncio.AbstractEventLoop | None:
    """The main thread's running loop: the kernel's. None in a plain script.

    Seen from the main thread it is the running loop (and is remembered); seen from another
    thread, the one remembered last, if it still runs.
    """
    global _home
    running = _running_loop()
    if running is not None and threading.current_thread() is threading.main_thread():
        _home = running
        return running
    if _home is not None and _home.is_running():
        return _home
    return running


def running_tasks() -> int:
    """How many scheduled tasks have not finished (for tests and diagnostics)."""
    return len(_TASKS)


def schedule(
    coro: Coroutine[Any, Any, T],
    *,
    on_error: Callable[[BaseException], None] | None = None,
    name: str | None = None,
) -> Handle[T]:
    """Run ``coro`` as a task on the home loop; return at once.

    Returns the task, or, when called from another thread (a subshell), a
    ``concurrent.futures.Future`` of it; both can be cancelled. ``on_error(exc)`` is called
    if the task fails (not if it is cancelled); without it the exception is logged. Raises
    ``RuntimeError`` when no loop runs at all (a script: await the coroutines instead).
    """
    loop = home_loop()
    if loop is None:
        coro.close()  # never awaited otherwise, and Python would warn about it
        raise RuntimeError(
            "qolaba_nb panels need a running asyncio event loop, as a Jupyter kernel has; "
            "in a script, await the panel's coroutine methods instead"
        )
    if _running_loop() is loop:
        return _start(loop, coro, on_error, name)

    async def start_at_home() -> T:
        return await _start(loop, coro, on_error, name)

    return asyncio.run_coroutine_threadsafe(start_at_home(), loop)


def call_home(fn: Callable[P, object], /, *args: P.args, **kwargs: P.kwargs) -> None:
    """Call ``fn`` on the home loop's thread: now if we are there, else as soon as it can.

    For widget callbacks, which may run on a subshell thread: whatever they change (widget
    state, tasks) then changes on one thread only.
    """
    loop = home_loop()
    if loop is None or _running_loop() is loop:
        fn(*args, **kwargs)
    else:
        loop.call_soon_threadsafe(functools.partial(fn, *args, **kwargs))


def home(fn: Callable[P, object]) -> Callable[P, None]:
    """``fn`` wrapped in ``call_home``: for ``button.on_click(home(...))`` and observers."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        call_home(fn, *args, **kwargs)

    return wrapper


def _start(
    loop: asyncio.AbstractEventLoop,
    coro: Coroutine[Any, Any, T],
    on_error: Callable[[BaseException], None] | None,
    name: str | None,
) -> asyncio.Task[T]:
    task = loop.create_task(coro, name=name)
    _TASKS.add(task)
    task.add_done_callback(lambda t: _finished(t, on_error))
    return task


def _finished(task: asyncio.Task[Any], on_error: Callable[[BaseException], None] | None) -> None:
    _TASKS.discard(task)
    if task.cancelled():
        return
    exc = task.exception()  # marks the exception as retrieved: no "never retrieved" warning
    if exc is None:
        return
    if on_error is None:
        log.error("a qolaba_nb widget task failed", exc_info=exc)
        return
    try:
        on_error(exc)
    except Exception:  # the error handler itself must not vanish silently either
        log.exception("the error handler of a qolaba_nb widget task failed")
