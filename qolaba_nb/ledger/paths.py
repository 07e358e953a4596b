"""Where the ledger lives: ``$QOLABA_NB_LEDGER`` or the per-user data directory."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["MEMORY", "default_ledger_path", "is_url"]

#: The SQLite name of a private in-memory database.
MEMORY: Final = ":memory:"
#: Targets that are database URLs rather than SQLite files (schemes are case-insensitive).
URL_SCHEMES: Final = ("postgresql://", "postgres://")


def is_url(target: str) -> bool:
    """Whether a ledger ``path`` names a database server (``postgresql://``, ``postgres://``,
    in any case) rather than an SQLite file."""
    return target[:13].lower().startswith(URL_SCHEMES)


def _data_dir(platform: str, environ: Mapping[str, str], home: Path) -> Path:
    """The per-user data directory for ``qolaba_nb`` (what platformdirs would say, roughly)."""
    if platform == "win32":
        base = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "qolaba_nb"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "qolaba_nb"
    # XDG: an empty or relative XDG_DATA_HOME must be ignored, says the spec.
    xdg = environ.get("XDG_DATA_HOME", "")
    base_dir = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base_dir / "qolaba_nb"


def default_ledger_path() -> str:
    """The ledger file used when no path is given.

    ``$QOLABA_NB_LEDGER`` when set (``~`` is expanded; ``":memory:"`` is allowed), else
    ``usage.sqlite`` in the per-user data directory: ``$XDG_DATA_HOME/qolaba_nb`` (default
    ``~/.local/share/qolaba_nb``) on Linux, ``~/Library/Application Support/qolaba_nb`` on macOS,
    ``%LOCALAPPDATA%\\qolaba_nb`` on Windows.
    """
    env = os.environ.get("QOLABA_NB_LEDGER", "")
    if env:
        return normalise_path(env)
    return str(_data_dir(sys.platform, os.environ, Path.home()) / "usage.sqlite")


def normalise_path(path: str | os.PathLike[str]) -> str:
    """``path`` as the ledger keeps it: absolute with ``~`` expanded; ``":memory:"`` and
    database URLs as they are."""
    raw = os.fspath(path)
    if raw == MEMORY or is_url(raw):
        return raw
    return str(Path(raw).expanduser().absolute())
