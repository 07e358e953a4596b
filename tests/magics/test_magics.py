"""The ``%%chat`` and ``%qolaba`` magics in a real IPython shell, against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from qolaba_nb.ledger import UsageLedger
from qolaba_nb.magics import QolabaMagics, fill
from qolaba_nb.simulator import Simulator


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


@pytest.fixture
def shell(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("QOLABA_API_KEY", sim.api_key)
    monkeypatch.setenv("QOLABA_BASE_URL", sim.base_url)
    monkeypatch.setenv("QOLABA_SIMULATOR", "1")
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "qolaba_nb")
    magics = ip.magics_manager.registry["QolabaMagics"]
    magics.history, magics.model, magics._client = [], None, None
    yield ip
    if magics._client is not None:
        magics._client.close()
        magics._client = None


def magics_of(ip: Any) -> QolabaMagics:
    m: QolabaMagics = ip.magics_manager.registry["QolabaMagics"]
    return m


def test_fill_takes_names_from_the_namespace_and_leaves_other_braces() -> None:
    ns = {"topic": "rivers", "n": 3}
    assert fill("Tell me {n} facts about {topic}.", ns) == "Tell me 3 facts about rivers."
    assert (
        fill('JSON: {"a": 1} and {unknown} and {{topic}}', ns)
        == 'JSON: {"a": 1} and {unknown} and {topic}'
    )


def test_chat_magic_sends_the_cell_and_stores_the_completion(shell: Any) -> None:
    shell.user_ns["topic"] = "rivers"
    shell.run_cell_magic("chat", "-m sim/echo", "Tell me about {topic}.")
    reply = shell.user_ns["_chat"]
    assert reply.text == "Tell me about rivers."
    assert reply.usage is not None and reply.usage.credit > 0


def test_the_conversation_continues_until_new(shell: Any, sim: Simulator) -> None:
    shell.run_cell_magic("chat", "-m google/gemini-2.5-flash -t 0", "First question.")
    shell.run_cell_magic("chat", "", "Second question.")  # same model, same conversation
    sent = sim.requests_log[-1]["json"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[-1]["content"] == "Second question."
    assert sim.requests_log[-1]["json"]["model"] == "google/gemini-2.5-flash"
    shell.run_cell_magic("chat", "--new --no-stream --system 'Be brief.'", "Third.")
    sent = sim.requests_log[-1]["json"]
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert "stream" not in sent


def markdown_shown(ip: Any, line: str, cell: str) -> str:
    """The last HTML the magic displayed (updates included)."""
    with capture_output() as cap:
        ip.run_cell_magic("chat", line, cell)
    return str(cap.outputs[-1].data["text/html"])


def test_errors_show_in_the_output_not_as_a_traceback(shell: Any) -> None:
    shell.user_ns.pop("_chat", None)
    shown = markdown_shown(shell, "-m sim/upstream-error", "Hello")
    assert "UpstreamError" in shown
    shown = markdown_shown(shell, "-m sim/echo -t 5", "Hello")  # refused before sending
    assert "ValidationError" in shown and "temperature" in shown
    assert "_chat" not in shell.user_ns


def test_model_output_is_escaped_in_the_markdown(shell: Any) -> None:
    shown = markdown_shown(shell, "-m sim/echo", "<img src=x onerror=alert(1)> & <b>bold</b>")
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;" in shown
    assert "credits" in shown  # the usage line under the reply


def test_qolaba_usage_summarises_this_session(shell: Any, sim: Simulator) -> None:
    magics_of(shell)._client = None
    from qolaba_nb import Client

    ledger = UsageLedger(":memory:")
    magics_of(shell)._client = Client(sim.api_key, sim.base_url, ledger=ledger)
    shell.run_cell_magic("chat", "-m sim/echo", "Count me.")
    summary = shell.run_line_magic("qolaba", "usage")
    assert summary.loc["sim/echo", "calls"] == 1
    assert summary.loc["sim/echo", "credit"] > 0
