"""Where the base URL and the API key come from, and how secrets are kept out of sight.

Order of precedence: the argument, then the environment, then a ``.env`` file in the working
directory (only ``QOLABA_*`` lines are read from it), then the default base URL.

The one redaction rule of the package lives here too: :class:`Secret` holds a secret (the API
key, a database URL with its password), :func:`redact` and its ``_bytes`` / ``_value`` forms
mask a secret in text that is about to be shown or stored, and :func:`mask_url` shows a URL
without its credentials. Nothing else in the package masks anything.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

DEFAULT_BASE_URL = "https://qolaba-server-b2b.up.railway.app"
API_KEY_ENV = "QOLABA_API_KEY"
BASE_URL_ENV = "QOLABA_BASE_URL"
#: What stands in for the key wherever it would have been shown.
MASK = "**********"
#: A ``password=`` parameter in a URL's query (``sslpassword=`` too); group 2 is its value.
PASSWORD_PARAM = re.compile(r"(?i)((?:^|&)[^=&]*password=)([^&#]*)")
#: Below this length an encoding of the key could match ordinary text: only the key is masked.
_MIN_ENCODED = 8


class Secret:
    """A string that never shows itself: not in repr, str, f-strings or tracebacks.

    ``.get()`` returns the value for the one place that needs it (the Authorization header).
    """

    __slots__ = ("_forms", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        self._forms: tuple[str, ...] | None = None

    def get(self) -> str:
        return self._value

    def forms(self) -> tuple[str, ...]:
        """Every way the key can appear in what a server sends back, longest first.

        The key itself, its JSON and percent encodings, hex (both cases) and base64 (standard
        and URL-safe) at each of the three alignments it can take inside a longer base64 text,
        so that an echoed ``Authorization`` header, encoded or not, is found.

        Returns
        -------
        tuple of str
            The forms to mask; only the key itself for keys shorter than 8 characters.
        """
        if self._forms is None:
            key = self._value
            found = {key} if key else set()
            if len(key) >= _MIN_ENCODED:
                raw = key.encode("utf-8")
                found |= {raw.hex(), raw.hex().upper(), quote(key, safe=""), quote_plus(key)}
                found.add(json.dumps(key)[1:-1])
                for start in range(3):
                    part = raw[start:]
                    part = part[: len(part) // 3 * 3]  # whole groups: the same at any offset
                    found.add(base64.b64encode(part).decode("ascii"))
                    found.add(base64.urlsafe_b64encode(part).decode("ascii"))
            self._forms = tuple(sorted(found, key=len, reverse=True))
        return self._forms

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
    """Mask the key, and its encodings, in text that came from a server or is about to be shown.

    The one redaction rule of the package: error messages and bodies, response headers, stream
    errors, ledger rows, recordings and notebook output all pass through it (or through
    ``redact_bytes`` / ``redact_value``, which apply it).

    Parameters
    ----------
    text
        Any text; returned unchanged when it holds no form of the key.
    secret
        The client's key; None masks nothing.

    Returns
    -------
    str
        ``text`` with every form of the key (see ``Secret.forms``) replaced by ``MASK``.
    """
    if secret is None:
        return text
    for form in secret.forms():
        if form in text:
            text = text.replace(form, MASK)
    return text


def redact_bytes(data: bytes, secret: Secret | None) -> bytes:
    """``redact`` for raw bytes (a body in any charset: the key's forms are ASCII or UTF-8).

    Parameters
    ----------
    data
        Bytes as they came from the server, already decompressed.
    secret
        The client's key; None masks nothing.

    Returns
    -------
    bytes
        ``data`` with every form of the key replaced by ``MASK``.
    """
    if secret is None:
        return data
    for form in secret.forms():
        raw = form.encode("utf-8")
        if raw in data:
            data = data.replace(raw, MASK.encode("ascii"))
    return data


def redact_value(value: Any, secret: Secret | None) -> Any:
    """``redact`` applied to every string inside a parsed JSON value, a header mapping or a
    dataclass (a ``ChatCompletion`` and its choices, for instance).

    Parameters
    ----------
    value
        A string, bytes, a dataclass instance, or a (nested) mapping / list of them; other
        values are returned as they are.
    secret
        The client's key; None masks nothing.

    Returns
    -------
    Any
        ``value`` with the key masked: a copy where something was masked (mappings become
        dicts, tuples become lists, a dataclass a new instance of its class), else ``value``
        itself when it is a str, bytes, dict, list or dataclass (nothing is copied for
        nothing: a reply of any length is checked once, at the end of its call).
    """
    if secret is None:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, bytes):
        return redact_bytes(value, secret)
    if isinstance(value, Mapping):
        pairs = [(redact(str(k), secret), redact_value(v, secret)) for k, v in value.items()]
        if type(value) is dict and all(
            k is old_k and v is old_v
            for (k, v), (old_k, old_v) in zip(pairs, value.items(), strict=True)
        ):
            return value
        return dict(pairs)
    if isinstance(value, list | tuple):
        items = [redact_value(v, secret) for v in value]
        if type(value) is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: new
            for f in dataclasses.fields(value)
            if f.init and (new := redact_value(old := getattr(value, f.name), secret)) is not old
        }
        return dataclasses.replace(value, **changes) if changes else value
    return value


def redact_pieces(pieces: Sequence[str], secret: Secret | None) -> list[str]:
    """``redact`` for a text that arrived in pieces (a streamed reply's deltas).

    A form of the key that spans several pieces is masked too: the mask goes in the piece
    where it starts and the later pieces lose the characters it covered, so that the pieces
    joined are the text joined with every form masked.

    Parameters
    ----------
    pieces
        The pieces, in order.
    secret
        The client's key; None masks nothing.

    Returns
    -------
    list of str
        As many pieces as were given (some may be empty).
    """
    text = "".join(pieces)
    spans: list[tuple[int, int]] = []
    for form in secret.forms() if secret is not None else ():
        at = text.find(form)
        while at >= 0:
            spans.append((at, at + len(form)))
            at = text.find(form, at + 1)
    if not spans:
        return list(pieces)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:  # overlapping forms: one mask
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    begin = 0
    for piece in pieces:
        end = begin + len(piece)
        kept, cursor = [], begin
        for s, e in merged:
            if e <= begin or s >= end:
                continue
            kept.append(text[cursor:s] if s > cursor else "")
            if s >= begin:
                kept.append(MASK)
            cursor = max(cursor, min(e, end))
        kept.append(text[cursor:end])
        out.append("".join(kept))
        begin = end
    return out


def mask_url(url: str) -> str:
    """``url`` as it may be shown: without its credentials.

    The user part (``user:password@``, or a token as user name) becomes ``**********@`` and a
    ``password=`` query parameter ``password=**********``. The user part ends at the last
    ``@``, so a password holding an ``@``, a ``/`` or a ``?`` is masked whole (an ``@`` in the
    path or query masks more than needed, never less).

    Parameters
    ----------
    url
        A URL, valid or not (a base URL, a ``postgresql://`` ledger); text that is not a URL is
        returned as it is.

    Returns
    -------
    str
        The URL for a repr, a message or a public attribute.

    Examples
    --------
    >>> mask_url("postgresql://ann:s3cret@db.example:5432/team?sslmode=require")
    'postgresql://**********@db.example:5432/team?sslmode=require'
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    _userinfo, at, rest = rest.rpartition("@")
    where, question, query = rest.partition("?")
    query = PASSWORD_PARAM.sub(rf"\g<1>{MASK}", query)
    return f"{scheme}{sep}{MASK if at else ''}{at}{where}{question}{query}"
