"""The package's face: what it exports, what importing it costs, what its twins look like."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys

import httpx
import pytest

import qolaba_nb as q
from qolaba_nb._client import DEFAULT_TIMEOUT


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert q.__all__ == sorted(q.__all__)
    for name in q.__all__:
        assert getattr(q, name) is not None, name


def test_errors_are_re_exported_from_the_errors_module() -> None:
    from qolaba_nb import _exceptions

    for name in _exceptions.__all__:
        if name[0].isupper():
            assert getattr(q, name) is getattr(_exceptions, name)


def test_call_record_is_public_for_writing_ledger_rows() -> None:
    from qolaba_nb._record import CallRecord

    assert q.CallRecord is CallRecord
    assert "CallRecord" in q.__all__


def test_import_is_light() -> None:
    code = "import sys, json, qolaba_nb; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in json.loads(out.stdout)}
    assert not loaded & {"pandas", "matplotlib", "ipywidgets", "anywidget", "starlette", "uvicorn"}


@pytest.mark.parametrize("name", ["chat", "stream", "list_models", "get_model"])
def test_every_sync_method_has_an_async_twin_with_the_same_signature(name: str) -> None:
    sync, asyn = getattr(q.Client, name), getattr(q.AsyncClient, name)
    assert inspect.iscoroutinefunction(asyn) and not inspect.iscoroutinefunction(sync)
    assert list(inspect.signature(sync).parameters) == list(inspect.signature(asyn).parameters)


def test_stream_twins_have_paired_methods() -> None:
    pairs = {
        "__iter__": "__aiter__",
        "__next__": "__anext__",
        "close": "aclose",
        "completion": "completion",
        "text_deltas": "text_deltas",
        "__enter__": "__aenter__",
    }
    for sync_name, async_name in pairs.items():
        assert hasattr(q.ChatStream, sync_name) and hasattr(q.AsyncChatStream, async_name)
    for prop in ("text", "usage", "finish_reason", "ttft_s", "request_id"):
        assert isinstance(getattr(q.ChatStream, prop), property)


def test_the_default_read_timeout_lets_a_three_minute_upstream_answer_arrive() -> None:
    assert DEFAULT_TIMEOUT.read is not None and DEFAULT_TIMEOUT.read > 180
    assert q.Client("k", ledger=False).timeout.read == DEFAULT_TIMEOUT.read


def test_the_key_is_not_in_logs_even_at_debug_level(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-test-LOGS-0123456789abcdef"
    answers = [httpx.Response(502, text="bad"), httpx.Response(200, json={"choices": []})]
    client = q.Client(
        key,
        "http://qolaba.test",
        transport=httpx.MockTransport(lambda r: answers.pop(0)),
        ledger=False,
    )
    monkeypatch.setattr(q._client, "_sleep", lambda seconds: None)
    with caplog.at_level(logging.DEBUG):
        client.chat("hi", model="m/x")
    assert "retrying" in caplog.text
    assert key not in caplog.text


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("judge", "qolaba_nb._judge"),
        ("ajudge", "qolaba_nb._judge"),
        ("leaderboard", "qolaba_nb._leaderboard"),
        ("report", "qolaba_nb._report"),
    ],
)
def test_comparison_helpers_are_exported_lazily(name: str, module: str) -> None:
    code = (
        f"import sys, qolaba_nb as q; assert {module!r} not in sys.modules; "
        f"f = getattr(q, {name!r}); assert f.__module__ == {module!r}, f; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    assert name in q.__all__
