"""Where the ledger lives by default, and the process-wide default ledger."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qolaba_nb.ledger import (
    LedgerError,
    UsageLedger,
    _data_dir,
    default_ledger,
    default_ledger_path,
)

from .conftest import RecordFactory


def test_path_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "custom" / "ledger.sqlite"
    monkeypatch.setenv("QOLABA_NB_LEDGER", str(target))
    assert default_ledger_path() == str(target)
    with UsageLedger() as led:
        assert led.path == str(target)
    assert target.exists()


def test_env_path_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QOLABA_NB_LEDGER", "~/l.sqlite")
    assert default_ledger_path() == str(tmp_path / "home" / "l.sqlite")


def test_env_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QOLABA_NB_LEDGER", ":memory:")
    with UsageLedger() as led:
        assert led.path == ":memory:"


def test_path_from_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QOLABA_NB_LEDGER")
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_ledger_path() == str(tmp_path / "xdg" / "qolaba_nb" / "usage.sqlite")
    with UsageLedger() as led:
        assert Path(led.path).parent.is_dir()


def test_path_without_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QOLABA_NB_LEDGER")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setattr(sys, "platform", "linux")
    expected = tmp_path / "home" / ".local" / "share" / "qolaba_nb" / "usage.sqlite"
    assert default_ledger_path() == str(expected)
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")  # the XDG spec says: ignore it
    assert default_ledger_path() == str(expected)


def test_data_dir_per_platform() -> None:
    home = Path("/h")
    assert _data_dir("darwin", {}, home) == Path("/h/Library/Application Support/qolaba_nb")
    assert _data_dir("win32", {"LOCALAPPDATA": "C:/L"}, home) == Path("C:/L/qolaba_nb")
    assert _data_dir("win32", {}, home) == Path("/h/AppData/Local/qolaba_nb")
    assert _data_dir("linux", {"XDG_DATA_HOME": "/x"}, home) == Path("/x/qolaba_nb")
    assert _data_dir("linux", {}, home) == Path("/h/.local/share/qolaba_nb")


def test_default_ledger_is_a_singleton(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_rec: RecordFactory
) -> None:
    first = default_ledger()
    assert default_ledger() is first
    assert first.path == str(tmp_path / "env-ledger.sqlite")
    first.record(make_rec())

    monkeypatch.setenv("QOLABA_NB_LEDGER", str(tmp_path / "second.sqlite"))
    second = default_ledger()
    assert second is not first
    assert second.path == str(tmp_path / "second.sqlite")
    assert len(second) == 0
    assert len(first) == 1  # the old one still works for whoever holds it
    first.close()

    second.close()
    assert default_ledger() is not second  # a closed default is replaced


def test_importing_qolaba_nb_ledger_stays_light() -> None:
    code = (
        "import sys, qolaba_nb, qolaba_nb.ledger; "
        "heavy = [m for m in ('pandas', 'matplotlib', 'numpy') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_database_url_stays_a_url_and_its_password_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from qolaba_nb._config import mask_url
    from qolaba_nb.ledger.paths import is_url, normalise_path

    url = "postgresql://team:s3cret@db.example:5432/usage"
    monkeypatch.setenv("QOLABA_NB_LEDGER", url)
    assert default_ledger_path() == normalise_path(url) == url and is_url(url)
    assert mask_url(url) == "postgresql://**********@db.example:5432/usage"
    assert not is_url("/tmp/usage.sqlite")


@pytest.mark.parametrize(
    "target",
    ["postgresql://u@h/db", "postgres://h/db", "POSTGRESQL://h/db", "Postgres://h/db"],
)
def test_database_urls_are_recognised_in_any_case(target: str) -> None:
    from qolaba_nb.ledger.paths import is_url, normalise_path

    assert is_url(target) and normalise_path(target) == target


@pytest.mark.parametrize(
    "target", ["usage.sqlite", ":memory:", "/tmp/postgresql/usage.sqlite", "postgresql:x"]
)
def test_paths_are_not_urls(target: str) -> None:
    from qolaba_nb.ledger.paths import is_url

    assert not is_url(target)


def test_an_upper_case_url_opens_a_server_not_a_file(tmp_path: Path) -> None:
    """It used to be taken for a relative file path (with its password in ``path``)."""
    from qolaba_nb._config import MASK

    port = 1  # nothing listens there: the connection is refused at once
    url = f"POSTGRESQL://ann:s3cret-pw@127.0.0.1:{port}/team?connect_timeout=2"
    with pytest.raises(LedgerError) as info:
        UsageLedger(url)
    assert f"POSTGRESQL://{MASK}@127.0.0.1:{port}/team" in str(info.value)
    assert "s3cret-pw" not in str(info.value)
    assert not list(tmp_path.rglob("*team*")) and not Path("POSTGRESQL:").exists()
