"""MkDocs hooks: the tutorials as pages, and a warning for every undocumented public object.

The tutorials live in the repository's ``notebooks/`` (one copy: nbval checks them there, and
the wheel and the sdist carry them from there). They are not copied or linked into ``docs/``:
a symlink made hatch drop them from the sdist. ``on_files`` adds each ``notebooks/*.ipynb``
as a page at ``notebooks/<name>/`` with its source outside ``docs_dir``; mkdocs-jupyter, which
reads a page from its ``abs_src_path``, renders the saved outputs. A notebook the nav does not
list yet is added to its Tutorials section (``on_config``), so a new tutorial is never left out.

mkdocstrings renders an object without a docstring silently; ``on_pre_build`` warns for each
one, and ``mkdocs build --strict`` (``make check``) turns the warnings into a failure.
"""

from __future__ import annotations

import importlib
import inspect
import logging
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
