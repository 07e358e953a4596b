"""The one safe Markdown renderer: model output in, HTML that cannot run or fetch anything out.

Every place that shows model text as Markdown (the chat panels, ``%%chat``,
``ChatCompletion._repr_markdown_``, the comparison report) goes through ``render_markdown``:

* raw HTML in the text is escaped, never passed through (markdown-it with ``html`` off);
* images are never loaded (a tracking pixel would be a fetch): an image is shown as its alt
  text;
* links keep only the schemes ``http``, ``https`` and ``mailto``; any other link (``javascript:``,
  ``data:``, ``file:``, relative paths) is shown as its text. Links open in a new tab, with
  ``rel="noopener noreferrer nofollow"``;
* fenced code is highlighted by Pygments into ``<span class="qh-…">`` (classes only; the
  colours for light and dark themes are in ``highlight_css()``);
* math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) becomes MathML, which browsers draw
  natively. latex2mathml's output is parsed and rebuilt from an allow-list of MathML elements
  and attributes (it would pass ``\\text{<b>}`` and ``\\href{javascript:…}`` through); what does
  not convert is shown as escaped source.

The parsers are imported on the first call, so ``import qolaba_nb`` stays light.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from xml.etree import ElementTree

from ._render import escape_html

__all__ = ["SAFE_SCHEMES", "code_blocks", "highlight_css", "render_markdown", "render_math"]

#: The only link schemes a rendered reply may contain.
SAFE_SCHEMES = ("http:", "https:", "mailto:")

#: The class prefix of highlighted code tokens (``qh-k`` for a keyword...).
HIGHLIGHT_PREFIX = "qh-"


def _safe_link(url: str) -> bool:
    # markdown-it has already normalised the URL (percent-encoded, entities decoded), so
    # spaces and control characters cannot hide a scheme from this test.
    return url.strip().lower().startswith(SAFE_SCHEMES)


# --------------------------------------------------------------------------- code


def _highlight(code: str, lang: str, _attrs: str) -> str:
    """Pygments' token spans for ``code`` (escaped by Pygments), or "" to leave it plain."""
    if not lang:
        return ""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments comes with IPython
        return ""
    try:
        lexer = get_lexer_by_name(lang)
    except ClassNotFound:
        return ""
    formatter = HtmlFormatter(nowrap=True, classprefix=HIGHLIGHT_PREFIX)
    return str(highlight(code, lexer, formatter))


@cache
def highlight_css(scope: str = ".qnb-transcript") -> str:
    """CSS for highlighted code under ``scope``: a light style, and a dark one under
    JupyterLab's (and Notebook 7's) dark themes (``body[data-jp-theme-light="false"]``)."""
    try:
        from pygments.formatters import HtmlFormatter
    except ImportError:  # pragma: no cover
        return ""
    light = HtmlFormatter(style="default", classprefix=HIGHLIGHT_PREFIX)
    dark = HtmlFormatter(style="monokai", classprefix=HIGHLIGHT_PREFIX)
    rules = [
        light.get_style_defs(f"{scope} pre"),
        dark.get_style_defs(f'body[data-jp-theme-light="false"] {scope} pre'),
    ]
    # Only token colours: the block's own background and padding come from the theme's
    # variables in transcript.css (Pygments' base rules are unscoped or carry backgrounds).
    keep = [line for css in rules for line in css.splitlines() if f".{HIGHLIGHT_PREFIX}" in line]
    return "\n".join(line for line in keep if "background" not in line) + "\n"


# --------------------------------------------------------------------------- math

