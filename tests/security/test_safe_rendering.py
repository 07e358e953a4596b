"""Model output is never active content: ``ChatCompletion``'s display and ``%%chat`` go
through the one safe renderer, as HTML (no Markdown left for Jupyter to render with images)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import qolaba_nb
import qolaba_nb._render
from qolaba_nb._models import parse_completion
from qolaba_nb.simulator import Simulator

HOSTILE = (
    "Look: ![pixel](http://127.0.0.1:9/pixel.png) and [click](javascript:alert(1)) and "
    "[data](data:text/html,<script>alert(2)</script>) <img src=http://127.0.0.1:9/raw.png> "
    "<script>alert(3)</script> **bold** [docs](https://example.org/docs)"
)


def assert_inert(html: str) -> None:
    assert not re.search(r"<img\b", html, re.I), "an image would be fetched"
    assert not re.search(r"<script\b", html, re.I)
    assert not re.search(r"""href\s*=\s*["']?\s*(javascript|data):""", html, re.I)
    assert "&lt;img src=http://127.0.0.1:9/raw.png&gt;" in html  # raw HTML shown as text
    assert "<strong>bold</strong>" in html  # still Markdown, rendered
    assert 'href="https://example.org/docs"' in html


def completion(text: str) -> Any:
    return parse_completion(
        {
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
            "usage": {"total_credit": 0.5, "total_cost": 0.001},
        }
    )


def test_a_completion_displays_as_safe_html_and_never_as_markdown() -> None:
    reply = completion(HOSTILE)
    assert not hasattr(reply, "_repr_markdown_")
    formatter = InteractiveShell.instance().display_formatter
    assert formatter is not None
    data, _ = formatter.format(reply)
    assert "text/markdown" not in data
    assert_inert(data["text/html"])
    assert "0.5 credits" in data["text/html"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(speed=0) as s:
        yield s


@pytest.mark.parametrize("line", ["-m sim/echo", "-m sim/echo --no-stream"])
def test_chat_magic_shows_model_output_as_safe_html(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch, line: str
) -> None:
    monkeypatch.setenv("QOLABA_API_KEY", sim.api_key)
    monkeypatch.setenv("QOLABA_BASE_URL", sim.base_url)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "qolaba_nb")
    magics = ip.magics_manager.registry["QolabaMagics"]
    magics.history, magics.model, magics._client = [], None, None
    try:
        with capture_output() as cap:
            ip.run_cell_magic("chat", line, HOSTILE)
    finally:
        if magics._client is not None:
            magics._client.close()
        magics._client = None
    assert cap.outputs, "nothing was shown"
    for output in cap.outputs:  # the first display, and the final reply
        assert "text/markdown" not in output.data
    assert_inert(cap.outputs[-1].data["text/html"])


def test_render_is_a_leaf_that_imports_no_package_type() -> None:
    def top_level_imports(module: str) -> list[ast.Import | ast.ImportFrom]:
        tree = ast.parse(Path(qolaba_nb.__file__).with_name(module).read_text())
        return [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]

    # _render may use the money formatter, itself a leaf of the standard library only.
    for node in top_level_imports("_render.py"):
        assert isinstance(node, ast.ImportFrom)
        assert node.level == 0 or (node.level == 1 and node.module == "_money")
    assert all(isinstance(n, ast.Import) or n.level == 0 for n in top_level_imports("_money.py"))
    models = Path(qolaba_nb.__file__).with_name("_models.py").read_text()
    assert "completion_markdown" not in models
