"""The API key never leaks: not in tracebacks with locals, errors, headers, ledger rows,
recordings or notebook output, even when a server echoes it back in some encoding."""

from __future__ import annotations

import base64
import gzip
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from IPython.core import ultratb

import qolaba_nb as q
from tests.client.conftest import Harness

KEY = "sk-live/9f8e+7d6c5b4a3=21~LEAKME"
AUTH = f"Bearer {KEY}"


def key_forms(key: str = KEY) -> set[str]:
    """The key as text, hex, percent-encoded and base64 (both alphabets, any alignment)."""
    raw = key.encode()
    forms = {key, raw.hex(), raw.hex().upper(), quote(key, safe=""), "9f8e+7d6c5b4a3"}
    for start in range(3):
        part = raw[start:][: len(raw[start:]) // 3 * 3]
        forms |= {base64.b64encode(part).decode(), base64.urlsafe_b64encode(part).decode()}
    return forms


def assert_clean(text: str, where: str = "") -> None:
    found = [f for f in key_forms() if f in text]
    assert not found, f"the key shows in {where or 'the text'}: {found}"


def formatted(err: BaseException) -> str:
    """The error as a traceback with locals (stdlib) and as IPython's %xmode Verbose."""
    tb = traceback.TracebackException.from_exception(err, capture_locals=True)
    stdlib = "".join(tb.format(chain=True))
    verbose = ultratb.VerboseTB(theme_name="nocolor", include_vars=True)
    ipython = verbose.text(type(err), err, err.__traceback__)
    return stdlib + "\n" + ipython


def client(h: Harness, handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> Any:
    kw.setdefault("ledger", h.ledger)
    cls = q.Client if h.mode == "sync" else q.AsyncClient
    return cls(KEY, "http://qolaba.test", transport=httpx.MockTransport(handler), **kw)


async def fail(h: Harness, c: Any, method: str) -> q.QolabaError:
    with pytest.raises(q.QolabaError) as info:
        if method == "chat":
            await h.call(c, "chat", "Hi", model="openai/gpt-4o")
        else:
            stream = await h.call(c, "stream", "Hi", model="openai/gpt-4o")
            await h.chunks(stream)
    await h.close(c)
    return info.value


def _echo_json(status: int) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen = request.headers["authorization"]
        return httpx.Response(status, json={"error": {"message": f"bad header {seen!r}"}})

    return handler


def _connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"refused, request headers were {request.headers.raw!r}")


def _stream_error(h: Harness) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = json.dumps(
            {"error": {"message": f"upstream saw {request.headers['authorization']}"}}
        )
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}
        return h.sse_response(
            [f"data: {json.dumps(chunk)}\n\n".encode(), f"data: {echoed}\n\n".encode()]
        )

    return handler


@pytest.mark.parametrize(
    ("scenario", "method"),
    [("status", "chat"), ("status", "stream"), ("connect", "chat"), ("stream_error", "stream")],
)
async def test_tracebacks_with_locals_never_show_the_key(
    h: Harness, scenario: str, method: str
) -> None:
    handler = {
        "status": _echo_json(401),
        "connect": _connect_error,
        "stream_error": _stream_error(h),
    }[scenario]
    err = await fail(h, client(h, handler, max_retries=0), method)
    text = formatted(err)
    assert "self = " in text  # the locals were really shown
    assert_clean(text, "a traceback with locals")


async def test_a_connection_error_does_not_hold_the_request_as_context(h: Harness) -> None:
    err = await fail(h, client(h, _connect_error, max_retries=1), "chat")
    assert isinstance(err, q.APIConnectionError)
    assert err.__context__ is None and err.__cause__ is None
    assert_clean(str(err)) and assert_clean(repr(err))
    assert_clean(str(h.ledger.records[0].error), "the ledger row")


def _gzip_json(value: Any) -> bytes:
    return gzip.compress(json.dumps(value).encode())


ECHOES: dict[str, Callable[[str], httpx.Response]] = {
    "json body": lambda auth: httpx.Response(401, json={"error": {"message": f"bad: {auth}"}}),
    "html page": lambda auth: httpx.Response(
        502, html=f"<html><title>Bad Gateway for {auth}</title><body>{auth}</body></html>"
    ),
    "request id header": lambda auth: httpx.Response(
        500, json={"error": {"message": "oops"}}, headers={"x-request-id": auth, "x-echo": auth}
    ),
    "gzip body": lambda auth: httpx.Response(
        400,
        content=_gzip_json({"error": {"message": f"bad: {auth}"}}),
        headers={"content-encoding": "gzip", "content-type": "application/json"},
    ),
    "non-utf-8 body": lambda auth: httpx.Response(
        400, content=b"\xff\xfe bad: " + auth.encode() + b" \x80\x81"
    ),
    "base64": lambda auth: httpx.Response(
        403, json={"message": "forbidden " + base64.b64encode(f"x:{auth}".encode()).decode()}
    ),
    "hex": lambda auth: httpx.Response(403, json={"detail": auth.encode().hex()}),
    "percent-encoded": lambda auth: httpx.Response(
        403, json={"detail": "see /login?token=" + quote(auth.removeprefix("Bearer "), safe="")}
    ),
}


