"""Type aliases shared across the package (aliases only, no logic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

JSON: TypeAlias = Any
Message: TypeAlias = Mapping[str, Any]
#: A prompt: one user message as a string, or a list of OpenAI-style message dicts.
Messages: TypeAlias = str | Sequence[Message]
