"""The harness itself: a notebook runs in JupyterLab and an ipywidget renders."""

from __future__ import annotations

import pytest
from _lab import (
    Lab,
    cell_output_text,
    open_notebook,
    output_locator,
    run_all,
    screenshot,
    write_notebook,
)
from playwright.sync_api import Page, expect

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(300)  # includes starting the lab server and the first kernel
def test_notebook_runs_and_widget_renders(page: Page, lab: Lab) -> None:
    name = write_notebook(
        lab.root,
        "smoke.ipynb",
        [
            "print(6*7)",
            "import ipywidgets as w\nw.IntSlider(value=3, min=0, max=10, description='n')",
        ],
    )
    open_notebook(page, lab, name)
    run_all(page)

    assert cell_output_text(page, 0).strip() == "42"
    expect(output_locator(page, 0)).to_contain_text("42")
    expect(page.get_by_text("42", exact=True)).to_be_visible()

    slider = output_locator(page, 1).locator(".jupyter-widgets.widget-slider")
    expect(slider).to_be_visible(timeout=30_000)
    expect(slider).to_contain_text("n")

    path = screenshot(page, "smoke")
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
