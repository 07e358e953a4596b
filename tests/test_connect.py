"""``connect()``: the real API when a key is set, else the simulator, said in one line;
``login()``: the key from getpass into this process only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import qolaba_nb as q
from qolaba_nb import _connect


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's working directory
    for name in ("QOLABA_API_KEY", "QOLABA_BASE_URL", "QOLABA_SIMULATOR"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_key_connect_uses_the_simulator_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with q.connect(ledger=False) as client:
        models = client.list_models()
    line = capsys.readouterr().out.strip()
    assert line.startswith(
        "QOLABA_API_KEY is not set: using the built-in Qolaba simulator at http://127.0.0.1:"
    )
    assert "\n" not in line and models
    with q.connect(ledger=False, quiet=True) as again:  # one simulator per process
        assert again.base_url == client.base_url
    assert capsys.readouterr().out == ""


def test_with_a_key_connect_uses_the_api(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QOLABA_API_KEY", "sk-test-connect-0000")
    client = q.connect(ledger=False)
    assert client.base_url == "https://qolaba-server-b2b.up.railway.app"
    out = capsys.readouterr().out
    assert out.strip() == "Using the Qolaba API at https://qolaba-server-b2b.up.railway.app."
    assert "sk-test-connect-0000" not in out + repr(client)


def test_a_key_from_dotenv_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_text(
        "QOLABA_API_KEY=sk-test-dotenv-1111\nQOLABA_BASE_URL=http://127.0.0.1:9/x\n"
    )
    client = q.connect(ledger=False)
    assert client.base_url == "http://127.0.0.1:9/x" and client.has_api_key
    assert "Using the Qolaba API at http://127.0.0.1:9/x." in capsys.readouterr().out


def test_kernels_started_by_lab_say_simulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QOLABA_API_KEY", "qsim-local-key")
    monkeypatch.setenv("QOLABA_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv(_connect.SIMULATOR_ENV, "1")
    q.aconnect(ledger=False)
    assert "built-in Qolaba simulator at http://127.0.0.1:9 (offline)" in capsys.readouterr().out


def test_login_reads_the_key_with_getpass_and_never_prints_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QOLABA_API_KEY", "")  # so that monkeypatch unsets what login() sets
    monkeypatch.setattr("getpass.getpass", lambda prompt: "  sk-test-typed-2222  ")
    assert q.login() is None
    assert os.environ["QOLABA_API_KEY"] == "sk-test-typed-2222"
    assert "sk-test-typed-2222" not in capsys.readouterr().out
    monkeypatch.setattr("getpass.getpass", lambda prompt: "")
    with pytest.raises(ValueError):
        q.login()
