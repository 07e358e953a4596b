"""The API key never lands in a saved notebook: not in an output, not in the widget state.

Every notebook in ``notebooks/`` is run the way ``scripts/run_notebooks.py`` runs it (nbclient,
widget state stored), but against a simulator that accepts only a distinctive, random key; the
saved file is then searched for that key in every form it could take (plain, hex, base64 at
any alignment, URL-safe base64) and for its random part alone. A small notebook that drives a
``ChatPanel`` must in addition hold no ``Authorization`` header and no ``Bearer`` token.

The kernels get their environment explicitly (``simulator_env``): the root conftest may have
put another simulator's key into ``os.environ``, and that one must not be what is tested.
"""

from __future__ import annotations

import base64
import importlib.util
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import nbformat
import pytest

from qolaba_nb.simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PANEL_NOTEBOOK = "chat_panel_leakcheck.ipynb"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_qolaba_run_notebooks", ROOT / "scripts" / "run_notebooks.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


runner = _load_runner()


def key_forms(key: str) -> list[str]:
    """Every way the key could show up in a text file."""
    raw = key.encode()
    forms = {key, raw.hex(), key.rsplit("-", 1)[-1]}
    for start in range(3):
        # Inside a longer base64 text the key starts at one of three offsets within a
        # 3-byte group; the groups made of key bytes only then encode to this, verbatim.
        aligned = raw[start : start + 3 * ((len(raw) - start) // 3)]
        core = base64.b64encode(aligned).decode()
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return sorted(forms)


def panel_notebook() -> nbformat.NotebookNode:
    """Builds a ChatPanel, shows it, sends from code, prints its exports and the client."""
    cells = [
        "import qolaba_nb as q\n"
        "from qolaba_nb import ChatPanel, UsageLedger\n"
        'client = q.connect(ledger=UsageLedger(":memory:"))',
        'panel = ChatPanel(client=client, model="google/gemini-2.5-flash", system="Be brief.")\n'
        "panel",
        'reply = await panel.send("Hello! Who are you?")\nprint(reply.text)\nreply',
        'await panel.send("And what is a river?")\nprint(panel.to_markdown())',
        "print(panel.to_json())\nprint(repr(client), repr(panel.client))",
    ]
    nb: nbformat.NotebookNode = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"leakcheck-{i}"
    return nb


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every notebook (all at once) against the simulator; the saved files' text by name."""
    tmp = tmp_path_factory.mktemp("leakcheck")
    key = "sk-test-LEAKCHECK-" + secrets.token_hex(8)
    panel_path = tmp / PANEL_NOTEBOOK
    nbformat.write(panel_notebook(), panel_path)
    paths = [*NOTEBOOKS, panel_path]
    kernel_tmp = tmp / "kernel-tmp"  # the kernels' temporary directory (tempfile's TMPDIR)
    kernel_tmp.mkdir()
    with Simulator(api_key=key) as sim:
        env = runner.simulator_env(sim.base_url, key, tmp / "usage.sqlite")
        env["TMPDIR"] = str(kernel_tmp)
        results = runner.execute_notebooks(paths, env, jobs=len(paths), timeout=90)
        requests = sim.stats.requests
    left = sorted(p.name for p in kernel_tmp.iterdir())
    texts = {}
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, BaseException):
            raise AssertionError(f"{path.name} failed to run") from result
        out = tmp / f"saved-{path.name}"
        nbformat.write(result, out)
        texts[path.name] = out.read_text(encoding="utf-8")
    return {"key": key, "texts": texts, "requests": requests, "left": left}


def test_the_notebooks_really_ran_against_the_simulator(saved: dict[str, Any]) -> None:
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    assert saved["requests"] >= 20 * len(NOTEBOOKS) // 5
    for name, text in saved["texts"].items():
        nb = nbformat.reads(text, as_version=4)
        assert any(cell.get("outputs") for cell in nb.cells), name


def test_the_notebooks_leave_nothing_in_the_temporary_directory(saved: dict[str, Any]) -> None:
    # a run of the tutorials must not leave a folder behind (06's report goes to a temporary
    # directory that its cell removes)
    assert saved["left"] == []


@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS] + [PANEL_NOTEBOOK])
def test_no_key_in_saved_notebook(saved: dict[str, Any], name: str) -> None:
    text = saved["texts"][name]
    leaked = [form for form in key_forms(saved["key"]) if form in text]
    assert not leaked, f"{name}: the API key is in the saved file (as {leaked})"
    assert "LEAKCHECK" not in text, f"{name}: part of the API key is in the saved file"


def test_panel_notebook_has_widget_state_and_no_auth_header(saved: dict[str, Any]) -> None:
    text = saved["texts"][PANEL_NOTEBOOK]
    nb = nbformat.reads(text, as_version=4)
    state = nb.metadata["widgets"][WIDGET_STATE]["state"]
    assert len(state) > 10, "the panel's widget state was not stored"
    assert "And what is a river?" in text  # the conversation is in the state and outputs
    assert "authorization" not in text.lower()
    assert "bearer" not in text.lower()


def test_key_forms_cover_base64_at_every_alignment() -> None:
    key = "sk-test-LEAKCHECK-0123456789abcdef"
    forms = key_forms(key)
    for prefix in (b"", b"a", b"ab", b"abc", b'{"k": "'):
        blob = base64.b64encode(prefix + key.encode() + b'"}').decode()
        assert any(form in blob for form in forms), prefix
        assert any(form in blob.replace("+", "-").replace("/", "_") for form in forms)
