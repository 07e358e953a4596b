"""One redaction rule (qolaba_nb._config): every place that shows a URL masks its credentials
the same way, whatever characters the password holds."""

from __future__ import annotations

import sys

import pytest

import qolaba_nb as q
from qolaba_nb._config import MASK, Secret, mask_url
from qolaba_nb.ledger import LedgerError
from qolaba_nb.ledger.backends import open_backend

KEY = "sk-test-redaction-0123456789"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://ann:s3cr%40t@db.example:5432/team",
            f"postgresql://{MASK}@db.example:5432/team",
        ),
        ("postgresql://ann@db.example/team", f"postgresql://{MASK}@db.example/team"),
        ("postgresql://db.example/team", "postgresql://db.example/team"),
        (
            "postgresql://ann@h/team?sslmode=require&password=hunter2&connect_timeout=3",
            f"postgresql://{MASK}@h/team?sslmode=require&password={MASK}&connect_timeout=3",
        ),
        (
            "postgresql://h/t?sslpassword=hunter2&PASSWORD=hunter3",
            f"postgresql://h/t?sslpassword={MASK}&PASSWORD={MASK}",
        ),
        ("postgres://a:b@h1:5432,h2:5433/t", f"postgres://{MASK}@h1:5432,h2:5433/t"),
        ("postgresql://ann:@h/t", f"postgresql://{MASK}@h/t"),
        # libpq reads "pa?ss" as the password: the user part ends at the last "@".
        ("postgresql://ann:pa?ss@h/t", f"postgresql://{MASK}@h/t"),
        ("postgresql://ann:p@ss@h/t", f"postgresql://{MASK}@h/t"),
        ("postgresql://ann:pa/ss@h/t", f"postgresql://{MASK}@h/t"),
        ("https://alice:hunter2@proxy.test/base", f"https://{MASK}@proxy.test/base"),
        ("https://TOKEN123@proxy.test", f"https://{MASK}@proxy.test"),
        ("https://proxy.test/base", "https://proxy.test/base"),
        ("/home/ann/usage.sqlite", "/home/ann/usage.sqlite"),
        (":memory:", ":memory:"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


# Passwords the earlier copies of the rule (one per module) let through, in part or whole.
TRICKY = ["pass?Word-77", "pass/Word-77", "pass@Word-77"]


def _pieces(password: str) -> list[str]:
    return [password, "pass", "Word-77"]


@pytest.mark.parametrize("password", TRICKY)
def test_a_client_shows_its_base_url_without_credentials(password: str) -> None:
    try:
        with q.Client(KEY, f"https://alice:{password}@proxy.test/base", ledger=False) as c:
            shown = repr(c) + repr(c.settings)
    except q.ValidationError as e:  # not a URL httpx can use: then the error must not show it
        shown = str(e)
    for part in (*_pieces(password), "alice"):
        assert part not in shown, shown


@pytest.mark.parametrize("password", TRICKY)
def test_a_postgresql_ledger_target_never_shows_its_password(password: str) -> None:
    url = f"postgresql://ann:{password}@db.example:5432/team?connect_timeout=1"
    try:
        backend = open_backend(Secret(url))
    except ValueError as e:  # libpq refuses some of them: then the error must not show it
        shown = str(e)
    else:
        shown = backend.target + repr(backend)
    for part in _pieces(password):
        assert part not in shown, shown


def test_without_the_postgresql_backend_the_error_masks_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import qolaba_nb.ledger

    # As if this qolaba_nb had no PostgreSQL backend: importing it fails.
    monkeypatch.setitem(sys.modules, "qolaba_nb.ledger._postgres", None)
    monkeypatch.delattr(qolaba_nb.ledger, "_postgres", raising=False)
    with pytest.raises(LedgerError) as info:
        open_backend(Secret("postgresql://ann@h/team?sslmode=require&password=hunter2"))
    assert "hunter2" not in str(info.value) and "hunter2" not in str(info.value.path)
    assert f"password={MASK}" in str(info.value)
