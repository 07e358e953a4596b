"""The ``qolaba-nb`` command: ``lab`` (the main job), ``tutorials``, ``demo``, ``simulate``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qolaba_nb._lab import choose_root
from qolaba_nb._resources import TUTORIALS_DIR, Resources, resources

from .labproc import (
    SIM_LINE,
    LabProcess,
    alive,
    clean_env,
    cmdline,
    descendants,
    environ,
    free_port,
    linux_only,
    refused,
    wait_until,
)

LAB = [sys.executable, "-m", "qolaba_nb", "lab"]
REPO = Path(__file__).resolve().parents[2]


def start_lab(tmp_path: Path, *args: str, ignore_sigint: bool = False) -> LabProcess:
    (tmp_path / "nb").mkdir(exist_ok=True)
    return LabProcess(
        [*LAB, str(tmp_path / "nb"), "--port", str(free_port()), *args],
        env=clean_env(tmp_path),
        cwd=tmp_path,
        ignore_sigint=ignore_sigint,
    )


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_lab_starts_jupyterlab_with_the_simulator_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    lab = start_lab(tmp_path)
    try:
        sim_url = lab.read_until(SIM_LINE).group(1)
        lab.wait_for_lab()
        assert lab.api("GET", "/api/status").status_code == 200
        # the simulator answers, with a key of its own (not the public default one)
        assert httpx.get(f"{sim_url}/v1/chat/models").status_code == 401
        lab.proc.send_signal(signal.SIGINT)
        assert lab.proc.wait(10) == 0
        assert refused(sim_url) and refused(lab.url)
    finally:
        lab.close()


@linux_only
@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("signum", "ignore_sigint"),
    [
        (signal.SIGINT, True),
        (signal.SIGTERM, False),
        (signal.SIGHUP, False),
    ],
    ids=["SIGINT-inherited-ignored", "SIGTERM", "SIGHUP"],
)
def test_each_stop_signal_ends_lab_its_kernels_and_the_simulator_within_10_s(
    tmp_path: Path, signum: int, ignore_sigint: bool
) -> None:
    lab = start_lab(tmp_path, ignore_sigint=ignore_sigint)
    try:
        sim_url = lab.read_until(SIM_LINE).group(1)
        lab.wait_for_lab()
        kernel = lab.start_kernel()
        tree = descendants(lab.proc.pid)
        assert kernel in tree and len(tree) >= 2
        started = time.monotonic()
        lab.proc.send_signal(signum)
        assert lab.proc.wait(10) == 0
        assert wait_until(
            lambda: not any(alive(p) for p in tree), 10 - (time.monotonic() - started)
        )
        assert [p for p in tree if alive(p)] == []
        assert refused(sim_url) and refused(lab.url)
    finally:
        lab.close()


@linux_only
@pytest.mark.integration
@pytest.mark.timeout(180)
def test_lab_and_its_kernels_go_when_qolaba_nb_is_killed(tmp_path: Path) -> None:
    lab = start_lab(tmp_path)
    try:
        lab.wait_for_lab()
        lab.start_kernel()
        tree = descendants(lab.proc.pid)
        lab.proc.kill()  # SIGKILL: no clean-up of its own
        lab.proc.wait(5)
        assert wait_until(lambda: not any(alive(p) for p in tree), 10), [
            cmdline(p) for p in tree if alive(p)
        ]
        assert refused(lab.url)
    finally:
        lab.close()


@linux_only
@pytest.mark.integration
@pytest.mark.timeout(180)
def test_no_child_has_the_token_or_the_simulator_key_on_its_command_line(tmp_path: Path) -> None:
    lab = start_lab(tmp_path)
    try:
        lab.wait_for_lab()
        kernel = lab.start_kernel()
        children = descendants(lab.proc.pid)
        kernel_env = environ(kernel)
        key = kernel_env["QOLABA_API_KEY"]  # how the kernels get it
        assert key.startswith("qsim-") and len(key) > 20 and lab.token
        lines = {pid: cmdline(pid) for pid in [lab.proc.pid, *children]}
        assert all(lines.values()) and any("jupyter" in line for line in lines.values())
        leaks = [line for line in lines.values() if lab.token in line or key in line]
        assert leaks == []
        # the token file Lab read at start is gone; the kernels do not see the token
        assert not Path(environ(children[0])["JUPYTER_TOKEN_FILE"]).exists()
        assert lab.token not in Path(f"/proc/{kernel}/environ").read_text(errors="replace")
    finally:
        lab.close()


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_a_busy_default_port_moves_lab_to_the_next_free_one_and_prints_that_url(
    tmp_path: Path,
) -> None:
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", 8888))
        blocker.listen()
    except OSError:
        pass  # already busy: the case under test all the same
    (tmp_path / "nb").mkdir()
    lab = LabProcess([*LAB, str(tmp_path / "nb")], env=clean_env(tmp_path), cwd=tmp_path)
    try:
        lab.wait_for_lab()
        assert lab.port != 8888
        assert any(f"took port {lab.port}" in line for line in lab.lines), lab.lines
        status = httpx.get(f"{lab.url}/api/status", params={"token": lab.token})
        assert status.status_code == 200
        lab.proc.send_signal(signal.SIGTERM)
        assert lab.proc.wait(10) == 0
    finally:
        blocker.close()
        lab.close()


def test_a_busy_explicit_port_is_a_clear_error_and_nothing_is_started(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        (tmp_path / "work").mkdir()
        proc = subprocess.Popen(
            [*LAB, str(tmp_path / "work"), "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(tmp_path),
        )
        children: set[int] = set()
        while proc.poll() is None:
            children.update(descendants(proc.pid))
            time.sleep(0.01)
        out, err = proc.communicate()
    assert proc.returncode == 2
    assert f"Port {port} is in use" in err and "--port" in err and "nothing started" in err
    assert "JupyterLab:" not in out and "simulator" not in out
    assert children == set()  # neither JupyterLab nor anything else was started
    assert not (tmp_path / "work" / TUTORIALS_DIR).exists()


def test_an_installed_package_copies_the_tutorials_once_and_keeps_edits(tmp_path: Path) -> None:
    installed = Resources(resources().root, checkout=False)  # as the wheel lays them out
    opened = choose_root(str(tmp_path), installed)
    copy = tmp_path / TUTORIALS_DIR
    assert opened.root == tmp_path
    assert opened.line == f"Opening {tmp_path}: copied the tutorials into {TUTORIALS_DIR}/."
    names = sorted(p.name for p in copy.glob("*.ipynb"))
    shipped = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert names == [p.name for p in installed.tutorials()] == shipped and len(names) >= 5
    assert (copy / "data" / "prompts" / "everyday.jsonl").is_file()
    edited = copy / names[0]
    edited.write_text("my notes", encoding="utf-8")
    again = choose_root(str(tmp_path), installed)
    assert "kept as they are" in again.line
    assert edited.read_text(encoding="utf-8") == "my notes"


def test_a_checkout_opens_its_notebooks_folder() -> None:
    res = resources()
    assert res.checkout
    opened = choose_root(None, res)
    assert opened.root == res.notebooks and "tutorials of this checkout" in opened.line


def test_lab_refuses_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    out = subprocess.run(
        [*LAB, str(tmp_path / "nowhere"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
    )
    assert out.returncode == 2 and "No such directory" in out.stderr


def test_tutorials_copies_notebooks_and_prompts_and_never_overwrites(tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    command = [sys.executable, "-m", "qolaba_nb", "tutorials", str(dest)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert f"into {dest}" in first.stdout
    shipped = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in dest.glob("*.ipynb")) == shipped
    assert (dest / "data" / "prompts").is_dir()
    notebook = sorted(dest.glob("*.ipynb"))[0]
    notebook.write_text("edited", encoding="utf-8")
    second = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert "none overwritten" in second.stdout
    assert notebook.read_text(encoding="utf-8") == "edited"


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


@pytest.mark.integration
@pytest.mark.parametrize("how", ["env", "file"])
def test_simulate_takes_its_key_from_the_environment_or_a_file(tmp_path: Path, how: str) -> None:
    key = "qsim-private-7f3a9c"
    env = {**clean_env(tmp_path), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "qolaba_nb", "simulate", "--port", "0", "--speed", "0"]
    if how == "env":
        env["QOLABA_SIMULATOR_KEY"] = key
    else:
        (tmp_path / "key").write_text(key + "\n", encoding="utf-8")
        command += ["--key-file", str(tmp_path / "key")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "(key: the one given)" in line and key not in line
        base_url = line.split(" ")[3]
        models = f"{base_url}/v1/chat/models"
        assert httpx.get(models, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert (
            httpx.get(models, headers={"Authorization": "Bearer qsim-local-key"}).status_code == 401
        )
        assert key not in cmdline(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == -signal.SIGTERM  # uvicorn re-raises it once it has stopped
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_simulate_refuses_a_key_on_the_command_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qolaba_nb", "simulate", "--key", "sk-secret"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        out.returncode == 2 and "--key-file" in out.stderr and "QOLABA_SIMULATOR_KEY" in out.stderr
    )
