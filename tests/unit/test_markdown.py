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
    assert '<pre><code class="language-python"><span class="qh-n">x</span>' in html
    assert '<span class="qh-o">&lt;</span>' in html
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


# --------------------------------------------------------------------------- code, math, tables

HOSTILE = '<img src=x onerror="window.__xss=1"><script>alert(1)</script>'


def assert_inert(html: str) -> None:
    assert "<script" not in html and "<img" not in html and "<svg" not in html
    assert not ATTRIBUTE_HANDLER.search(html)
    assert 'href="javascript' not in html and 'href="data' not in html


def test_code_is_highlighted_with_classes_and_stays_escaped() -> None:
    html = render_markdown(f"```python\nx = 1 < 2  # {HOSTILE}\n```\n")
    assert '<span class="qh-k">' not in html  # no keyword in that line...
    assert '<span class="qh-n">x</span>' in html and '<span class="qh-c1">' in html
    assert "&lt;script&gt;" in html
    assert_inert(html)


def test_an_unknown_fence_language_is_plain_escaped_code() -> None:
    html = render_markdown(f"```nosuchlanguage\n{HOSTILE}\n```\n")
    assert '<code class="language-nosuchlanguage">&lt;img' in html
    assert_inert(html)


def test_highlight_css_has_light_and_dark_token_colours() -> None:
    from qolaba_nb._markdown import highlight_css

    css = highlight_css()
    assert ".qnb-transcript pre .qh-k {" in css
    assert 'body[data-jp-theme-light="false"] .qnb-transcript pre .qh-k {' in css
    assert "background" not in css  # the block's background is the theme's


@pytest.mark.parametrize(
    ("source", "display"),
    [
        ("$x^2$", "inline"),
        (r"\(x^2\)", "inline"),
        ("$$\\int_0^1 f(x)\\,dx$$", "block"),
        ("\\[\n\\frac{1}{2}\n\\]", "block"),
        ("$$\nE = mc^2\n$$", "block"),
    ],
)
def test_math_becomes_mathml(source: str, display: str) -> None:
    html = render_markdown(source)
    assert f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{display}">' in html
    assert "$" not in html and "\\(" not in html


def test_money_is_not_math() -> None:
    html = render_markdown("It costs $5 and $10 a month.")
    assert "<math" not in html and "$5 and $10" in html


@pytest.mark.parametrize(
    "latex",
    [
        r"\text{<img src=x onerror=alert(1)>}",
        r"\text{<b onmouseover=alert(1)>hi</b>}",
        r"\href{javascript:alert(1)}{x}",
        r"\style{background:url(https://tracker.example/p)}{x}",
        r'\color{red" onload="alert(1)}{x}',
        r"\text{</math><script>alert(1)</script>}",
    ],
)
def test_hostile_math_is_inert(latex: str) -> None:
    for source in (f"${latex}$", f"$${latex}$$", f"\\[{latex}\\]"):
        html = render_markdown(source)
        assert_inert(html)
        assert "style=" not in html and "href=" not in html and "tracker" not in html


def test_math_that_does_not_convert_is_escaped_source() -> None:
    from qolaba_nb._markdown import render_math

    html = render_math("\\text{<img src=x onerror=alert(1)>}")  # not XML once converted
    assert html == ('<code class="qnb-math-raw">\\text{&lt;img src=x onerror=alert(1)&gt;}</code>')


def test_math_and_code_in_a_table_stay_inert() -> None:
    html = render_markdown(
        f"| formula | code |\n|---|---|\n| $\\text{{{HOSTILE}}}$ | `{HOSTILE}` |\n"
        f"| {HOSTILE} | [x](javascript:alert(1)) |\n"
    )
    assert "<table>" in html and "<code>&lt;img" in html
    assert_inert(html)


def test_math_inside_code_stays_code() -> None:
    html = render_markdown("`$x^2$` and\n\n```\n$$y$$\n```\n")
    assert "<math" not in html and "<code>$x^2$</code>" in html
