"""Run ``qolaba-nb lab`` as a real process and look at the processes it started (Linux /proc).

Shared by tests/cli and tests/install.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

#: For the tests that look at the lab's children: they find them through /proc.
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="finds the lab's child processes through /proc, which only Linux has; elsewhere "
    "the check could not see them and would pass without checking",
)

URL_LINE = re.compile(r"JupyterLab: (http://127\.0\.0\.1:(\d+))/lab\?token=(\w+)")
SIM_LINE = re.compile(r"simulator at (http://127\.0\.0\.1:\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without Qolaba or Jupyter settings, with private Jupyter directories."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QOLABA_", "JUPYTER"))}
    env["QOLABA_NB_LEDGER"] = str(tmp_path / "usage.sqlite")
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (tmp_path / name).mkdir(exist_ok=True)
        env[name] = str(tmp_path / name)
    return env


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return True
    return False


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()  # after "pid (comm) ": state ppid ...


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat_fields(int(name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in (b"Z", b"X")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode().partition("=") for item in raw.split(b"\0") if item)
    return {k: v for k, _, v in pairs}


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class LabProcess:
    """``qolaba-nb lab`` started by a test; its stdout is read line by line in a thread."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        ignore_sigint: bool = False,
    ) -> None:
        def preexec() -> None:  # as a background job of a non-interactive shell starts it
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        self.proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
            preexec_fn=preexec if ignore_sigint else None,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()
        self.url = self.token = ""
        self.port = 0

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def read_until(self, pattern: re.Pattern[str], timeout: float = 150) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern.pattern}: {self.lines}") from None
            if line is None:
                raise AssertionError(
                    f"exited ({self.proc.poll()}) before {pattern.pattern}: {self.lines}"
                    f"\n{''.join(self.stderr[-30:])}"
                )
            self.lines.append(line)
            if match := pattern.search(line):
                return match

    def wait_for_lab(self, timeout: float = 150) -> None:
        """Until the URL line: the server it names answers at once."""
        match = self.read_until(URL_LINE, timeout)
        self.url, self.port, self.token = match.group(1), int(match.group(2)), match.group(3)

    def api(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]

    def start_kernel(self) -> int:
        """Start a kernel through Lab's REST API; its pid (a descendant of ``qolaba-nb``)."""
        reply = self.api("POST", "/api/kernels", json={"name": "python3"})
        assert reply.status_code == 201, reply.text

        def kernels() -> list[int]:
            return [p for p in descendants(self.proc.pid) if "ipykernel" in cmdline(p)]

        assert wait_until(lambda: bool(kernels()), 30), [
            cmdline(p) for p in descendants(self.proc.pid)
        ]
        return kernels()[0]

    def close(self) -> None:
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
