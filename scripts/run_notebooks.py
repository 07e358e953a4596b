"""Re-generate the saved outputs of the notebooks in ``notebooks/``.

    .venv/bin/python scripts/run_notebooks.py              # every notebook, in place
    .venv/bin/python scripts/run_notebooks.py notebooks/03_compare_models.ipynb

Each notebook is executed top to bottom with nbclient (kernel ``python3``, working directory
``notebooks/``) against a freshly started built-in simulator: the kernels get
``QOLABA_BASE_URL``, ``QOLABA_API_KEY`` (the simulator's key), ``QOLABA_SIMULATOR=1`` and a
throw-away ``QOLABA_NB_LEDGER``; a real ``QOLABA_API_KEY`` in your environment is never used.
Widget state is stored, so the panels show in static viewers.

The saved outputs are what ``pytest --nbval`` compares against, so run this after changing a
notebook (or the package in a way that changes what a notebook prints), and commit the result.

To keep diffs small, the file is normalised: notebook metadata is reduced to the kernelspec and
the language name, cell metadata loses nbclient's timing, consecutive prints to the same stream
become one output (as a front end shows them), cell ids are kept as they are (a
missing one gets an id derived from the notebook's name and the cell's position, never a
random one), and widget model ids, which ipywidgets draws at random, are renamed to ids derived
from the notebook's name and the order the widgets appear in.

The tests in ``tests/notebooks/`` use ``execute_notebooks`` and ``simulator_env`` from here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "python3"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_ID_NAMESPACE = uuid.UUID("6f1b7e9c-4a43-4c1e-9d0f-0c9a1b2d3e4f")
_MODEL_ID = re.compile(r"^[0-9a-f]{32}$")
_KEEP_CELL_METADATA = ("tags", "editable", "deletable", "jupyter", "collapsed", "scrolled")


def simulator_env(
    base_url: str, api_key: str, ledger_path: str | os.PathLike[str]
) -> dict[str, str]:
    """The kernels' environment: this process's, minus any Qolaba settings, plus the simulator's.

    Passed to the kernel explicitly, so that what pytest's ``conftest.py`` (or the developer's
    shell) put into ``os.environ`` does not leak in.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOLABA_")}
    env.update(
        QOLABA_BASE_URL=base_url,
        QOLABA_API_KEY=api_key,
        QOLABA_SIMULATOR="1",
        QOLABA_NB_LEDGER=str(ledger_path),
        PYTHONHASHSEED="0",
    )
    # The kernelspec runs "python": make sure it is this interpreter (the venv's).
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, whatever the shell says
    return env


async def aexecute_notebook(
    path: str | os.PathLike[str],
    env: Mapping[str, str],
    *,
    cell_timeout: int = 120,
    cwd: str | os.PathLike[str] | None = None,
) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` top to bottom; return it with outputs and widget state.

    ``cell_timeout`` is nbclient's limit per cell, in seconds. Raises
    ``nbclient.exceptions.CellExecutionError`` when a cell fails.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=cell_timeout,
        startup_timeout=60,
        allow_errors=False,
        record_timing=False,
        store_widget_state=True,
        resources={"metadata": {"path": str(cwd or NOTEBOOKS)}},
    )
    await client.async_execute(env=dict(env))
    return nb


def execute_notebooks(
    paths: list[Path],
    env: Mapping[str, str],
    *,
    jobs: int = 4,
    timeout: int = 120,
) -> list[nbformat.NotebookNode | BaseException]:
    """Run the notebooks, ``jobs`` at a time, on one event loop (closed at the end).

    Returns, in the order of ``paths``, each executed notebook or the exception it raised.
    """

    async def main() -> list[nbformat.NotebookNode | BaseException]:
        limit = asyncio.Semaphore(max(1, jobs))

        async def one(path: Path) -> nbformat.NotebookNode:
            async with limit:
                return await aexecute_notebook(path, env, cell_timeout=timeout)

        return await asyncio.gather(*(one(p) for p in paths), return_exceptions=True)

    return asyncio.run(main())


def normalise(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """Stable metadata, cell ids and widget ids (see the module docstring)."""
    widgets = nb.metadata.get("widgets")
    kernelspec = nb.metadata.get("kernelspec") or {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": KERNEL,
    }
    nb.metadata = nbformat.from_dict(
        {"kernelspec": kernelspec, "language_info": {"name": "python"}}
    )
    if widgets:
        nb.metadata["widgets"] = widgets
    nb.nbformat, nb.nbformat_minor = 4, 5
    stem = Path(name).stem
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells, 1):
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.metadata.items() if k in _KEEP_CELL_METADATA}
        )
        if cell.cell_type == "code":
            cell.outputs = _coalesce_streams(cell.outputs)
        cell_id = cell.get("id")
        if not cell_id or cell_id in seen:
            cell_id = f"{stem[:40]}-{index:03d}"
        cell.id = cell_id
        seen.add(cell_id)
    return _rename_widget_ids(nb, stem)


def _coalesce_streams(outputs: list[Any]) -> list[Any]:
    """One output per run of ``print(..., flush=True)``, as a front end shows it."""
    merged: list[Any] = []
    for output in outputs:
        last = merged[-1] if merged else None
        if (
            last is not None
            and output.output_type == "stream"
            and last.output_type == "stream"
            and last.name == output.name
        ):
            last.text += output.text
        else:
            merged.append(output)
    return merged


def _rename_widget_ids(nb: nbformat.NotebookNode, stem: str) -> nbformat.NotebookNode:
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    old_ids = [k for k in state if _MODEL_ID.match(k)]
    for cell in nb.cells:  # ids only shown in an output (a widget closed since) count too
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            model_id = str(view.get("model_id", "")) if view else ""
            if _MODEL_ID.match(model_id) and model_id not in old_ids:
                old_ids.append(model_id)
    if not old_ids:
        return nb
    mapping = {old: uuid.uuid5(_ID_NAMESPACE, f"{stem}:{i}").hex for i, old in enumerate(old_ids)}
    pattern = re.compile("|".join(re.escape(k) for k in mapping))
    text = pattern.sub(lambda m: mapping[m.group(0)], json.dumps(nb))
    return nbformat.from_dict(json.loads(text))


def run(paths: list[Path], *, jobs: int, timeout: int) -> int:
    from qolaba_nb.simulator import Simulator

    failures = 0
    with tempfile.TemporaryDirectory(prefix="qolaba-nb-run-") as tmp, Simulator() as sim:
        env = simulator_env(sim.base_url, sim.api_key, Path(tmp) / "usage.sqlite")
        results = execute_notebooks(paths, env, jobs=jobs, timeout=timeout)
    for path, result in zip(paths, results, strict=True):
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if isinstance(result, BaseException):
            failures += 1
            print(f"FAIL  {rel}: {type(result).__name__}: {result}")
            continue
        nb = normalise(result, path.name)
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"ok    {rel}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("-j", "--jobs", type=int, default=3, help="notebooks run at once")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    failures = run(paths, jobs=args.jobs, timeout=args.timeout)
    print(f"{len(paths) - failures}/{len(paths)} notebooks ok in {time.perf_counter() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
