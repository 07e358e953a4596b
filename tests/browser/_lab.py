"""Helpers for driving a real JupyterLab in headless Chromium.

Only the browser test run (``pytest tests/browser``) imports this module; it pulls in
playwright, whose sync API must not share a process with the asyncio test suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import nbformat
from playwright.sync_api import Browser, Locator, Page, Playwright, ViewportSize

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
PAGE_CONFIG = REPO_ROOT / "labconfig" / "page_config.json"
ARTIFACTS = HERE / "artifacts"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}

START_TIMEOUT_S = 90.0
KERNEL_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 90_000

# Variables of the developer's shell that must not leak into the lab under test.
_SCRUBBED_PREFIXES = ("JUPYTER", "QOLABA_")
_SCRUBBED_NAMES = {"IPYTHONDIR", "JPY_SESSION_NAME", "PYTHONSTARTUP"}


# --------------------------------------------------------------------------- lab server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jupyter_dirs_env(base: Path) -> dict[str, str]:
    """Create isolated Jupyter/IPython dirs under ``base``; return the env pointing at them.

    The config dir gets the repo's ``labconfig/page_config.json`` (announcements off) and a
    user setting that attaches every notebook cell to the DOM (``windowingMode: none``), so
    DOM cell ``n`` is notebook cell ``n`` and screenshots show whole notebooks.
    """
    config = base / "jupyter-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PAGE_CONFIG, config / "labconfig" / "page_config.json")
    settings = config / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}), encoding="utf-8"
    )
    env = {
        "JUPYTER_CONFIG_DIR": config,
        "JUPYTER_DATA_DIR": base / "jupyter-data",
        "JUPYTER_RUNTIME_DIR": base / "jupyter-runtime",
        "IPYTHONDIR": base / "ipython",
    }
    for key in ("JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[key].mkdir(parents=True, exist_ok=True)
    return {k: str(v) for k, v in env.items()}


def build_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The lab's environment: ours minus Jupyter/Qolaba settings, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED_NAMES
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Lab:
    """A running JupyterLab server (started by :func:`start_lab`)."""

    url: str  # e.g. "http://127.0.0.1:41234" (no trailing slash)
    token: str
    root: Path  # ServerApp.root_dir: notebooks are written here
    base_env: dict[str, str]  # full environment of the server and its kernels
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.url}/{path.lstrip('/')}", headers=headers, timeout=10, **kwargs
        )

    def page_url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}/{path.lstrip('/')}{sep}token={self.token}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def shutdown_kernels(self) -> None:
        """Delete every session (and its kernel); used between tests."""
        try:
            sessions = self.api("GET", "api/sessions").json()
            for s in sessions:
                self.api("DELETE", f"api/sessions/{s['id']}")
            for k in self.api("GET", "api/kernels").json():
                self.api("DELETE", f"api/kernels/{k['id']}")
        except httpx.HTTPError:
            pass

    def reset_theme(self) -> None:
        """Back to the light theme: a theme a test switched to is a saved user setting,
        which every later page of the session would open in."""
        response = self.api(
            "PUT",
            "lab/api/settings/@jupyterlab/apputils-extension:themes",
            json={"raw": json.dumps({"theme": "JupyterLab Light"})},
        )
        response.raise_for_status()


def start_lab(root: Path, env: Mapping[str, str], *, log_dir: Path | None = None) -> Lab:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = secrets.token_hex(16)
    full_env = build_env(env)
    log_path = (log_dir or root.parent) / f"jupyterlab-{port}.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--allow-root",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.expose_app_in_browser=True",
        # the same server serves Notebook 7 (/notebooks/...) when `notebook` is installed
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # no PyPI look-ups from the extension panel
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: kernels die with it in stop_lab
        )
    lab = Lab(
        url=f"http://127.0.0.1:{port}",
        token=token,
        root=root,
        base_env=full_env,
        log_path=log_path,
        proc=proc,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{lab.log_text()}")
        try:
            if lab.api("GET", "api/status").status_code == 200:
                return lab
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_lab(lab)
            raise RuntimeError(f"jupyter lab not ready after {START_TIMEOUT_S}s:\n{lab.log_text()}")
        time.sleep(0.25)


def stop_lab(lab: Lab) -> None:
    """Shut the server down (kernels included); escalate to SIGTERM/SIGKILL of its group."""
    proc = lab.proc
    if proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            lab.api("POST", "api/shutdown")
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    # Anything left in the server's process group (a stuck kernel) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- browser


def launch_browser(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def write_notebook(root: Path | str, name: str, cells: list[str]) -> str:
    """Write an nbformat v4 notebook of code ``cells`` under ``root``; return its path."""
    if not name.endswith(".ipynb"):
        name += ".ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return name


_CURRENT = "window.jupyterapp?.shell?.currentWidget"
_KERNEL_IDLE = f"{_CURRENT}?.sessionContext?.session?.kernel?.status === 'idle'"


def wait_for_kernel_idle(page: Page, timeout: float = KERNEL_TIMEOUT_MS) -> None:
    page.wait_for_function(f"() => {_KERNEL_IDLE}", timeout=timeout)


def open_notebook(page: Page, lab: Lab, name: str, timeout: float = KERNEL_TIMEOUT_MS) -> None:
    """Open ``name`` (relative to ``lab.root``) and wait until its kernel is idle.

    Each call uses a fresh workspace, so tabs from earlier tests are not restored.
    """
    workspace = f"t{uuid.uuid4().hex[:10]}"
    page.goto(lab.page_url(f"lab/workspaces/{workspace}/tree/{quote(name)}"))
    page.wait_for_function(
        f"(path) => {_CURRENT}?.context?.path === path && {_KERNEL_IDLE}",
        arg=name,
        timeout=timeout,
    )


_START_RUN = """([command, index]) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    if (index !== null) { panel.content.activeCellIndex = index; }
    window.__qnbRun = {done: false, result: null};
    app.commands.execute(command).then(
        (r) => { window.__qnbRun = {done: true, result: r === undefined ? null : r}; },
        (e) => { window.__qnbRun = {done: true, result: 'error: ' + e}; },
    );
}"""

_RUN_DONE = f"() => window.__qnbRun?.done === true && {_KERNEL_IDLE}"

_CELLS = f"""() => {_CURRENT}.content.widgets.map((c) => ({{
    type: c.model.type,
    count: c.model.type === 'code' ? c.model.executionCount : null,
    outputs: c.model.type === 'code' ? c.model.outputs.toJSON() : [],
}}))"""


def cells(page: Page) -> list[dict[str, Any]]:
    """``[{type, count, outputs}]`` for each cell of the current notebook (from the model)."""
    result: list[dict[str, Any]] = page.evaluate(_CELLS)
    return result


def _run(page: Page, command: str, index: int | None, timeout: float) -> None:
    page.evaluate(_START_RUN, [command, index])
    page.wait_for_function(_RUN_DONE, timeout=timeout)


def _describe(cell_list: list[dict[str, Any]]) -> str:
    lines = []
    for i, c in enumerate(cell_list):
        if c["type"] == "code":
            lines.append(f"[{i}] count={c['count']}: {_outputs_text(c['outputs'])[:500]!r}")
    return "\n".join(lines)


def run_all(page: Page, *, allow_errors: bool = False, timeout: float = RUN_TIMEOUT_MS) -> None:
    """Run every cell; wait for the kernel to go idle and every code cell to have a count.

    Unless ``allow_errors``, an error output in any cell fails with a summary of all cells.
    """
    _run(page, "notebook:run-all-cells", None, timeout)
    cell_list = cells(page)
    missing = [i for i, c in enumerate(cell_list) if c["type"] == "code" and c["count"] is None]
    errors = [
        i
        for i, c in enumerate(cell_list)
        if any(o.get("output_type") == "error" for o in c["outputs"])
    ]
    if errors and not allow_errors:
        raise AssertionError(f"cells {errors} raised:\n{_describe(cell_list)}")
    if missing and not errors:
        raise AssertionError(f"cells {missing} did not run:\n{_describe(cell_list)}")


def run_cell(
    page: Page, index: int, *, allow_errors: bool = False, timeout: float = RUN_TIMEOUT_MS
) -> None:
    """Run the cell at ``index`` (without moving on) and wait for its reply."""
    _run(page, "notebook:run-cell", index, timeout)
    cell = cells(page)[index]
    if not allow_errors and any(o.get("output_type") == "error" for o in cell["outputs"]):
        raise AssertionError(f"cell {index} raised: {_outputs_text(cell['outputs'])}")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _joined(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _outputs_text(outputs: list[dict[str, Any]]) -> str:
    parts = []
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_joined(out.get("text", "")))
        elif kind in ("execute_result", "display_data"):
            data = out.get("data", {})
            if "text/plain" in data:
                parts.append(_joined(data["text/plain"]))
        elif kind == "error":
            tb = "\n".join(out.get("traceback", []))
            parts.append(_ANSI.sub("", tb) or f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts if p)


def cell_output_text(page: Page, index: int) -> str:
    """Plain text of cell ``index``'s outputs (streams, text/plain, tracebacks), from the model."""
    return _outputs_text(cells(page)[index]["outputs"])


def cell_locator(page: Page, index: int) -> Locator:
    """The DOM node of cell ``index`` in the visible notebook."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)


def output_locator(page: Page, index: int) -> Locator:
    """The output area of cell ``index`` (rendered outputs, widgets included)."""
    return cell_locator(page, index).locator(".jp-OutputArea")


def artifact_path(name: str, suffix: str = ".png") -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
    return ARTIFACTS / f"{safe}{suffix}"


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG to ``tests/browser/artifacts/<name>.png`` and return its path."""
    path = artifact_path(name)
    page.screenshot(path=str(path), full_page=full_page)
    return path
