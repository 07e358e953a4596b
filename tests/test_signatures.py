"""The public API explains itself: what ``inspect.signature`` (Shift+Tab) and ``help()`` show.

Every entry point a notebook user calls spells out its keywords, typed, and documents each of
them in a numpy-style docstring with an example; the request fields are one TypedDict that the
runtime validation reads, so the two cannot drift apart.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import re
import sys
import textwrap
import typing
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import qolaba_nb as q
from qolaba_nb import _models
from qolaba_nb.simulator import Simulator


def _targets() -> dict[str, Callable[..., Any]]:
    from qolaba_nb.widgets import ChatPanel, ComparePanel, UsageDashboard

    return {
        "Client": q.Client,
        "AsyncClient": q.AsyncClient,
        "Client.chat": q.Client.chat,
        "Client.stream": q.Client.stream,
        "AsyncClient.chat": q.AsyncClient.chat,
        "AsyncClient.stream": q.AsyncClient.stream,
        "connect": q.connect,
        "aconnect": q.aconnect,
        "login": q.login,
        "Simulator": Simulator,
        "compare": q.compare,
        "acompare": q.acompare,
        "estimate": q.estimate,
        "judge": q.judge,
        "ajudge": q.ajudge,
        "leaderboard": q.leaderboard,
        "report": q.report,
        "UsageLedger": q.UsageLedger,
        "ChatPanel": ChatPanel,
        "ChatPanel.load": ChatPanel.load,
        "ComparePanel": ComparePanel,
        "UsageDashboard": UsageDashboard,
    }


NAMES = list(_targets())


def _params(obj: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters a caller passes (not a method's ``self``)."""
    return [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]


def _signed(obj: Callable[..., Any]) -> Callable[..., Any]:
    """What carries the annotations: a class's ``__init__``, else the function itself."""
    return obj.__init__ if inspect.isclass(obj) else obj


def _sections(doc: str) -> dict[str, str]:
    """The numpy sections of a docstring (``Parameters``, ``Examples``, ...) by title."""
    lines = doc.splitlines()
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line.strip()
            and re.fullmatch(r"-{3,}", underline.strip() or "x")
            and len(underline.strip()) == len(line.strip())
        ):
            current = found.setdefault(line.strip(), [])
            continue
        if current is not None and re.fullmatch(r"\s*-{3,}\s*", line):
            continue
        if current is not None:
            current.append(line)
    return {title: "\n".join(body).strip("\n") for title, body in found.items()}


def _parameters(doc: str) -> dict[str, tuple[str, str]]:
    """Name -> (type line, description) of the Parameters section."""
    body = textwrap.dedent(_sections(doc).get("Parameters", ""))
    entries: dict[str, tuple[str, str]] = {}
    name: str | None = None
    for line in body.splitlines():
        if line and not line[0].isspace():
            head, _, kind = line.partition(" : ")
            name = head.strip()
            entries[name] = (kind.strip(), "")
        elif name is not None:
            kind, text = entries[name]
            entries[name] = (kind, f"{text} {line.strip()}".strip())
    return entries


def _unpacked(annotation: Any) -> type | None:
    """The TypedDict of a ``**kwargs: Unpack[TD]`` annotation, else None."""
    if typing.get_origin(annotation) is typing.Unpack:
        (inner,) = typing.get_args(annotation)
        if typing.is_typeddict(inner):
            return typing.cast(type, inner)
    return None


def _hints(obj: Callable[..., Any]) -> dict[str, Any]:
    """``typing.get_type_hints`` of the callable, with the names its module imports only
    for type checkers (``pd``, ``UsageLedger``: kept out of import time, so that importing a
    module does not load pandas) taken from that module's own ``if TYPE_CHECKING:`` block."""
    func = _signed(obj)
    module = sys.modules[func.__module__]
    namespace: dict[str, Any] = {"__name__": module.__name__, "__package__": module.__package__}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            block = ast.Module(body=node.body, type_ignores=[])
            exec(compile(block, module.__name__, "exec"), namespace)
    extra = {k: v for k, v in namespace.items() if not k.startswith("__")}
    return typing.get_type_hints(func, localns=extra, include_extras=True)


@pytest.mark.parametrize("name", NAMES)
def test_the_signature_spells_out_every_keyword_typed(name: str) -> None:
    obj = _targets()[name]
    hints = _hints(obj)
    for param in _params(obj):
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) untyped"
        assert param.kind is not inspect.Parameter.VAR_POSITIONAL, f"{name}(*{param.name})"
        hint = hints[param.name]
        assert hint is not Any, f"{name}({param.name}: Any) says nothing"
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            assert _unpacked(hint) is not None, (
                f"{name}(**{param.name}: {param.annotation}): a catch-all; spell the keywords "
                "out or type them with Unpack[SomeTypedDict]"
            )


