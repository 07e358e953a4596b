"""Where the key and base URL come from, and how the key stays out of sight."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from qolaba_nb._config import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    MASK,
    Secret,
    read_dotenv,
    redact,
    redact_pieces,
    redact_value,
    resolve_api_key,
    resolve_base_url,
)

KEY = "qk-live-5f3a9c7e1b2d"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No key or URL from the real environment or a real .env: an empty cwd."""
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_env(directory: Path, text: str) -> None:
    (directory / ".env").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- api key


def test_no_key_anywhere_gives_none() -> None:
    assert resolve_api_key(None) is None


def test_key_from_argument_wins_over_env_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    write_env(clean_env, "QOLABA_API_KEY=from-dotenv\n")
    key = resolve_api_key(KEY)
    assert key is not None and key.get() == KEY


def test_secret_argument_is_returned_as_is() -> None:
    secret = Secret(KEY)
    assert resolve_api_key(secret) is secret


def test_key_from_env_wins_over_dotenv(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    write_env(clean_env, "QOLABA_API_KEY=from-dotenv\n")
    key = resolve_api_key(None)
    assert key is not None and key.get() == "from-env"


def test_empty_env_var_falls_through_to_dotenv(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "")
    write_env(clean_env, "QOLABA_API_KEY=from-dotenv\n")
    key = resolve_api_key(None)
    assert key is not None and key.get() == "from-dotenv"


@pytest.mark.parametrize(
    "text",
    [
        f"QOLABA_API_KEY={KEY}\n",
        f'QOLABA_API_KEY="{KEY}"\n',
        f"QOLABA_API_KEY='{KEY}'\n",
        f"export QOLABA_API_KEY={KEY}\n",
        f"  QOLABA_API_KEY = {KEY}  \n",
        f"# QOLABA_API_KEY=commented-out\nOTHER=1\n\nQOLABA_API_KEY={KEY}\n",
        f"QOLABA_API_KEY={KEY} # my key\n",
        f'QOLABA_API_KEY="{KEY}" # my key\n',
        f"export QOLABA_API_KEY='{KEY}'  # quoted, exported, commented\n",
        f"QOLABA_API_KEY={KEY}\r\n",
        f"\ufeffQOLABA_API_KEY={KEY}\n",
    ],
    ids=[
        "plain",
        "double-quotes",
        "single-quotes",
        "export",
        "spaces",
        "comment-lines",
        "trailing-comment",
        "quotes-then-comment",
        "export-quotes-comment",
        "crlf",
        "bom",
    ],
)
def test_key_from_dotenv_in_cwd(clean_env: Path, text: str) -> None:
    write_env(clean_env, text)
    key = resolve_api_key(None)
    assert key is not None and key.get() == KEY


def test_dotenv_keeps_hash_inside_quotes_and_without_space(clean_env: Path) -> None:
    write_env(clean_env, 'QOLABA_API_KEY="ab #cd"\nQOLABA_BASE_URL=http://h/x#y\n')
    assert read_dotenv() == {"QOLABA_API_KEY": "ab #cd", "QOLABA_BASE_URL": "http://h/x#y"}


def test_dotenv_reads_only_qolaba_names(clean_env: Path) -> None:
    write_env(clean_env, "OPENAI_API_KEY=nope\nPATH=/evil\nQOLABA_API_KEY=k\n")
    assert read_dotenv() == {"QOLABA_API_KEY": "k"}


def test_dotenv_in_another_directory_is_not_read(clean_env: Path) -> None:
    (clean_env / "sub").mkdir()
    write_env(clean_env / "sub", "QOLABA_API_KEY=elsewhere\n")
    assert resolve_api_key(None) is None


def test_unreadable_dotenv_is_ignored(clean_env: Path) -> None:
    (clean_env / ".env").write_bytes(b"QOLABA_API_KEY=\xff\xfe\n")
    assert read_dotenv() == {}
    (clean_env / ".env").unlink()
    (clean_env / ".env").mkdir()  # a directory, not a file
    assert read_dotenv() == {}


# --------------------------------------------------------------------------- base url


def test_base_url_default() -> None:
    assert resolve_base_url(None) == DEFAULT_BASE_URL


def test_base_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8765/")
    assert resolve_base_url(None) == "http://127.0.0.1:8765"


def test_base_url_from_dotenv(clean_env: Path) -> None:
    write_env(clean_env, "QOLABA_BASE_URL=http://localhost:9000\n")
    assert resolve_base_url(None) == "http://localhost:9000"


def test_base_url_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://env")
    assert resolve_base_url("http://arg") == "http://arg"


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("https://api.example.com/", "https://api.example.com"),
        ("https://api.example.com//", "https://api.example.com"),
        ("https://proxy.example.com/qolaba/", "https://proxy.example.com/qolaba"),
        ("https://proxy.example.com/qolaba", "https://proxy.example.com/qolaba"),
    ],
    ids=["slash", "two-slashes", "prefix-slash", "prefix"],
)
def test_base_url_trailing_slash_stripped_path_prefix_kept(url: str, resolved: str) -> None:
    assert resolve_base_url(url) == resolved


