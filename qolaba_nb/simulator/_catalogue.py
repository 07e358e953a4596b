"""The models the simulator knows about.

Real-looking ids behave like well-mannered models with their own speed and price, so notebooks
that compare models have something to compare. The ``sim/...`` ids are teaching models: each
one fails (or misbehaves) in one specific, documented way, so a notebook can show what a
client has to cope with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Behaviour = Literal[
    "normal",  # a deterministic pseudo-English answer about the prompt
    "echo",  # the last user text, verbatim
    "xss",  # hostile HTML plus Markdown, to test that a UI escapes what it renders
    "rate_limited",  # always 429, Retry-After: 1
    "flaky",  # 429 with Retry-After: 0 on every 2nd request per key
    "upstream_error",  # always 502
    "timeout",  # always 504 (answered at once: nobody wants to wait the real 3 minutes)
    "cut_stream",  # stream stops half way and the connection drops; as JSON a 502
    "mid_stream_error",  # stream sends some text, then an error event; as JSON a 502
]


@dataclass(frozen=True, slots=True)
class SimModel:
    """One entry of the catalogue: identity, pacing and price."""

    id: str
    owned_by: str
    name: str
    description: str
    created: int
    context_length: int
    ttft_s: float  # seconds before the first content chunk
    chars_per_s: float  # streaming speed once the answer flows
    answer_chars: int  # typical answer length; each answer varies around it
    base_credit: float  # credit charged per call ...
    credit_per_char: float  # ... plus this much per character of the answer
    usd_per_credit: float  # what one credit costs in dollars for this model
    behaviour: Behaviour = "normal"

    def credit_for(self, answer_chars: int) -> float:
        """The credits a reply of ``answer_chars`` characters costs on this model."""
        return round(self.base_credit + self.credit_per_char * answer_chars, 6)

    def cost_for(self, credit: float) -> float:
        """The cost in USD of ``credit`` credits on this model."""
        return round(credit * self.usd_per_credit, 6)


# Fixed timestamps keep the model list byte-for-byte stable between runs.
_T2024 = 1_704_067_200
_T2025 = 1_735_689_600

MODELS: list[SimModel] = [
    SimModel(
        id="openai/gpt-4o",
        owned_by="openai",
        name="GPT-4o",
        description="OpenAI's flagship multimodal model.",
        created=_T2024,
        context_length=128_000,
        ttft_s=0.25,
        chars_per_s=900,
        answer_chars=420,
        base_credit=0.2,
        credit_per_char=0.0006,
        usd_per_credit=0.005,
    ),
    SimModel(
        id="openai/gpt-4o-mini",
        owned_by="openai",
        name="GPT-4o mini",
        description="Small, fast and cheap OpenAI model.",
        created=_T2024,
        context_length=128_000,
        ttft_s=0.12,
        chars_per_s=1800,
        answer_chars=320,
        base_credit=0.05,
        credit_per_char=0.0001,
        usd_per_credit=0.005,
    ),
    SimModel(
        id="anthropic/claude-3-5-sonnet",
        owned_by="anthropic",
        name="Claude 3.5 Sonnet",
        description="Anthropic's mid-size model, careful and verbose.",
        created=_T2024,
        context_length=200_000,
        ttft_s=0.35,
        chars_per_s=700,
        answer_chars=520,
        base_credit=0.3,
        credit_per_char=0.0008,
        usd_per_credit=0.0055,
    ),
    SimModel(
        id="google/gemini-2.5-flash",
        owned_by="google",
        name="Gemini 2.5 Flash",
        description="Google's fast model; the one in the API reference's examples.",
        created=_T2025,
        context_length=1_000_000,
        ttft_s=0.08,
        chars_per_s=2600,
        answer_chars=300,
        base_credit=0.1,
        credit_per_char=0.0003,
        usd_per_credit=0.004976,
    ),
    SimModel(
        id="google/gemini-2.5-pro",
        owned_by="google",
        name="Gemini 2.5 Pro",
        description="Google's large reasoning model: slow to start, thorough.",
        created=_T2025,
        context_length=1_000_000,
        ttft_s=0.4,
        chars_per_s=600,
        answer_chars=600,
        base_credit=0.4,
        credit_per_char=0.001,
        usd_per_credit=0.005,
    ),
    SimModel(
        id="meta-llama/llama-3.1-70b-instruct",
        owned_by="meta-llama",
        name="Llama 3.1 70B Instruct",
        description="Meta's open-weights 70B instruction model.",
        created=_T2024,
        context_length=128_000,
        ttft_s=0.2,
        chars_per_s=1200,
        answer_chars=360,
        base_credit=0.12,
        credit_per_char=0.0003,
        usd_per_credit=0.0045,
    ),
    SimModel(
        id="mistralai/mistral-large",
        owned_by="mistralai",
        name="Mistral Large",
        description="Mistral AI's largest model.",
        created=_T2024,
        context_length=128_000,
        ttft_s=0.18,
        chars_per_s=1000,
        answer_chars=380,
        base_credit=0.15,
        credit_per_char=0.0004,
        usd_per_credit=0.0048,
    ),
    SimModel(
        id="deepseek/deepseek-chat",
        owned_by="deepseek",
        name="DeepSeek Chat",
        description="DeepSeek's chat model: cheap, a little slow.",
        created=_T2025,
        context_length=64_000,
        ttft_s=0.3,
        chars_per_s=500,
        answer_chars=460,
        base_credit=0.06,
        credit_per_char=0.0001,
        usd_per_credit=0.004,
    ),
    # --- teaching models -------------------------------------------------------------------
    SimModel(
        id="sim/echo",
        owned_by="qolaba-sim",
        name="Echo",
        description="Answers with the last user text, verbatim and fast. Handy in tests.",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.01,
        chars_per_s=100_000,
        answer_chars=0,
        base_credit=0.01,
        credit_per_char=0.00001,
        usd_per_credit=0.001,
        behaviour="echo",
    ),
    SimModel(
        id="sim/slow",
        owned_by="qolaba-sim",
        name="Slow",
        description="Half a second to start, then about 20 characters a second. For Stop demos.",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.5,
        chars_per_s=20,
        answer_chars=1500,
        base_credit=0.05,
        credit_per_char=0.0001,
        usd_per_credit=0.004,
    ),
    SimModel(
        id="sim/xss",
        owned_by="qolaba-sim",
        name="XSS",
        description="Answers with <script> and onerror= HTML plus Markdown. Render it safely!",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.05,
        chars_per_s=3000,
        answer_chars=0,
        base_credit=0.02,
        credit_per_char=0.00005,
        usd_per_credit=0.004,
        behaviour="xss",
    ),
    SimModel(
        id="sim/rate-limited",
        owned_by="qolaba-sim",
        name="Rate limited",
        description="Always answers 429 Too Many Requests with Retry-After: 1.",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.0,
        chars_per_s=1000,
        answer_chars=0,
        base_credit=0.0,
        credit_per_char=0.0,
        usd_per_credit=0.0,
        behaviour="rate_limited",
    ),
    SimModel(
        id="sim/flaky",
        owned_by="qolaba-sim",
        name="Flaky",
        description="Every 2nd request per API key gets 429 with Retry-After: 0; a retry works.",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.05,
        chars_per_s=2000,
        answer_chars=200,
        base_credit=0.02,
        credit_per_char=0.0001,
        usd_per_credit=0.004,
        behaviour="flaky",
    ),
    SimModel(
        id="sim/upstream-error",
        owned_by="qolaba-sim",
        name="Upstream error",
        description="Always answers 502: the provider behind Qolaba failed.",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.0,
        chars_per_s=1000,
        answer_chars=0,
        base_credit=0.0,
        credit_per_char=0.0,
        usd_per_credit=0.0,
        behaviour="upstream_error",
    ),
    SimModel(
        id="sim/timeout",
        owned_by="qolaba-sim",
        name="Timeout",
        description="Always answers 504 (the real API does so after 3 minutes; this one at once).",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.0,
        chars_per_s=1000,
        answer_chars=0,
        base_credit=0.0,
        credit_per_char=0.0,
        usd_per_credit=0.0,
        behaviour="timeout",
    ),
    SimModel(
        id="sim/cut-stream",
        owned_by="qolaba-sim",
        name="Cut stream",
        description="Streams half an answer, then drops the connection (no finish, no [DONE]).",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.05,
        chars_per_s=2000,
        answer_chars=300,
        base_credit=0.02,
        credit_per_char=0.0001,
        usd_per_credit=0.004,
        behaviour="cut_stream",
    ),
    SimModel(
        id="sim/mid-stream-error",
        owned_by="qolaba-sim",
        name="Mid-stream error",
        description="Streams some text, then an error event instead of the rest.",
        created=_T2025,
        context_length=32_000,
        ttft_s=0.05,
        chars_per_s=2000,
        answer_chars=300,
        base_credit=0.02,
        credit_per_char=0.0001,
        usd_per_credit=0.004,
        behaviour="mid_stream_error",
    ),
]

MODELS_BY_ID: dict[str, SimModel] = {m.id: m for m in MODELS}


def model_card(model: SimModel) -> dict[str, object]:
    """The model as the list/retrieve endpoints show it (OpenAI's shape plus a few extras)."""
    return {
        "id": model.id,
        "object": "model",
        "created": model.created,
        "owned_by": model.owned_by,
        "name": model.name,
        "description": model.description,
        "context_length": model.context_length,
    }
