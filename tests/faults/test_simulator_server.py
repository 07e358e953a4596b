"""The simulator is a well-behaved server: it checks the key before it reads a body, caps the
body (413) and its request log, answers absurdly nested JSON with a 400, and closes
connections whose request headers never finish."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from qolaba_nb.simulator import Simulator

pytestmark = pytest.mark.integration

CHAT = "/api/v1/chat/completions"
BODY = {"model": "sim/echo", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(
        speed=0, max_body_bytes=200_000, max_log_bytes=300_000, header_timeout_s=0.5
    ) as s:
        yield s


def post(sim: Simulator, content: bytes, *, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key or sim.api_key}", "content-type": "application/json"}
    return httpx.post(sim.base_url + CHAT, content=content, headers=headers, timeout=10)


def padded(size: int) -> bytes:
    return json.dumps({**BODY, "metadata": {"pad": "x" * size}}).encode()


def test_a_wrong_key_is_refused_before_the_body_is_read_or_logged(sim: Simulator) -> None:
    response = post(sim, padded(150_000), key="wrong-key")
    assert response.status_code == 401
    entry = sim.requests_log[-1]
    assert entry["status"] == 401 and entry["json"] is None


def test_a_body_over_the_cap_is_413(sim: Simulator) -> None:
    response = post(sim, padded(250_000))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert sim.requests_log[-1]["json"] is None


def test_a_chunked_body_over_the_cap_is_413_too(sim: Simulator) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        data = padded(250_000)
        for i in range(0, len(data), 16_384):
            yield data[i : i + 16_384]

    headers = {"authorization": f"Bearer {sim.api_key}", "content-type": "application/json"}
    try:
        response = httpx.post(sim.base_url + CHAT, content=chunks(), headers=headers, timeout=10)
    except httpx.WriteError:  # the server may stop reading and answer while we still send
        return
    assert response.status_code == 413


def test_the_request_log_keeps_a_bounded_number_of_body_bytes(sim: Simulator) -> None:
    for _ in range(10):
        assert post(sim, padded(100_000)).status_code == 200
    kept = sum(e.get("body_bytes", 0) for e in sim.requests_log)
    assert kept <= 300_000
    assert sim.requests_log[-1]["json"]["metadata"]["pad"] == "x" * 100_000  # the newest stays


def test_json_nested_100000_deep_is_a_400(sim: Simulator) -> None:
    response = post(sim, b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert post(sim, json.dumps(BODY).encode()).status_code == 200


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-"],
    ids=["nothing", "half-headers"],
)
def test_a_connection_whose_headers_never_finish_is_closed(sim: Simulator, sent: bytes) -> None:
    with socket.create_connection((sim.host, sim.port), timeout=5) as sock:
        if sent:
            sock.sendall(sent)
        t0 = time.monotonic()
        try:
            data = sock.recv(1024)
        except TimeoutError:
            pytest.fail("the server held a connection with unfinished headers for 5 s")
        waited = time.monotonic() - t0
    assert data == b"" and waited < 5  # closed by the server, not by our timeout
    assert (
        httpx.get(
            sim.base_url + "/api/v1/chat/models",
            headers={"authorization": f"Bearer {sim.api_key}"},
        ).status_code
        == 200
    )


def test_a_slow_but_complete_request_is_served(sim: Simulator) -> None:
    request = (
        f"GET /api/v1/chat/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sim.api_key}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((sim.host, sim.port), timeout=5) as sock:
        sock.sendall(request[:20])
        time.sleep(0.2)
        sock.sendall(request[20:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
