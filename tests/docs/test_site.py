"""The documentation site: ``mkdocs build --strict`` (what ``make check`` runs) into a temporary
directory, and what a reader finds in it: the API reference generated from the docstrings and
the tutorials rendered from the repository's ``notebooks/`` (never copied into ``docs/``)."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

import qolaba_nb as q

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
MKDOCS = Path(sys.executable).with_name("mkdocs")


def _text(page: Path) -> str:
    """A page's text without its tags, whitespace collapsed."""
    raw = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(raw))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    work = tmp_path_factory.mktemp("cwd")  # mkdocs-jupyter's cache goes here, not the repo
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "-f", str(REPO / "mkdocs.yml"), "-d", str(out)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "WARNING" not in log, log
    return out


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_client_page_has_the_parameter_table_and_the_sampling_fields(site: Path) -> None:
    text = _text(site / "reference" / "client" / "index.html")
    table = text[text.index("The synchronous client of the Qolaba chat API") :]
    table = table[table.index("Parameters:") : table.index("Examples")]
    for name in ("api_key", "base_url", "timeout", "budget_credits", "max_event_bytes"):
        assert re.search(rf"\b{name}\b", table), name
    assert "Seconds to wait for the server" in table  # the descriptions, with their units
    sampling = text[text.index("The optional fields of a chat request") :]
    for field in q.SamplingParams.__annotations__:
        assert re.search(rf"\b{field}\b", sampling), field
    assert "did you mean" in text


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_every_entry_point_has_its_page_section(site: Path) -> None:
    pages = {
        "client": ["connect", "aconnect", "login", "Client", "AsyncClient", "SamplingParams"],
        "comparison": ["compare", "acompare", "estimate"],
        "ledger": ["UsageLedger"],
        "simulator": ["Simulator"],
        "widgets": ["ChatPanel", "ComparePanel", "UsageDashboard", "ChatPanelParams"],
    }
    for page, names in pages.items():
        raw = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
        for name in names:
            assert f'id="qolaba_nb.{name}"' in raw, (page, name)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_tutorials_are_pages_with_their_saved_outputs(site: Path) -> None:
    assert len(NOTEBOOKS) >= 5
    assert not (REPO / "docs" / "notebooks").exists()  # rendered from notebooks/, not a copy
    for stem in NOTEBOOKS:
        page = site / "notebooks" / stem / "index.html"
        assert page.is_file(), stem
        cells = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
        heading = next(
            line.lstrip("# ").strip()
            for cell in cells
            if cell["cell_type"] == "markdown"
            for line in "".join(cell["source"]).splitlines()
            if line.startswith("#")
        )
        assert heading in _text(page), (stem, heading)
    panels = 0
    for stem in NOTEBOOKS:  # a static page: no widget manager from unpkg, no saved replies
        raw = (site / "notebooks" / stem / "index.html").read_text(encoding="utf-8")
        assert "unpkg.com" not in raw and "widget-state+json" not in raw, stem
        assert "widget-view+json" not in raw, stem
        panels += raw.count("run this notebook in Jupyter to use it")
    assert panels >= 3  # the chat, compare and dashboard panels of the tutorials
    for page in site.rglob("*.html"):  # the theme's fonts are off: nothing from Google
        assert "fonts.googleapis.com" not in page.read_text(encoding="utf-8"), page
    nav = (site / "index.html").read_text(encoding="utf-8")
    for stem in NOTEBOOKS:  # every tutorial is in the navigation
        assert f'href="notebooks/{stem}/"' in nav, stem


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qnb_docs_hooks", REPO / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_notebook_missing_from_the_nav_is_added_to_the_tutorials(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb", "09_new.ipynb"):
        (tmp_path / "notebooks" / name).write_text("{}")
    nav = [{"Home": "index.md"}, {"Tutorials": [{"A": "notebooks/01_a.ipynb"}]}]
    config = SimpleNamespace(config_file_path=str(tmp_path / "mkdocs.yml"), nav=nav)
    _hooks().on_config(config)
    assert nav[1] == {
        "Tutorials": [
            {"A": "notebooks/01_a.ipynb"},
            "notebooks/02_b.ipynb",
            "notebooks/09_new.ipynb",
        ]
    }


def test_a_saved_panel_becomes_a_line_and_its_state_is_dropped() -> None:
    hooks = _hooks()
    page = (
        '<div><script type="text/javascript">\nvar element = document.getElementById("x");\n'
        '</script>\n<script type="application/vnd.jupyter.widget-view+json">\n{"model_id": "a"}'
        "\n</script></div><p>kept</p>"
        '<script type="application/vnd.jupyter.widget-state+json">{"state": {}}</script>'
    )
    assert hooks.static_notebook(page) == f"<div>{hooks.LIVE_ONLY}</div><p>kept</p>"


def test_every_public_object_of_the_reference_has_a_docstring() -> None:
    assert _hooks().undocumented() == []
