"""The background runner, the command line entry point, and the official openai SDK."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import httpx
import openai
import pytest

from qolaba_nb.simulator import DEFAULT_API_KEY, Simulator, create_app

from .conftest import CHAT

SimThreads = Callable[[], list[threading.Thread]]


@pytest.fixture
def sim_threads() -> SimThreads:
    """The simulator threads started since the test began (not the session's shared ones)."""
    before = {t for t in threading.enumerate() if t.name.startswith("qolaba-simulator")}
    return lambda: [
        t
        for t in threading.enumerate()
        if t.name.startswith("qolaba-simulator") and t not in before
    ]


def test_port_zero_start_stop_idempotent(sim_threads: SimThreads) -> None:
    sim = Simulator(speed=0)
    assert sim.start() is sim
    assert sim.start() is sim  # already running: no second server
    try:
        assert sim.port > 0
        assert sim.base_url == f"http://127.0.0.1:{sim.port}"
        assert sim.url == sim.base_url
        assert sim.api_key == DEFAULT_API_KEY
        with socket.create_connection(("127.0.0.1", sim.port), timeout=1):
            pass
        assert len(sim_threads()) == 1
    finally:
        sim.stop()
        sim.stop()
    assert sim_threads() == []
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", sim.port), timeout=1):
        pass


def test_context_manager_and_restart(sim_threads: SimThreads) -> None:
    sim = Simulator(speed=0)
    with sim:
        first = sim.port
        assert (
            httpx.get(
                sim.base_url + "/v1/chat/models", headers={"Authorization": f"Bearer {sim.api_key}"}
            ).status_code
            == 200
        )
    assert not sim.running
    with sim:  # a stopped simulator can be started again
        assert sim.running and sim.port > 0
    assert sim_threads() == []
    assert first > 0


def test_stop_does_not_wait_for_slow_streams(sim_threads: SimThreads) -> None:
    sim = Simulator().start()  # realistic pacing: sim/slow would take over a minute
    client = httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.api_key}"})
    try:
        with client.stream(
            "POST",
            CHAT,
            json={
                "model": "sim/slow",
                "stream": True,
                "messages": [{"role": "user", "content": "x"}],
            },
        ) as response:
            assert response.status_code == 200
            started = time.perf_counter()
            sim.stop()
            assert time.perf_counter() - started < 3
            response.read()  # the stream was ended cleanly, not left hanging
    finally:
        client.close()
        sim.stop()
    assert sim_threads() == []


def test_stats_and_log(sim: Simulator) -> None:
    before = sim.stats.requests
    httpx.get(
        sim.base_url + "/v1/chat/models",
        headers={"Authorization": f"Bearer {sim.api_key}", "X-Trace": "t1"},
    )
    assert sim.stats.requests == before + 1
    entry = sim.requests_log[-1]
    assert entry["method"] == "GET" and entry["path"] == "/v1/chat/models"
    assert entry["headers"]["x-trace"] == "t1"
    assert entry["json"] is None


def test_create_app_works_in_process() -> None:
    from starlette.testclient import TestClient

    with TestClient(create_app(speed=0)) as client:
        response = client.post(
            "/api/v1/chat/completions",
            headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"},
            json={"model": "sim/echo", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.json()["choices"][0]["message"]["content"] == "hi"


def test_import_is_light() -> None:
    code = (
        "import sys, qolaba_nb.simulator; "
        "bad = [m for m in ('pandas', 'matplotlib', 'ipywidgets') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    "command",
    [["-m", "qolaba_nb.simulator"], ["-m", "qolaba_nb", "simulate"]],
    ids=["python-m-simulator", "qolaba-nb-simulate"],
)
def test_command_line_serves_until_ctrl_c(command: list[str]) -> None:
    process = subprocess.Popen(
        [sys.executable, *command, "--port", "0", "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "Qolaba simulator on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith(f"(key: {DEFAULT_API_KEY})"), line
        base_url = line.split(" ")[3]
        response = httpx.get(
            base_url + "/api/v1/chat/models", headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        )
        assert response.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def test_command_line_rejects_negative_speed() -> None:
    from qolaba_nb.simulator.__main__ import main

    with pytest.raises(SystemExit):
        main(["--speed", "-1"])  # argparse rejects it before binding anything


def test_openai_sdk(sim: Simulator) -> None:
    with openai.OpenAI(
        base_url=sim.base_url + "/api/v1", api_key=sim.api_key, max_retries=0
    ) as client:
        completion = client.chat.completions.create(
            model="sim/echo", messages=[{"role": "user", "content": "hello from the SDK"}]
        )
        assert completion.choices[0].message.content == "hello from the SDK"
        assert completion.choices[0].finish_reason == "stop"

        stream = client.chat.completions.create(
            model="google/gemini-2.5-flash",
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            stream=True,
        )
        with stream:
            pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        text = "".join(pieces)
        assert "Paris" in text  # a written answer

        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="nope/nothing", messages=[{"role": "user", "content": "x"}]
            )


def test_simulator_and_create_app_take_the_same_options_with_the_same_defaults() -> None:
    import inspect

    runner = dict(inspect.signature(Simulator).parameters)
    for name in ("host", "port"):  # where the server listens: the app does not know
        runner.pop(name)
    app = inspect.signature(create_app).parameters
    assert [(p.name, p.default, p.kind) for p in runner.values()] == [
        (p.name, p.default, p.kind) for p in app.values()
    ]
