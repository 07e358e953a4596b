"""In JupyterLab, as the panels are tested: a reply shown by ``%%chat`` or by displaying a
``ChatCompletion`` fetches no image and carries no ``javascript:`` link."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from _lab import Lab, open_notebook, output_locator, run_all, screenshot, write_notebook
from playwright.sync_api import Page, expect


class _Pixels(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pixel_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that counts every fetch: a reply's image would show up here."""
    hits: list[str] = []
    handler = type("Pixels", (_Pixels,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(300)  # includes starting the lab server and the first kernel
def test_replies_fetch_no_image_and_link_no_script(
    page: Page, lab: Lab, pixel_server: tuple[str, list[str]]
) -> None:
    url, hits = pixel_server
    hostile = (
        f"Markdown image ![pixel]({url}/md.png), raw <img src='{url}/raw.png'>, "
        f"a [bad link](javascript:alert(1)), a [good link](https://example.org/) and **bold**."
    )
    name = write_notebook(
        lab.root,
        "reply_safety.ipynb",
        [
            "%load_ext qolaba_nb",
            f"%%chat -m sim/echo\n{hostile}",
            "import qolaba_nb as q\n"
            "client = q.connect()\n"
            f"client.chat({hostile!r}, model='sim/echo')",
        ],
    )
    open_notebook(page, lab, name)
    run_all(page)
    for index in (1, 2):
        out = output_locator(page, index)
        expect(out.locator("strong", has_text="bold")).to_be_visible()  # rendered Markdown
        expect(out.get_by_text("bad link")).to_be_visible()  # its text, without the link
        expect(out.locator("img")).to_have_count(0)
        expect(out.locator("a[href^='javascript']")).to_have_count(0)
        expect(out.locator("a[href='https://example.org/']")).to_have_count(1)
        expect(out).to_contain_text("<img src=")  # raw HTML is shown as text
    page.wait_for_timeout(1000)  # time for any fetch a reply might have caused
    screenshot(page, "reply-safety")
    assert hits == [], f"a reply made the browser fetch {hits}"