@pytest.mark.parametrize("echo", list(ECHOES))
async def test_a_server_echoing_the_key_leaves_no_trace_in_the_error(h: Harness, echo: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return ECHOES[echo](request.headers["authorization"])

    err = await fail(h, client(h, handler, max_retries=0), "chat")
    assert isinstance(err, q.APIStatusError)
    for where, value in {
        "str(err)": str(err),
        "repr(err)": repr(err),
        "err.body": repr(err.body),
        "err.headers": repr(err.headers),
        "err.request_id": repr(err.request_id),
        "the ledger row": repr(h.ledger.records[0]),
        "the traceback": formatted(err),
    }.items():
        assert_clean(value, where)


async def test_a_mid_stream_error_echoing_the_key_is_redacted(h: Harness) -> None:
    err = await fail(h, client(h, _stream_error(h)), "stream")
    assert isinstance(err, q.StreamError)
    assert "upstream saw" in str(err) and err.partial_text == "Hel"
    assert_clean(str(err), "str(err)")
    assert_clean(repr(err.body), "err.body")
    assert_clean(str(h.ledger.records[0].error), "the ledger row")


async def test_a_request_id_echoing_the_key_is_redacted_in_the_reply_and_the_ledger(
    h: Harness,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        chunk = {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
        return h.sse_response(
            [f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()],
            headers={"x-request-id": request.headers["authorization"]},
        )

    c = client(h, handler)
    stream = await h.call(c, "stream", "Hi", model="openai/gpt-4o")
    reply = await h.call(stream, "completion")
    await h.close(c)
    assert reply.text == "ok"
    assert_clean(repr(reply.request_id), "the reply's request id")
    assert_clean(repr(h.ledger.records[0]), "the ledger row")


def test_recordings_never_hold_the_key_in_any_encoding(tmp_path: Path) -> None:
    answers = iter(["gzip body", "non-utf-8 body", "request id header", "base64"])

    def handler(request: httpx.Request) -> httpx.Response:
        return ECHOES[next(answers)](request.headers["authorization"])

    path = tmp_path / "session.jsonl"
    with q.Client(
        KEY,
        "http://qolaba.test",
        transport=httpx.MockTransport(handler),
        record=path,
        ledger=False,
        max_retries=0,
    ) as c:
        for _ in range(4):
            with pytest.raises(q.APIStatusError):
                c.chat("Hi", model="openai/gpt-4o")
    text = path.read_text()
    assert len(text.splitlines()) == 4
    # the file as written, and every body inside it decoded
    bodies = []
    for line in text.splitlines():
        response = json.loads(line)["response"]
        if "base64" in response:
            raw = base64.b64decode(response["base64"])
            if response["headers"].get("content-encoding") == "gzip":
                raw = gzip.decompress(raw)
            bodies.append(raw.decode("latin-1"))
    assert_clean(text + "\n".join(bodies), "the recording")
    # and the error still replays
    replay = q.Client(KEY, "http://qolaba.test", replay=path, ledger=False, max_retries=0)
    with replay as c, pytest.raises(q.APIStatusError) as info:
        c.chat("Hi", model="openai/gpt-4o")
    assert "bad: Bearer **********" in str(info.value)


def test_chat_magic_output_never_shows_an_echoed_key() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = json.dumps(
            {"error": {"message": f"upstream saw {request.headers['authorization']}"}}
        )
        return httpx.Response(
            200,
            content=f"data: {echoed}\n\n".encode(),
            headers={"content-type": "text/event-stream"},
        )

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "qolaba_nb")
    magics = ip.magics_manager.registry["QolabaMagics"]
    magics.history, magics.model = [], None
    magics._client = q.Client(
        KEY, "http://qolaba.test", transport=httpx.MockTransport(handler), ledger=False
    )
    try:
        with capture_output() as cap:
            ip.run_cell_magic("chat", "-m openai/gpt-4o", "Hi")
    finally:
        magics._client.close()
        magics._client = None
    shown = "\n".join(str(o.data) for o in cap.outputs)
    assert "StreamError" in shown and "upstream saw" in shown
    assert_clean(shown, "the %%chat output")


def test_the_key_is_not_in_the_client_repr_nor_in_its_attributes() -> None:
    with q.Client(KEY, "http://qolaba.test", ledger=False) as c:
        shown = repr(c) + str(c) + repr(c._request_headers()) + repr(vars(c))
    assert_clean(shown, "the client or its attributes")


async def test_the_chat_panel_error_card_never_holds_an_echoed_key() -> None:
    import json as _json

    from qolaba_nb.widgets import ChatPanel
    from tests.widgets.conftest import all_widgets

    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}
        events = [
            f"data: {_json.dumps(chunk)}\n\n",
            f"data: {_json.dumps({'error': {'message': f'proxy saw {auth}'}})}\n\n",
        ]
        return httpx.Response(
            200, content="".join(events).encode(), headers={"content-type": "text/event-stream"}
        )

    client = q.AsyncClient(
        KEY, "http://qolaba.test", transport=httpx.MockTransport(handler), ledger=False
    )
    panel = ChatPanel(client, model="openai/gpt-4o")
    try:
        with pytest.raises(q.StreamError):
            await panel.send("hi")
        state = "\n".join(_json.dumps(wd.get_state(), default=str) for wd in all_widgets(panel))
        assert "proxy saw" in state  # the error card is there ...
        assert_clean(state, "the panel's widget state")  # ... without the key
    finally:
        panel.close()
        await client.aclose()
