"""Fixtures for the widget tests: a simulator, a client with an in-memory ledger, and a wire.

No browser and no kernel here. ipywidgets send through a ``comm``; outside a kernel that is
``comm.DummyComm``, which drops every message. The ``wire`` fixture swaps in a comm that
keeps them, so tests can count what a panel would send to the browser, and how many bytes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import comm
import ipywidgets as w
import pytest

from qolaba_nb import AsyncClient
from qolaba_nb.ledger import UsageLedger
from qolaba_nb.simulator import Simulator

#: The key of the test simulator; no widget state may ever contain it.
SECRET_KEY = "sk-qolaba-test-5ecret-do-not-leak-7f3a"


@dataclass
class WireMessage:
    comm_id: str
    msg_type: str  # comm_open, comm_msg, comm_close
    data: dict[str, Any]
    size: int  # bytes of the JSON payload

    @property
    def method(self) -> str:
        return str(self.data.get("method", ""))


class Wire:
    """Every comm message the widgets sent, in order."""

    def __init__(self) -> None:
        self.messages: list[WireMessage] = []

    def of(self, widget: w.Widget) -> list[WireMessage]:
        return [m for m in self.messages if m.comm_id == widget.model_id]

    def mark(self) -> int:
        return len(self.messages)

    def since(self, mark: int, widget: w.Widget | None = None) -> list[WireMessage]:
        found = self.messages[mark:]
        return found if widget is None else [m for m in found if m.comm_id == widget.model_id]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    recorded = Wire()

    class RecordingComm(comm.DummyComm):
        def publish_msg(
            self,
            msg_type: str,
            data: dict[str, Any] | None = None,
            metadata: dict[str, Any] | None = None,
            buffers: Any = None,
            **keys: Any,
        ) -> None:
            payload = data or {}
            size = len(json.dumps(payload, default=str, ensure_ascii=False).encode())
            size += sum(len(memoryview(b).cast("B")) for b in buffers or ())
            recorded.messages.append(WireMessage(self.comm_id, msg_type, payload, size))

    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return recorded


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    with Simulator(api_key=SECRET_KEY) as simulator:
        yield simulator


@pytest.fixture
def ledger() -> Iterator[UsageLedger]:
    with UsageLedger(":memory:") as led:
        yield led


@pytest.fixture
async def client(sim: Simulator, ledger: UsageLedger) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(sim.api_key, sim.base_url, ledger=ledger) as c:
        yield c


def all_widgets(root: w.Widget) -> list[w.Widget]:
    """``root`` and every widget reachable through its traits (children, layouts, styles...)."""
    seen: dict[int, w.Widget] = {}
    todo = [root]
    while todo:
        widget = todo.pop()
        if id(widget) in seen:
            continue
        seen[id(widget)] = widget
        for name in widget.keys:
            value = getattr(widget, name)
            values = value if isinstance(value, list | tuple) else [value]
            todo.extend(v for v in values if isinstance(v, w.Widget))
    return list(seen.values())
