"""``qolaba-nb lab``: JupyterLab (and the simulator when no key is set) that stops cleanly.

- SIGINT, SIGTERM and SIGHUP each stop JupyterLab, its kernels and the simulator, whatever
  dispositions were inherited: a background job of a non-interactive shell starts with SIGINT
  ignored, so the default handler is put back first.
- JupyterLab runs in its own session (Ctrl+C in the terminal reaches this process only, which
  then stops Lab without its "Shutdown this Jupyter server?" question) and, on Linux, with a
  parent-death signal (``_child.py``), so it goes even when this process is SIGKILLed.
- Whatever Lab started and left behind after it exits (a kernel it could not stop) is ended
  too: the process tree is read from /proc before Lab is asked to stop.
- Secrets stay off command lines (``ps`` shows them to every user): the Lab token reaches Lab
  through a file only this user can read, deleted once Lab has read it; the simulator runs in
  this process with a fresh key that the kernels get through their environment.
- The URL printed is the one Lab serves: it comes from the server-info file Lab writes once
  it listens, after Lab has taken the next free port if the default one was busy.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ._config import resolve_api_key
from ._connect import SIMULATOR_ENV
from ._resources import TUTORIALS_DIR, Resources, copy_tutorials, resources

DEFAULT_PORT = 8888
#: How long Lab gets to stop its kernels after SIGTERM before the tree is killed.
STOP_GRACE_S = 5.0
START_TIMEOUT_S = 180.0
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class LabError(Exception):
    """``qolaba-nb lab`` cannot start; the message says why."""


class _Stop(BaseException):
    """Raised in the main thread by a stop signal (BaseException, like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass(frozen=True, slots=True)
class Opened:
    """The directory Lab opens, and the one line that says why."""

    root: Path
    line: str


def choose_root(directory: str | None, res: Resources | None = None) -> Opened:
    """The notebooks of a checkout, else ``directory`` (default: cwd) with the tutorials in it."""
    res = res or resources()
    if directory is None and res.checkout:
        return Opened(res.notebooks, f"Opening {res.notebooks}: the tutorials of this checkout.")
    root = Path(directory or ".").resolve()
    if not root.is_dir():
        raise LabError(f"No such directory: {root}")
    tutorials = root / TUTORIALS_DIR
    if tutorials.exists():
        why = f"the tutorials are in {TUTORIALS_DIR}/ (kept as they are)"
    else:
        copy_tutorials(tutorials, res)
        why = f"copied the tutorials into {TUTORIALS_DIR}/"
    return Opened(root, f"Opening {root}: {why}.")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def next_free_port(start: int, tries: int = 50) -> int:
    for port in range(start, start + tries):
        if port_is_free(port):
            return port
    raise LabError(f"No free port in {start}-{start + tries - 1}; choose one with --port.")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses
            ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 :].split()[0] != b"Z"
    return True


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def stop_tree(proc: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM ``proc``, wait ``grace`` seconds, then SIGKILL it and anything it left behind."""
    below = descendants(proc.pid)
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            below += descendants(proc.pid)
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 1
    while any(_alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    _kill([p for p in below if _alive(p)])


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise ``_Stop`` in the main thread, once; then they are noted.

    SIGINT's inherited disposition (ignored, in a background job) is overridden.
    """
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise _Stop(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _lab_command(port: int, root: Path, retries: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--ServerApp.port_retries={retries}",
        "--ServerApp.open_browser=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def _runtime_dir() -> Path:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError as exc:
        raise LabError('JupyterLab is not installed: pip install "qolaba_nb[notebook]"') from exc
    return Path(jupyter_runtime_dir())


def _wait_for_server(proc: subprocess.Popen[bytes], info: Path, explicit: int | None) -> Any:
    """Lab's server info once it listens; a LabError if it exits first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(info.read_text(encoding="utf-8"))
            if data.get("port"):
                return data
        code = proc.poll()
        if code is not None:
            if explicit is not None:
                raise LabError(
                    f"JupyterLab could not listen on port {explicit} (exit status {code}); "
                    "is the port in use? Choose another with --port."
                )
            raise LabError(f"JupyterLab exited with status {code} before it served anything.")
        if time.monotonic() > deadline:
            raise LabError(f"JupyterLab did not start within {START_TIMEOUT_S:.0f} s.")
        time.sleep(0.1)


def run_lab(directory: str | None, port: int | None, simulator_port: int = 0) -> int:
    """The ``qolaba-nb lab`` command. Returns the exit status."""
    with stop_signals():
        try:
            return _run_lab(directory, port, simulator_port)
        except _Stop:
            return 0
        except LabError as exc:
            print(f"qolaba-nb lab: {exc}", file=sys.stderr)
            return 2


def _run_lab(directory: str | None, port: int | None, simulator_port: int) -> int:
    from .simulator import Simulator

    if port is not None and not port_is_free(port):
        raise LabError(f"Port {port} is in use; choose another with --port (nothing started).")
    env = dict(os.environ)
    runtime = _runtime_dir()
    res = resources()
    opened = choose_root(directory, res)
    lab_port = port if port is not None else next_free_port(DEFAULT_PORT)
    print(opened.line, flush=True)
    sim = None
    private = Path(tempfile.mkdtemp(prefix="qolaba-nb-lab-"))  # mode 0700
    lab: subprocess.Popen[bytes] | None = None
    try:
        if resolve_api_key(None) is None:
            # A fresh key: the simulator is nobody else's on a shared machine.
            sim = Simulator(port=simulator_port, api_key=f"qsim-{secrets.token_urlsafe(18)}")
            sim.start()
            env.update(QOLABA_BASE_URL=sim.base_url, QOLABA_API_KEY=sim.api_key)
            env[SIMULATOR_ENV] = "1"
            print(
                f"QOLABA_API_KEY is not set: the notebooks use the built-in simulator at "
                f"{sim.base_url}",
                flush=True,
            )
        else:
            print("Using the Qolaba API with the key from QOLABA_API_KEY / .env", flush=True)
        if (res.labconfig / "labconfig" / "page_config.json").exists():
            # our labconfig (announcements off) on top of the user's own configuration
            extra = env.get("JUPYTER_CONFIG_PATH")
            env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(res.labconfig), extra]))
        token = secrets.token_hex(24)
        token_file = private / "token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        env.pop("JUPYTER_TOKEN", None)
        env["JUPYTER_TOKEN_FILE"] = str(token_file)
        wrapper = [sys.executable, str(Path(__file__).with_name("_child.py")), str(os.getpid())]
        command = _lab_command(lab_port, opened.root, retries=0 if port is not None else 50)
        lab = subprocess.Popen(
            wrapper + command, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        info = _wait_for_server(lab, runtime / f"jpserver-{lab.pid}.json", port)
        token_file.unlink()  # read by Lab at start; the kernels need not see it
        served = int(info["port"])
        if served != DEFAULT_PORT and port is None:
            print(f"Port {DEFAULT_PORT} is busy: JupyterLab took port {served}.", flush=True)
        print(f"JupyterLab: http://127.0.0.1:{served}/lab?token={token}", flush=True)
        print("Press Ctrl+C to stop JupyterLab and the simulator.", flush=True)
        lab.wait()
        return 0 if lab.returncode in (0, -signal.SIGTERM) else 1
    finally:
        if lab is not None:
            stop_tree(lab)
        if sim is not None:
            sim.stop(timeout=2)
        shutil.rmtree(private, ignore_errors=True)
        print("Stopped.", flush=True)
