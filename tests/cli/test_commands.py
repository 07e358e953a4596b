"""The ``qolaba-nb`` command: ``lab`` (the main job), ``demo``, ``simulate``."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QOLABA_", "JUPYTER"))}
    env["QOLABA_NB_LEDGER"] = str(tmp_path / "usage.sqlite")
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (tmp_path / name).mkdir()
        env[name] = str(tmp_path / name)
    return env


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return True
    return False


@pytest.mark.timeout(120)
def test_lab_starts_jupyterlab_with_the_simulator_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "nb").mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qolaba_nb",
            "lab",
            "--port",
            str(port),
            "--notebooks",
            str(tmp_path / "nb"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        sim_url = re.search(r"simulator at (http://127\.0\.0\.1:\d+)", lines[0])
        lab_url = re.search(r"JupyterLab: (http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", lines[1])
        assert sim_url and lab_url, lines
        deadline = time.monotonic() + 60
        while True:
            try:
                status = httpx.get(
                    f"{lab_url.group(1)}/api/status", params={"token": lab_url.group(2)}
                )
                if status.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.3)
        models = httpx.get(
            f"{sim_url.group(1)}/v1/chat/models", headers={"Authorization": "Bearer qsim-local-key"}
        )
        assert models.status_code == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert refused(sim_url.group(1)) and refused(lab_url.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_demo_streams_a_reply_from_the_simulator(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qolaba_nb", "demo"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
        check=True,
    ).stdout
    assert "Qolaba simulator on http://127.0.0.1:" in out
    assert "credits" in out and "refused before sending: temperature" in out
    assert "RateLimitError" in out or "rate limited" in out
