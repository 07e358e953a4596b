"""Where the base URL and the API key come from, and how the key is kept out of sight.

Order of precedence: the argument, then the environment, then a ``.env`` file in the working
directory (only ``QOLABA_*`` lines are read from it), then the default base URL.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_URL = "https://qolaba-server-b2b.up.railway.app"
API_KEY_ENV = "QOLABA_API_KEY"
BASE_URL_ENV = "QOLABA_BASE_URL"


class Secret:
    """A string that never shows itself: not in repr, str, f-strings or tracebacks.

    ``.get()`` returns the value for the one place that needs it (the Authorization header).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> str:  # pickling would write the key to disk
        raise TypeError("a Secret cannot be pickled")


def read_dotenv(path: Path | None = None) -> dict[str, str]:
    """The ``QOLABA_*`` assignments of a ``.env`` file (``KEY=value``, optional quotes, ``#``)."""
    path = path or Path.cwd() / ".env"
    try:
        # utf-8-sig: a BOM (Windows editors) would otherwise hide the first line's name
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return {}
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if value[:1] in ("'", '"') and value.find(value[0], 1) > 0:
            # Up to the closing quote: a comment after it (KEY="v" # note) used to keep the
            # quotes in the value, since the last character was not a quote.
            value = value[1 : value.find(value[0], 1)]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if name.startswith("QOLABA_"):
            found[name] = value
    return found


def _lookup(name: str) -> str | None:
    value = os.environ.get(name)
    if value:
        return value
    return read_dotenv().get(name) or None


def resolve_api_key(api_key: str | Secret | None) -> Secret | None:
    if isinstance(api_key, Secret):
        return api_key
    value = api_key if api_key is not None else _lookup(API_KEY_ENV)
    return Secret(value) if value else None


def resolve_base_url(base_url: str | None) -> str:
    """The server root, without a trailing slash; a path prefix is kept."""
    url = base_url or _lookup(BASE_URL_ENV) or DEFAULT_BASE_URL
    return url.rstrip("/")


def redact(text: str, secret: Secret | None) -> str:
    """Remove the key from text that is about to be shown (error bodies may echo headers)."""
    if secret is None or not secret.get():
        return text
    return text.replace(secret.get(), "**********")