_MATHML_NS = "{http://www.w3.org/1998/Math/MathML}"
_MATH_ELEMENTS = frozenset(
    [
        "math",
        "mrow",
        "mi",
        "mn",
        "mo",
        "ms",
        "mtext",
        "mspace",
        "msup",
        "msub",
        "msubsup",
        "munder",
        "mover",
        "munderover",
        "mfrac",
        "msqrt",
        "mroot",
        "mstyle",
        "mpadded",
        "mphantom",
        "menclose",
        "mfenced",
        "mtable",
        "mtr",
        "mtd",
        "mlabeledtr",
        "semantics",
        "annotation",
        "merror",
        "mmultiscripts",
        "mprescripts",
        "none",
    ]
)
_MATH_ATTRIBUTES = frozenset(
    [
        "display",
        "mathvariant",
        "stretchy",
        "fence",
        "separator",
        "lspace",
        "rspace",
        "columnalign",
        "rowalign",
        "columnspacing",
        "rowspacing",
        "columnlines",
        "rowlines",
        "frame",
        "accent",
        "accentunder",
        "movablelimits",
        "linethickness",
        "width",
        "height",
        "depth",
        "minsize",
        "maxsize",
        "symmetric",
        "largeop",
        "form",
        "notation",
        "displaystyle",
        "scriptlevel",
        "open",
        "close",
        "separators",
        "mathsize",
    ]
)
_SIMPLE_VALUE = re.compile(r"^[\w .%#+-]{0,40}$")


def _rebuild(node: ElementTree.Element) -> str:
    tag = node.tag.removeprefix(_MATHML_NS)
    inner = escape_html(node.text or "")
    inner += "".join(_rebuild(child) + escape_html(child.tail or "") for child in node)
    if tag not in _MATH_ELEMENTS:
        return inner  # <b> inside \text{...}: its text only
    attrs = "".join(
        f' {name}="{escape_html(value)}"'
        for name, value in sorted(node.attrib.items())
        if name in _MATH_ATTRIBUTES and _SIMPLE_VALUE.match(value)
    )
    if tag == "math":
        attrs = ' xmlns="http://www.w3.org/1998/Math/MathML"' + attrs
    return f"<{tag}{attrs}>{inner}</{tag}>"


def render_math(latex: str, *, display: bool = False) -> str:
    """LaTeX as sanitized MathML; the escaped source if latex2mathml cannot convert it."""
    fallback = (
        f'<code class="qnb-math-raw">{escape_html(latex)}</code>'
        if not display
        else f'<pre class="qnb-math-raw"><code>{escape_html(latex)}</code></pre>'
    )
    try:
        from latex2mathml.converter import convert
    except ImportError:  # pragma: no cover
        return fallback
    try:
        mathml = convert(latex.strip(), display="block" if display else "inline")
        tree = ElementTree.fromstring(mathml)
    except Exception:  # latex2mathml raises many kinds; its output may not be XML
        return fallback
    return _rebuild(tree)


# --------------------------------------------------------------------------- markdown


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath import texmath_plugin

    md = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": False, "typographer": False, "highlight": _highlight},
    )
    md.enable(["table", "strikethrough"])
    md.validateLink = _safe_link  # type: ignore[method-assign]
    # "$5 and $6" is money, not math: no digit right after the closing $, no space inside.
    dollarmath_plugin(md, allow_space=False, allow_digits=False, double_inline=True)
    texmath_plugin(md, delimiters="brackets")  # \( \) and \[ \]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # A click must not navigate JupyterLab itself away.
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return str(renderer.renderToken(tokens, idx, options, env))

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # The alt text, never an <img>: nothing the reply names is fetched.
        token = tokens[idx]
        return escape_html("".join(child.content for child in token.children or ()))

    def math_inline(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return render_math(tokens[idx].content)

    def math_block(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return f'<div class="qnb-math">{render_math(tokens[idx].content, display=True)}</div>\n'

    def math_display_inline(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # $$...$$ inside a paragraph: displayed, but a <span> (a <div> cannot sit in a <p>)
        return f'<span class="qnb-math">{render_math(tokens[idx].content, display=True)}</span>'

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    for name in ("math_inline", "math_single"):
        md.add_render_rule(name, math_inline)
    md.add_render_rule("math_inline_double", math_display_inline)
    for name in ("math_block", "math_block_label", "math_block_eqno"):
        md.add_render_rule(name, math_block)
    return md


def render_markdown(text: str) -> str:
    """Markdown to safe HTML: raw HTML escaped, no images, links only to safe schemes, code
    highlighted, math as MathML."""
    return str(_markdown().render(text))


def code_blocks(text: str) -> list[str]:
    """The fenced and indented code blocks of Markdown ``text``, as their Copy buttons copy."""
    return [t.content for t in _markdown().parse(text) if t.type in ("fence", "code_block")]
