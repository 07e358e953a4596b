"""The simulator answers the shipped prompts like a tutor, in several variants.

"Shipped" is read, not kept by hand: every prompt of ``data/prompts/*.jsonl``, and every
prompt the tutorial notebooks send, found by walking the AST of their code cells.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.inputtransformer2 import TransformerManager

from qolaba_nb.magics import fill
from qolaba_nb.simulator._app import Knobs, build_answer, validate
from qolaba_nb.simulator._text import SIMULATED_NOTICE
from qolaba_nb.simulator._tutor import TABLE, find

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "prompts"
SHIPPED = [
    json.loads(line)["prompt"]
    for path in sorted(DATA.glob("*.jsonl"))
    for line in path.read_text(encoding="utf-8").splitlines()
    if line.strip()
]

#: What takes a prompt (its first argument): the clients' ``chat`` and ``stream``, a panel's
#: ``send`` and ``run``, ``compare`` and ``acompare``; ``%%chat`` cells take their body.
SENDS = frozenset({"chat", "achat", "stream", "astream", "send", "run", "compare", "acompare"})
#: Prompts a notebook passes that never reach the simulator (the replay of a recording
#: refuses them), so no answer of the simulator is shown for them.
NEVER_SENT = frozenset({"A question nobody recorded."})


class _Notebook:
    """The prompts a notebook sends, as far as its code says them with literals: a string,
    an f-string over a loop of literals (or a ``range``), a name bound to those, an item of
    a literal list, or a user message dict (its text parts). A prompt read from a file at
    run time (``data/prompts``) is in ``SHIPPED`` already."""

    def __init__(self, path: Path) -> None:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        to_python = TransformerManager().transform_cell  # %magics -> get_ipython() calls
        self.trees = [
            ast.parse(to_python("".join(c["source"]))) for c in cells if c["cell_type"] == "code"
        ]
        self.bound: dict[str, list[ast.expr]] = {}  # name -> every value assigned to it
        self.loops: dict[str, list[str]] = {}  # loop variable -> its literal values
        for node in self._nodes():
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.bound.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
                self.loops.setdefault(node.target.id, []).extend(_literals(node.iter))

    def _nodes(self) -> Iterator[ast.AST]:
        for tree in self.trees:
            yield from ast.walk(tree)

    def prompts(self) -> set[str]:
        found: set[str] = set()
        for node in self._nodes():
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "run_cell_magic" and _constants(node.args[:1]) == ["chat"]:
                found.update(self._chat_cell(node.args[2]))
            elif name in SENDS:
                keyword = (k.value for k in node.keywords if k.arg in ("messages", "prompts"))
                found.update(self.strings(node.args[0] if node.args else next(keyword, None)))
        return found

    def _chat_cell(self, body: ast.expr) -> list[str]:
        """A ``%%chat`` cell's prompt: its body with ``{name}`` filled as the magic does."""
        (template,) = _constants([body])
        names = sorted(set(re.findall(r"\{(\w+)\}", template)))
        values = [self.strings(ast.Name(n)) for n in names]
        return [
            fill(template.strip(), dict(zip(names, combo, strict=True)))
            for combo in itertools.product(*values)
        ]

    def strings(self, node: ast.expr | None, depth: int = 0) -> list[str]:
        """Every string ``node`` can be, as far as literals say; [] where they do not."""
        if node is None or depth > 10:
            return []
        more = depth + 1
        if isinstance(node, ast.Constant):
            return [node.value] if isinstance(node.value, str) else []
        if isinstance(node, ast.JoinedStr):
            parts = [
                [str(v.value)] if isinstance(v, ast.Constant) else self.strings(v.value, more)
                for v in node.values
                if isinstance(v, ast.Constant | ast.FormattedValue)
            ]
            return ["".join(p) for p in itertools.product(*parts)]
        if isinstance(node, ast.Name):
            values = self.bound.get(node.id, [])
            return self.loops.get(node.id, []) + [s for v in values for s in self.strings(v, more)]
        if isinstance(node, ast.List | ast.Tuple):
            return [s for item in node.elts for s in self.strings(item, more)]
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            at = node.slice.value if isinstance(node.slice, ast.Constant) else None
            return [
                s
                for v in self.bound.get(node.value.id, [])
                if isinstance(v, ast.List | ast.Tuple) and isinstance(at, int)
                for s in self.strings(v.elts[at], more)
            ]
        if isinstance(node, ast.Dict):  # a message, or a text part of its content
            fields = {
                k.value: v
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant)
            }
            if "role" in fields and self.strings(fields["role"]) != ["user"]:
                return []
            return self.strings(fields.get("content", fields.get("text")), more)
        return []


