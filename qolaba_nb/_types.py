"""Types shared across the package: aliases and the keyword sets of the public API (no logic).

``SamplingParams`` is what ``chat(**params)``, ``stream(**params)``, ``compare()`` and the
compare panel take; the chat panel takes them with its own ``tools=`` (functions too):
``ChatPanelParams``. The fields are written once, in the small TypedDicts they are made of.

The request body is still checked at run time (``qolaba_nb._models.build_chat_body``, whose
list of known fields is ``SamplingParams``' keys): a misspelt keyword gets a "did you mean"
error before anything is sent, whatever a type checker said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict

JSON: TypeAlias = Any
Message: TypeAlias = Mapping[str, Any]
#: A prompt: one user message as a string, or a list of OpenAI-style message dicts.
Messages: TypeAlias = str | Sequence[Message]
#: The prompts of a comparison: one prompt (a string or one conversation), or many of them
#: (a list, or a pandas Series / DataFrame column).
Prompts: TypeAlias = Messages | Iterable[Messages]
#: ``tool_choice``: no tool, the model's choice, a tool call required, or one named tool.
ToolChoice: TypeAlias = Literal["none", "auto", "required"] | Mapping[str, Any]


class _Sampling(TypedDict, total=False):
    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    frequency_penalty: float | None
    presence_penalty: float | None


class _Stop(TypedDict, total=False):
    stop: str | Sequence[str] | None


class _Tools(TypedDict, total=False):
    tools: Sequence[Mapping[str, Any]] | None


class _Rest(TypedDict, total=False):
    tool_choice: ToolChoice | None
    stream_options: Mapping[str, Any] | None
    extra_body: Mapping[str, Any] | None


class SamplingParams(_Sampling, _Stop, _Tools, _Rest, total=False):
    """The optional fields of a chat request, as keyword arguments (all may be left out).

    Every field is checked before the request is sent (``ValidationError`` names the first
    bad one; an unknown keyword gets a "did you mean" hint). ``None`` is the same as leaving
    the field out: the server's default applies.

    Attributes
    ----------
    temperature : float
        Sampling temperature, from 0 to 2 (server default 1). Higher is more random.
    max_tokens : int
        The most tokens the reply may have: a positive integer (default: the model's limit).
    top_p : float
        Nucleus sampling: only the tokens of the top ``top_p`` probability mass, from 0 to 1.
        An alternative to ``temperature``; avoid setting both.
    frequency_penalty : float
        Penalises tokens by how often they appeared so far, typically from -2 to 2.
    presence_penalty : float
        Penalises tokens that appeared at all so far, typically from -2 to 2.
    stop : str or sequence of str
        One stop sequence, or up to 4; the reply ends before the first one (not included).
    tools : sequence of dict
        OpenAI-style function tools, ``{"type": "function", "function": {"name": ...}}``.
    tool_choice : {"none", "auto", "required"} or dict
        Whether (and which) tool the model calls.
    stream_options : dict
        Streaming options; ``{"include_usage": True}`` is sent by default with a stream.
    extra_body : dict
        Extra fields merged into the JSON body as they are (not checked); it cannot set a
        field above, nor ``model``, ``messages`` or ``stream``.

    Examples
    --------
    >>> params: SamplingParams = {"temperature": 0.2, "max_tokens": 200}
    >>> client.chat("Name three rivers.", model="openai/gpt-4o", **params)  # doctest: +SKIP
    """


class ChatPanelParams(_Sampling, _Stop, _Rest, total=False):
    """``SamplingParams`` but ``tools``: the request fields of ``ChatPanel``.

    The panel's own ``tools=`` argument takes Python functions as well as tool schemas.
    The fields are those of ``SamplingParams``.
    """
