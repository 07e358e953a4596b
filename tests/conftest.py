"""Suite-wide set-up: the ledger of the test run lives in a temporary file, never in $HOME,
and a real key in the developer's environment is never used by a test."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="qolaba-nb-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ["QOLABA_NB_LEDGER"] = str(_TMP / "usage.sqlite")
    os.environ.pop("QOLABA_API_KEY", None)
    os.environ.pop("QOLABA_BASE_URL", None)
