"""The saved notebooks are clean, complete and reproducible to check; the prompt sets are valid.

Fast checks on the files alone (no kernel): what ``scripts/run_notebooks.py`` promises to write,
and what ``pytest --nbval --nbval-sanitize-with notebooks/sanitize.cfg notebooks`` relies on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PROMPT_SETS = sorted((ROOT / "data" / "prompts").glob("*.jsonl"))
SANITIZE = ROOT / "notebooks" / "sanitize.cfg"


def test_there_are_notebooks_and_prompt_sets() -> None:
    assert [p.name for p in NOTEBOOKS][:6] == [
        "01_quickstart.ipynb",
        "02_chat_panel.ipynb",
        "03_compare_models.ipynb",
        "04_cost_analysis.ipynb",
        "05_sampling_and_errors.ipynb",
        "06_which_model.ipynb",
    ]
    assert PROMPT_SETS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean_and_fully_executed(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert set(nb.metadata) <= {"kernelspec", "language_info", "widgets"}
    ids = [cell.id for cell in nb.cells]
    assert len(ids) == len(set(ids)), "duplicate cell ids"
    counts = []
    for cell in nb.cells:
        assert "execution" not in cell.metadata, f"{cell.id}: timing metadata"
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"{cell.id}: not executed"
        counts.append(cell.execution_count)
        for output in cell.outputs:
            assert output.output_type != "error", f"{cell.id}: saved with an error"
            if output.output_type == "stream":
                assert output.name == "stdout", f"{cell.id}: writes to stderr: {output.text!r}"
    assert counts == list(range(1, len(counts) + 1)), "not run top to bottom in one go"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_real_credentials_in_notebook_sources(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"\bsk-[A-Za-z0-9_-]{16,}", text)
    assert "Bearer " not in text
    sources = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    assert not re.search(r"api_key\s*=\s*['\"](?!not-a-real-key)", sources)
    assert not re.search(r"^\s*(qolaba_nb|q)\.login\(\)", sources, re.MULTILINE), (
        "login() blocks on a prompt: leave it commented out"
    )


def test_sanitize_config_parses() -> None:
    text = SANITIZE.read_text(encoding="utf-8")
    rules = re.findall(r"^regex: (.*)$\n^replace: (.*)$", text, flags=re.MULTILINE)
    assert len(rules) >= 8
    for regex, replace in rules:
        re.sub(regex, replace, "http://127.0.0.1:8765 req_0af 2025-01-31T09:00:00Z 0.25 s")
    sample = "at http://127.0.0.1:51234 (request id req_9f3a) after 0.42 s"
    for regex, replace in rules:
        sample = re.sub(regex, replace, sample)
    assert sample == "at http://127.0.0.1:PORT (request id req_ID) after N.NN s"


@pytest.mark.parametrize("path", PROMPT_SETS, ids=lambda p: p.name)
def test_prompt_set_lines(path: Path) -> None:
    ids = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        item = json.loads(line)
        assert set(item) == {"id", "prompt", "category"}, f"line {number}"
        assert all(isinstance(v, str) and v.strip() for v in item.values()), f"line {number}"
        ids.append(item["id"])
    assert ids and len(ids) == len(set(ids))
    assert path.name in (ROOT / "data" / "README.md").read_text(encoding="utf-8")
