"""Fixtures for the browser tests: a JupyterLab server and headless Chromium.

Run these on their own: ``pytest tests/browser`` (playwright's sync API and the asyncio
tests of the main suite do not mix in one process).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from _lab import (
    VIEWPORT,
    Lab,
    artifact_path,
    jupyter_dirs_env,
    launch_browser,
    start_lab,
    stop_lab,
)
from playwright.sync_api import Browser, Page, sync_playwright

from qolaba_nb.simulator import Simulator

_HERE = Path(__file__).resolve().parent
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """The built-in simulator, in this process; the lab's kernels reach it over loopback."""
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(scope="session")
def lab_env(tmp_path_factory: pytest.TempPathFactory, sim: Simulator) -> dict[str, str]:
    """Extra environment of the lab server and its kernels: isolated JUPYTER_*/IPYTHONDIR
    dirs, the simulator's URL and key, and a ledger that is never the user's own."""
    return {
        **jupyter_dirs_env(tmp_path_factory.mktemp("jupyter")),
        "QOLABA_BASE_URL": sim.base_url,
        "QOLABA_API_KEY": sim.api_key,
        "QOLABA_SIMULATOR": "1",
        "QOLABA_NB_LEDGER": str(tmp_path_factory.mktemp("ledger") / "usage.sqlite"),
    }


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_env: dict[str, str]) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lab-root")
    server = start_lab(root, lab_env, log_dir=tmp_path_factory.getbasetemp())
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch_browser(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (1400x1000) per test; on failure a screenshot and the
    browser console land in ``tests/browser/artifacts/<test>-failed.*``."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        yield pg
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()):
            name = f"{request.node.name}-failed"
            try:
                pg.screenshot(path=str(artifact_path(name)))
            except Exception as exc:
                console.append(f"(screenshot failed: {exc})")
            artifact_path(name, ".console.txt").write_text("\n".join(console), encoding="utf-8")
        context.close()
        lab.shutdown_kernels()
        lab.reset_theme()
