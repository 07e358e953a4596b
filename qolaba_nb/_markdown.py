"""The one safe Markdown renderer: model output in, HTML that cannot run or fetch anything out.

Every place that shows model text as Markdown (the chat panels, ``%%chat``,
``ChatCompletion._repr_markdown_``, the comparison report) goes through ``render_markdown``:

* raw HTML in the text is escaped, never passed through (markdown-it with ``html`` off);
* images are never loaded (a tracking pixel would be a fetch): an image is shown as its alt
  text;
* links keep only the schemes ``http``, ``https`` and ``mailto``; any other link (``javascript:``,
  ``data:``, ``file:``, relative paths) is shown as its text. Links open in a new tab, with
  ``rel="noopener noreferrer nofollow"``.

markdown-it is imported on the first call, so ``import qolaba_nb`` stays light.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ._render import escape_html

__all__ = ["SAFE_SCHEMES", "render_markdown"]

#: The only link schemes a rendered reply may contain.
SAFE_SCHEMES = ("http:", "https:", "mailto:")


def _safe_link(url: str) -> bool:
    # markdown-it has already normalised the URL (percent-encoded, entities decoded); control
    # characters and spaces cannot hide a scheme from this test because they are encoded.
    return url.strip().lower().startswith(SAFE_SCHEMES)


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = _safe_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # A click must not navigate JupyterLab itself away.
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return str(renderer.renderToken(tokens, idx, options, env))

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # The alt text, never an <img>: nothing the reply names is fetched.
        token = tokens[idx]
        alt = "".join(child.content for child in token.children or ())
        return escape_html(alt)

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md


def render_markdown(text: str) -> str:
    """Markdown to safe HTML: raw HTML escaped, no images, links only to safe schemes."""
    return str(_markdown().render(text))