@pytest.mark.parametrize("name", NAMES)
def test_the_docstring_has_a_summary_parameters_and_an_example(name: str) -> None:
    obj = _targets()[name]
    doc = inspect.getdoc(obj) or ""
    lines = doc.splitlines()
    assert lines and lines[0].strip().endswith("."), f"{name}: no one-line summary"
    assert len(lines) == 1 or not lines[1].strip(), f"{name}: the summary is not one line"
    sections = _sections(doc)
    assert ">>>" in sections.get("Examples", ""), f"{name}: no Examples section"
    documented = _parameters(doc)
    for param in _params(obj):
        star = "**" if param.kind is inspect.Parameter.VAR_KEYWORD else ""
        key = star + param.name
        assert key in documented, f"{name}: {key} is not in the Parameters section"
        kind, text = documented[key]
        assert kind and text, f"{name}: {key} has no type or no description"
        if param.default is not inspect.Parameter.empty:
            assert "default" in kind, f"{name}: {key} does not say its default"


@pytest.mark.parametrize("name", NAMES)
def test_an_unpacked_typeddict_has_each_of_its_fields_named_in_the_docstring(name: str) -> None:
    obj = _targets()[name]
    hints = _hints(obj)
    documented = _parameters(inspect.getdoc(obj) or "")
    for param in _params(obj):
        fields = _unpacked(hints.get(param.name))
        if fields is None:
            continue
        text = documented["**" + param.name][1]
        for field in fields.__annotations__:
            assert f"``{field}``" in text, f"{name}: **{param.name} does not name {field}"


@pytest.mark.parametrize("name", ["_client", "_connect", "_types", "simulator._runner"])
def test_type_hints_resolve_without_help_where_nothing_is_imported_lazily(name: str) -> None:
    module = importlib.import_module(f"qolaba_nb.{name}")
    for key, value in vars(module).items():
        if key.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value):
            typing.get_type_hints(value)
            for member in vars(value).values():
                if inspect.isfunction(member):
                    typing.get_type_hints(member)
        elif inspect.isfunction(value):
            typing.get_type_hints(value)


@pytest.mark.parametrize("name", NAMES)
def test_get_type_hints_resolves(name: str) -> None:
    obj = _targets()[name]
    params = {p.name for p in _params(obj)}
    assert params <= set(_hints(obj))


def test_sampling_params_are_the_fields_the_validation_knows() -> None:
    fields = tuple(q.SamplingParams.__annotations__)
    assert fields == _models.KNOWN_PARAMS
    assert fields[: len(_models.SAMPLING_PARAMS)] == _models.SAMPLING_PARAMS
    assert q.SamplingParams.__required_keys__ == frozenset()
    # the chat panel's tools= takes functions too; compare() takes every field (stop too)
    assert not hasattr(q, "CompareParams")
    assert set(q.ChatPanelParams.__annotations__) == set(fields) - {"tools"}
    doc = inspect.getdoc(q.SamplingParams) or ""
    attributes = _sections(doc)["Attributes"]
    for field in fields:
        assert re.search(rf"^{field} : ", attributes, re.M), f"{field} is not described"
    assert "Examples" in _sections(doc)


@pytest.mark.parametrize("name", ["compare", "acompare", "ComparePanel"])
def test_a_comparison_takes_every_request_field_and_cancel_for_its_stop_event(name: str) -> None:
    obj = _targets()[name]
    hints = _hints(obj)
    kwargs = [p for p in _params(obj) if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert [_unpacked(hints[p.name]) for p in kwargs] == [q.SamplingParams]  # stop= included
    if name != "ComparePanel":  # the panel's Stop is its button
        assert hints["cancel"] == asyncio.Event | None
    assert "stop" not in {p.name for p in _params(obj)}


def test_a_misspelt_keyword_still_gets_a_did_you_mean_before_anything_is_sent() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(500))
    with q.Client("sk-test-0000", "http://qolaba.test", ledger=False, transport=transport) as c:
        with pytest.raises(q.ValidationError, match="did you mean 'temperature'") as info:
            c.chat("hi", model="sim/echo", temprature=1)  # type: ignore[call-arg]
        assert info.value.param == "temprature"
        with pytest.raises(q.ValidationError, match="did you mean 'max_tokens'"):
            c.stream("hi", model="sim/echo", max_token=5)  # type: ignore[call-arg]
        with pytest.raises(q.ValidationError, match="temperature must be between 0 and 2"):
            c.chat("hi", model="sim/echo", temperature=3)
    assert sent == []


def test_shift_tab_shows_the_keywords_of_connect_and_the_client() -> None:
    shown = str(inspect.signature(q.connect))
    for keyword in ("api_key", "base_url", "ledger", "tag", "budget_credits", "timeout"):
        assert f"{keyword}:" in shown
    client = set(inspect.signature(q.Client).parameters)
    assert client <= set(inspect.signature(q.connect).parameters)
    assert client <= set(inspect.signature(q.aconnect).parameters)
    assert set(inspect.signature(q.compare).parameters) == set(
        inspect.signature(q.acompare).parameters
    )
    assert str(inspect.signature(q.judge)) == str(inspect.signature(q.ajudge))


def test_the_client_connect_and_the_settings_take_the_same_keywords() -> None:
    from qolaba_nb._settings import ClientSettings

    def keywords(func: Callable[..., Any]) -> set[str]:
        return {p.name for p in _params(func)}

    settings = keywords(ClientSettings.resolve) - {"cls"}
    assert keywords(q.Client) == keywords(q.AsyncClient) == settings | {"transport"}
    assert keywords(q.connect) == keywords(q.aconnect) == settings | {"transport", "quiet"}
