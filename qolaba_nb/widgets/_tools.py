"""Python functions as OpenAI tools: a schema from the signature, and calling them safely."""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["ToolBox", "tool_schema"]

_JSON_TYPES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
}


def _json_type(annotation: Any) -> dict[str, Any]:
    """The JSON-schema of a parameter annotation; unknown types give a bare ``{}``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = list(typing.get_args(annotation))
        return {"enum": values}
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(args[0]) if len(args) == 1 else {}
    if origin is not None:
        kind = _JSON_TYPES.get(origin)
        if kind == "array":
            items = typing.get_args(annotation)
            return {"type": "array", **({"items": _json_type(items[0])} if items else {})}
        return {"type": kind} if kind else {}
    kind = _JSON_TYPES.get(annotation)
    return {"type": kind} if kind else {}


def _param_docs(doc: str) -> dict[str, str]:
    """The ``name: text`` or ``name (type): text`` lines of a docstring (Google style)."""
    found: dict[str, str] = {}
    for line in doc.splitlines():
        head, colon, text = line.strip().partition(":")
        name = head.split("(")[0].strip()
        if colon and name.isidentifier() and text.strip():
            found.setdefault(name, text.strip())
    return found


def tool_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI function-tool schema of ``fn``: name, first docstring paragraph, parameters.

    Parameters without a default are required; ``*args`` and ``**kwargs`` are left out.
    """
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable string annotations: fall back to no types
        hints = {}
    doc = inspect.getdoc(fn) or ""
    param_docs = _param_docs(doc)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        schema = _json_type(hints.get(name, Any))
        if name in param_docs:
            schema["description"] = param_docs[name]
        properties[name] = schema
        if param.default is param.empty:
            required.append(name)
    description = doc.split("\n\n")[0].strip()
    function: dict[str, Any] = {
        "name": fn.__name__,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


class ToolBox:
    """The tools of a panel: schemas to send, and the Python functions behind them."""

    def __init__(self, tools: Sequence[Callable[..., Any] | Mapping[str, Any]] | None) -> None:
        self.schemas: list[dict[str, Any]] = []
        self.functions: dict[str, Callable[..., Any]] = {}
        for tool in tools or ():
            if callable(tool):
                schema = tool_schema(tool)
                self.functions[schema["function"]["name"]] = tool
            else:
                schema = dict(tool)  # already a schema: shown when called, not run
            self.schemas.append(schema)

    def __bool__(self) -> bool:
        return bool(self.schemas)

    def can_run(self, calls: Sequence[Mapping[str, Any]]) -> bool:
        return bool(calls) and all(_name(c) in self.functions for c in calls)

    async def run(self, call: Mapping[str, Any]) -> str:
        """Call the function a tool call names; the result (or the error) as text for the model.

        A failing tool is reported to the model, not raised: the model can often recover.
        """
        fn = self.functions[_name(call)]
        raw = (call.get("function") or {}).get("arguments") or "{}"
        try:
            args = json.loads(raw)
            if not isinstance(args, dict):
                raise TypeError(f"arguments must be a JSON object, got {raw!r}")
            result = fn(**args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return f"error: {type(exc).__name__}: {exc}"
        if isinstance(result, str):
            return result
        try:
            return json.dumps(result, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(result)


def _name(call: Mapping[str, Any]) -> str:
    return str((call.get("function") or {}).get("name", ""))