# --------------------------------------------------------------------------- Secret


@pytest.mark.parametrize(
    "show",
    [
        repr,
        str,
        format,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: f"{s:>40}",
        lambda s: "%s" % s,  # noqa: UP031 -- the %-operator is what is being tested
        lambda s: "%r" % (s,),  # noqa: UP031
        lambda s: "{}".format(s),  # noqa: UP032
        lambda s: str([s]),
        lambda s: str({"key": s}),
    ],
    ids=[
        "repr",
        "str",
        "format",
        "f-string",
        "f-string-r",
        "f-string-spec",
        "percent-s",
        "percent-r",
        "str-format",
        "in-list",
        "in-dict",
    ],
)
def test_secret_never_shows_its_value(show: Callable[[Secret], str]) -> None:
    shown = show(Secret(KEY))
    assert KEY not in shown
    assert "*" in shown


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_secret_cannot_be_pickled(protocol: int) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY), protocol=protocol)


def test_secret_cannot_be_copied_through_reduce() -> None:
    with pytest.raises(TypeError):
        copy.deepcopy(Secret(KEY))


def test_secret_get_equality_and_hash() -> None:
    assert Secret(KEY).get() == KEY
    assert Secret(KEY) == Secret(KEY)
    assert Secret(KEY) != Secret("other")
    assert Secret(KEY) != KEY  # never equal to the bare string
    assert len({Secret(KEY), Secret(KEY)}) == 1


def test_secret_has_no_instance_dict() -> None:
    assert not hasattr(Secret(KEY), "__dict__")


def test_redact_removes_the_key() -> None:
    text = f"echoed header: Authorization: Bearer {KEY}; again {KEY}"
    out = redact(text, Secret(KEY))
    assert KEY not in out
    assert out == "echoed header: Authorization: Bearer **********; again **********"


@pytest.mark.parametrize("secret", [None, Secret("")], ids=["none", "empty"])
def test_redact_without_a_key_leaves_text_alone(secret: Secret | None) -> None:
    assert redact("abc", secret) == "abc"


def test_redact_pieces_finds_a_key_split_anywhere() -> None:
    secret = Secret(KEY)
    text = f"a {KEY} b {KEY.encode().hex()} c {KEY}{KEY}"
    rng = random.Random(7)
    for _ in range(500):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 20)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        masked = redact_pieces(pieces, secret)
        assert len(masked) == len(pieces)
        assert "".join(masked) == redact(text, secret)  # the same as masking the whole
    assert redact_pieces([KEY[:4], KEY[4:], "!"], secret) == [MASK, "", "!"]
    assert redact_pieces(["no", " key"], secret) == ["no", " key"]
    assert redact_pieces([KEY], None) == [KEY]


@dataclass
class _Inner:
    text: str
    raw: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Outer:
    inner: _Inner
    items: list[object]
    count: int = 0


def test_redact_value_masks_inside_dataclasses_and_copies_only_what_changed() -> None:
    secret = Secret(KEY)
    clean = _Outer(_Inner("fine", {"a": ["b"]}), [1, "two"], 3)
    assert redact_value(clean, secret) is clean  # nothing to mask: nothing copied
    dirty = _Outer(_Inner("fine", {"h": [f"Bearer {KEY}"]}), [clean.inner, KEY], 3)
    out = redact_value(dirty, secret)
    assert out == _Outer(_Inner("fine", {"h": [f"Bearer {MASK}"]}), [clean.inner, MASK], 3)
    assert out.items[0] is clean.inner and dirty.items[1] == KEY  # the original is untouched
