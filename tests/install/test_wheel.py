"""From the wheel in a fresh venv, as a new user installs it: ``qolaba-nb lab`` in an empty
directory serves the tutorials, one of them runs headless against its simulator, SIGTERM
stops everything.

The venv is filled from uv's cache (``--offline``): the packages ``make install`` fetched
for the developer venv, so the test is fast and talks to no registry.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.cli.labproc import (
    LabProcess,
    alive,
    clean_env,
    cmdline,
    descendants,
    environ,
    free_port,
    linux_only,
    refused,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
HEADLESS = "01_quickstart.ipynb"

pytestmark = [pytest.mark.integration, linux_only]

# Run by the installed venv's Python: nbclient comes with JupyterLab (jupyter_server ->
# nbconvert -> nbclient), the kernel is that venv's python3.
RUN_NOTEBOOK = textwrap.dedent(
    """
    import sys, nbformat
    from nbclient import NotebookClient
    path = sys.argv[1]
    nb = nbformat.read(path, as_version=4)
    meta = {"metadata": {"path": "."}}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources=meta).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    nbformat.write(nb, path)
    print("cells run:", len(code))
    """
)


def uv(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "uv", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel (built from that sdist, as uv build does)."""
    dist = tmp_path_factory.mktemp("dist")
    uv("build", "--quiet", "--out-dir", str(dist))
    (sdist,) = dist.glob("qolaba_nb-*.tar.gz")
    (wheel,) = dist.glob("qolaba_nb-*.whl")
    return sdist, wheel


def test_the_sdist_and_the_wheel_carry_the_tutorials_prompts_and_labconfig(
    built: tuple[Path, Path],
) -> None:
    sdist, wheel = built
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {f"notebooks/{n}" for n in TUTORIALS} <= names
    assert {"pyproject.toml", "labconfig/page_config.json", "data/prompts/everyday.jsonl"} <= names
    with zipfile.ZipFile(wheel) as whl:
        files = set(whl.namelist())
    data = "qolaba_nb/_data/"
    assert {f"{data}notebooks/{n}" for n in TUTORIALS} <= files
    assert {f"{data}labconfig/page_config.json", f"{data}data/prompts/everyday.jsonl"} <= files
    assert not any(f.startswith(("tests/", "qolaba_nb/_data/.ipynb")) for f in files)


@pytest.mark.timeout(600)
def test_lab_from_the_wheel_serves_the_tutorials_runs_one_and_stops_on_sigterm(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    _, wheel = built
    venv = tmp_path / "venv"
    uv("venv", "--quiet", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    uv("pip", "install", "--quiet", "--offline", "--python", str(python), f"{wheel}[notebook]")
    installed = subprocess.run(
        [str(python), "-c", "import qolaba_nb, playwright"], capture_output=True, text=True
    )
    assert "No module named 'playwright'" in installed.stderr  # the notebook extra only

    work = tmp_path / "work"
    work.mkdir()
    env = clean_env(tmp_path)
    lab = LabProcess(
        [str(venv / "bin" / "qolaba-nb"), "lab", "--port", str(free_port())], env=env, cwd=work
    )
    try:
        lab.wait_for_lab()
        assert f"Opening {work}: copied the tutorials into qolaba-tutorials/." in lab.lines[0]

        listing = lab.api("GET", "/api/contents/qolaba-tutorials")
        assert listing.status_code == 200, listing.text
        entries = {e["name"]: e["type"] for e in listing.json()["content"]}
        assert {n: "notebook" for n in TUTORIALS}.items() <= entries.items()
        assert entries.get("data") == "directory"

        # headless, against the simulator this qolaba-nb lab started for its kernels
        server = next(p for p in descendants(lab.proc.pid) if "jupyter" in cmdline(p))
        lab_env = environ(server)
        kernel_env = {
            **env,
            **{k: lab_env[k] for k in ("QOLABA_BASE_URL", "QOLABA_API_KEY", "QOLABA_SIMULATOR")},
        }
        ran = subprocess.run(
            [str(python), "-c", RUN_NOTEBOOK, HEADLESS],
            capture_output=True,
            text=True,
            env=kernel_env,
            cwd=work / "qolaba-tutorials",
            timeout=300,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert "cells run:" in ran.stdout

        tree = descendants(lab.proc.pid)
        lab.proc.send_signal(signal.SIGTERM)
        assert lab.proc.wait(10) == 0
        assert wait_until(lambda: not any(alive(p) for p in tree), 5)
        assert refused(lab.url) and refused(lab_env["QOLABA_BASE_URL"])
    finally:
        lab.close()
