"""Suite-wide set-up, for the tests and for the notebooks nbval runs (``pytest --nbval``).

- The ledger of a test run lives in a temporary file, never in $HOME.
- A real key in the developer's environment is never used: it is removed, and the built-in
  simulator is started here, with its URL and key in the environment that notebook kernels
  inherit (nbval's kernels do not see pytest fixtures).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="qolaba-nb-tests-"))
_sim: Any = None


def pytest_configure(config: pytest.Config) -> None:
    global _sim
    os.environ["QOLABA_NB_LEDGER"] = str(_TMP / "usage.sqlite")
    for name in ("QOLABA_API_KEY", "QOLABA_BASE_URL", "QOLABA_SIMULATOR"):
        os.environ.pop(name, None)
    if config.getoption("nbval", default=False) or config.getoption("nbval_lax", default=False):
        from qolaba_nb.simulator import Simulator

        _sim = Simulator()
        _sim.start()
        os.environ["QOLABA_BASE_URL"] = _sim.base_url
        os.environ["QOLABA_API_KEY"] = _sim.api_key
        os.environ["QOLABA_SIMULATOR"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _sim is not None:
        _sim.stop()
