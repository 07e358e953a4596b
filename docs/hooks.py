"""MkDocs hooks: every public object the reference documents has a docstring.

mkdocstrings renders an object without a docstring silently; this hook warns for each one,
and ``mkdocs build --strict`` (``make check``) turns the warnings into a failure.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

log = logging.getLogger("mkdocs.hooks.docstrings")

#: The modules whose ``__all__`` is the public API.
PUBLIC = ("qolaba_nb", "qolaba_nb.plots", "qolaba_nb.simulator")


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