def _constants(nodes: list[ast.expr]) -> list[Any]:
    return [n.value for n in nodes if isinstance(n, ast.Constant)]


def _literals(node: ast.expr) -> list[str]:
    """The values of a loop over a literal tuple or list of constants, or over ``range``."""
    if isinstance(node, ast.List | ast.Tuple):
        return [str(v) for v in _constants(node.elts)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "range":
        bounds = _constants(node.args)
        if len(bounds) == len(node.args) and all(isinstance(b, int) for b in bounds):
            return [str(i) for i in range(*bounds)]
    return []


NOTEBOOK_PROMPTS = {
    path.name: _Notebook(path).prompts() for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
}
NOTEBOOKS = sorted({p for found in NOTEBOOK_PROMPTS.values() for p in found} - NEVER_SENT)


def answer(messages: list[dict[str, Any]], model: str = "openai/gpt-4o", **params: Any) -> str:
    chat = validate({"model": model, "messages": messages, **params})
    knobs = Knobs(latency_s=None, ttft_s=None, chunk_delay_s=None, chunks=None, speed=0)
    text = build_answer(chat, knobs).text
    assert text is not None
    return text


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def test_the_notebook_prompts_are_read_from_the_notebooks() -> None:
    """The walk finds what the tutorials send: a literal, a name bound to one, a list item,
    an f-string over a loop, a message dict, a ``%%chat`` cell filled from the namespace."""
    assert len(NOTEBOOK_PROMPTS) >= 6 and all(NOTEBOOK_PROMPTS.values())
    assert "What is the capital of France?" in NOTEBOOK_PROMPTS["01_quickstart.ipynb"]
    chat = NOTEBOOK_PROMPTS["02_chat_panel.ipynb"]
    assert {"Name three rivers in South America.", "Which of them is the longest?"} <= chat
    assert "Explain glaciers briefly." in NOTEBOOK_PROMPTS["04_cost_analysis.ipynb"]
    assert "Explain how rivers shape valleys." in NOTEBOOK_PROMPTS["05_sampling_and_errors.ipynb"]
    study = NOTEBOOK_PROMPTS["06_which_model.ipynb"]
    assert "Explain in two sentences why the sky is blue." in study
    everything: set[str] = set().union(*NOTEBOOK_PROMPTS.values())
    assert everything >= NEVER_SENT  # the exception is still about a prompt a notebook has


@pytest.mark.parametrize("prompt", sorted(set(SHIPPED)) + NOTEBOOKS)
def test_every_shipped_prompt_has_a_written_answer(prompt: str) -> None:
    assert find(prompt) is not None
    text = answer(user(prompt))
    assert SIMULATED_NOTICE not in text and "About " not in text[:6]
    assert text == answer(user(prompt))  # deterministic


def test_each_written_answer_has_several_variants() -> None:
    assert all(len(a.variants) >= 2 for a in TABLE)


def test_temperature_zero_takes_the_first_variant_and_sampling_varies() -> None:
    prompt = "Explain how rivers shape valleys."
    plain = {answer(user(prompt), temperature=0) for _ in range(3)}
    assert len(plain) == 1
    # the simulator's seed is a hash of model, messages and sampling parameters
    sampled = {
        answer(user(prompt), model=model, temperature=t / 10)
        for model in ("openai/gpt-4o", "google/gemini-2.5-flash")
        for t in range(5, 20, 3)
    }
    assert len(sampled) >= 3  # a sampling demo shows real variety


def test_follow_up_answers_read_the_conversation() -> None:
    first = user("Name three rivers in Europe.")
    reply = answer(first, temperature=0)
    assert "Danube" in reply and "Volga" in reply
    convo = [*first, {"role": "assistant", "content": reply}]
    longest = answer([*convo, *user("Which of them is the longest?")], temperature=0)
    assert "**Volga** is the longest" in longest
    recalled = answer([*convo, *user("What did I ask you in my previous message?")], temperature=0)
    assert "Name three rivers in Europe." in recalled


def test_any_other_prompt_says_it_is_simulated() -> None:
    text = answer(user("What is the airspeed of an unladen swallow?"))
    assert text.startswith(SIMULATED_NOTICE)


def test_echo_stays_verbatim() -> None:
    assert answer(user("Explain how rivers shape valleys."), model="sim/echo") == (
        "Explain how rivers shape valleys."
    )
