"""The one safe Markdown renderer: raw HTML escaped, no images, only safe link schemes."""

from __future__ import annotations

import re

import pytest

from qolaba_nb._markdown import render_markdown

ATTRIBUTE_HANDLER = re.compile(r"<[^>]*\son\w+\s*=", re.IGNORECASE)


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="window.__xss=1">',
        "<svg onload=alert(1)>",
        "| a |\n|---|\n| <script>x</script> |",
        '```js"><script>alert(1)</script>\ncode\n```',
    ],
    ids=["script", "img-onerror", "svg-onload", "table-cell", "fence-info"],
)
def test_raw_html_in_markdown_is_escaped(source: str) -> None:
    html = render_markdown(source)
    assert "<script" not in html
    assert "<img" not in html
    assert "<svg" not in html
    assert not ATTRIBUTE_HANDLER.search(html)
    assert "&lt;" in html


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:x", "data:text/html,<b>x</b>"],
)
def test_dangerous_links_are_not_links(link: str) -> None:
    html = render_markdown(f"[click]({link})")
    assert "<a " not in html


def test_links_open_elsewhere_and_images_are_not_loaded() -> None:
    html = render_markdown("[docs](https://example.org) ![pixel](https://tracker.example/p.gif)")
    assert '<a href="https://example.org" target="_blank" rel="noopener noreferrer nofollow">' in (
        html
    )
    assert "<img" not in html


def test_markdown_features_render() -> None:
    html = render_markdown("- a\n- b\n\n```python\nx = 1 < 2\n```\n\n| h |\n|---|\n| v |\n")
    assert "<ul>" in html and "<li>a</li>" in html
    assert '<pre><code class="language-python">x = 1 &lt; 2' in html
    assert "<table>" in html and "<td>v</td>" in html


@pytest.mark.parametrize(
    "link", ["file:///etc/passwd", "ftp://example.org/x", "/lab/tree/x.ipynb", "#top"]
)
def test_only_http_https_and_mailto_links_are_links(link: str) -> None:
    assert "<a " not in render_markdown(f"[click]({link})")


@pytest.mark.parametrize(
    "link", ["https://example.org", "http://example.org/a?b=1", "mailto:someone@example.org"]
)
def test_safe_links_stay_links(link: str) -> None:
    assert '<a href="' in render_markdown(f"[click]({link})")


def test_an_image_is_its_alt_text() -> None:
    html = render_markdown('![a <b>chart</b>](https://tracker.example/p.gif "t")')
    assert "<img" not in html
    assert "tracker.example" not in html
    assert "a &lt;b&gt;chart&lt;/b&gt;" in html or "a chart" in html
