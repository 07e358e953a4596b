"""MkDocs hooks: the tutorials as pages, and a warning for every undocumented public object.

The tutorials live in the repository's ``notebooks/`` (one copy: nbval checks them there, and
the wheel and the sdist carry them from there). They are not copied or linked into ``docs/``:
a symlink made hatch drop them from the sdist. ``on_files`` adds each ``notebooks/*.ipynb``
as a page at ``notebooks/<name>/`` with its source outside ``docs_dir``; mkdocs-jupyter, which
reads a page from its ``abs_src_path``, renders the saved outputs. A notebook the nav does not
list yet is added to its Tutorials section (``on_config``), so a new tutorial is never left out.

The pages load nothing from elsewhere (the theme's fonts are off in mkdocs.yml). A saved panel
is ipywidgets state, which nbconvert would bring to life with a script fetched from unpkg (any
version, ``@*``) and which holds the replies of the models: ``on_page_content`` drops that
loader and the state, and shows a line in place of each panel instead.

mkdocstrings renders an object without a docstring silently; ``on_pre_build`` warns for each
one, and ``mkdocs build --strict`` (``make check``) turns the warnings into a failure.
"""

from __future__ import annotations

import html
import importlib
import inspect
import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.docstrings")

#: The modules whose ``__all__`` is the public API.
PUBLIC = ("qolaba_nb", "qolaba_nb.plots", "qolaba_nb.simulator")
#: Where the tutorials are, relative to mkdocs.yml, and where their pages go.
NOTEBOOKS = "notebooks"
TUTORIALS = "Tutorials"


def _root(config: Any) -> Path:
    return Path(config.config_file_path).resolve().parent


def notebooks(config: Any) -> list[str]:
    """The tutorials' paths as pages (``notebooks/01_quickstart.ipynb``, ...), sorted."""
    return sorted(f"{NOTEBOOKS}/{p.name}" for p in (_root(config) / NOTEBOOKS).glob("*.ipynb"))


def _listed(nav: Any) -> set[str]:
    """Every page path named anywhere in a nav."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_listed(item) for item in nav))
    if isinstance(nav, dict):
        return set().union(*(_listed(item) for item in nav.values()))
    return set()


def on_config(config: Any) -> Any:
    nav = config.nav
    if nav is None:
        return config
    missing = [path for path in notebooks(config) if path not in _listed(nav)]
    if not missing:
        return config
    section = next((item for item in nav if isinstance(item, dict) and TUTORIALS in item), None)
    if section is None:
        section = {TUTORIALS: []}
        nav.append(section)
    section[TUTORIALS].extend(missing)
    return config


@event_priority(100)  # before mkdocs-jupyter's on_files, which turns .ipynb files into pages
def on_files(files: Files, config: Any) -> Files:
    for path in notebooks(config):
        if files.get_file_from_path(path) is None:
            files.append(
                File(
                    path,
                    src_dir=str(_root(config)),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                )
            )
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    server.watch(str(_root(config) / NOTEBOOKS))  # `mkdocs serve` rebuilds on a notebook edit
    return server


#: nbconvert's loader of the widget manager (from unpkg), the saved widget state, and one view.
_WIDGET_LOADER = re.compile(
    r"<script>\s*\(function\(\) \{\s*function addWidgetsRenderer\(\).*?</script>", re.S
)
_WIDGET_STATE = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-state\+json">.*?</script>', re.S
)
_WIDGET_VIEW = re.compile(
    r'(?:<script type="text/javascript">\s*var element = document\.getElementById\([^)]*\);\s*'
    r'</script>\s*)?<script type="application/vnd\.jupyter\.widget-view\+json">.*?</script>',
    re.S,
)
#: What a reader sees where a panel was shown.
LIVE_ONLY = (
    '<p class="qnb-live-only"><em>'
    + html.escape("An interactive panel: run this notebook in Jupyter to use it.")
    + "</em></p>"
)


def static_notebook(content: str) -> str:
    """A notebook page's HTML without the widget manager, the widget state or the views."""
    content = _WIDGET_LOADER.sub("", content)
    content = _WIDGET_STATE.sub("", content)
    return _WIDGET_VIEW.sub(LIVE_ONLY, content)


def on_page_content(content: str, page: Any, config: Any, files: Files) -> str:
    if page.file.src_uri.startswith(f"{NOTEBOOKS}/"):
        return static_notebook(content)
    return content


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined by the class itself (not inherited ones)."""
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            found.append((name, value.fget))
        elif isinstance(value, classmethod | staticmethod):
            found.append((name, value.__func__))
        elif inspect.isfunction(value):
            found.append((name, value))
    return found


def undocumented() -> list[str]:
    """Dotted names of public objects without a docstring of their own."""
    missing = []
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        if not inspect.getdoc(module):
            missing.append(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not obj.__doc__:
                missing.append(f"{module_name}.{name}")
            if inspect.isclass(obj):
                for member, func in _members(obj):
                    if func is not None and not func.__doc__:
                        missing.append(f"{module_name}.{name}.{member}")
    return sorted(set(missing))


def on_pre_build(config: Any) -> None:
    for name in undocumented():
        log.warning("%s has no docstring", name)
