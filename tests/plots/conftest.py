"""Fixtures for the plot tests: the Agg backend, figures closed after each test, and frames
shaped like the ledger's and the comparison runner's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported anywhere

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from qolaba_nb._record import CallRecord
from qolaba_nb.comparison import COLUMNS
from qolaba_nb.ledger import UsageLedger

#: The comparison runner's own columns: these tests follow its schema, not a copy of it.
COMPARISON_COLUMNS = COLUMNS


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def no_show(*args: object, **kwargs: object) -> None:
        raise AssertionError("plots must never call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


def comparison_frame(models: list[str], per_model: int = 3, seed: int = 0) -> pd.DataFrame:
    """A frame shaped like the comparison runner's output."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in models:
        for p in range(per_model):
            lat = float(rng.uniform(0.5, 6))
            rows.append(
                {
                    "prompt": f"prompt {p}",
                    "model": m,
                    "repeat": 0,
                    "text": "answer",
                    "credit": float(rng.uniform(0.1, 2)),
                    "cost": float(rng.uniform(0.001, 0.02)),
                    "latency_s": lat,
                    "ttft_s": float(rng.uniform(0.05, 1)),
                    "chars_per_s": 400 / lat,
                    "finish_reason": "stop",
                    "status": "ok",
                    "error": None,
                    "run_id": "run-1",
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


@pytest.fixture
def make_comparison() -> Callable[..., pd.DataFrame]:
    return comparison_frame


@pytest.fixture
def ledger_frame() -> pd.DataFrame:
    """A real ledger frame: 3 models, 12 calls over 12 minutes, some amounts unknown."""
    t0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
    models = ["gpt-4o-mini", "claude-3-5-sonnet", "gemini-1.5-pro"]
    recs = []
    for i in range(12):
        recs.append(
            CallRecord(
                model=models[i % 3],
                kind="stream" if i % 2 else "chat",
                status="ok" if i != 5 else "api_error",
                ts=t0 + timedelta(minutes=i),
                credit=None if i == 4 else 0.5 + i,
                cost=None if i in (4, 7) else 0.001 * (i + 1),
                latency_s=1.0 + i / 10,
                ttft_s=0.1 + i / 100 if i % 2 else None,
            )
        )
    with UsageLedger(":memory:") as led:
        led.record_many(recs)
        return led.to_dataframe()


@pytest.fixture
def empty_ledger_frame() -> pd.DataFrame:
    with UsageLedger(":memory:") as led:
        return led.to_dataframe()
