"""Many prompts on many models, streamed concurrently, into one DataFrame.

``acompare`` is the coroutine (``await`` it in a notebook cell); ``compare`` is the same from
plain code, and also works inside a running loop (a notebook) by running on a worker thread with
a loop of its own. A failed cell becomes a row with its error: one bad model never throws away
the other results.

Rate limits: at most ``concurrency`` requests are in flight. The client's one retry policy retries
a 429 (honouring ``Retry-After`` up to its cap); a 429 that still reaches a cell halves the limit
and the cell becomes an error row. Every run of successes as long as the limit grows it back by
one, up to ``concurrency``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ._client import AsyncClient, Client
from ._exceptions import QolabaError, RateLimitError
from ._models import content_text, normalize_messages
from ._record import status_of

if TYPE_CHECKING:
    import pandas as pd

    from .ledger import UsageLedger

__all__ = ["COLUMNS", "AdaptiveLimit", "CompareCell", "acompare", "compare", "estimate"]

COLUMNS = [
    "prompt",
    "model",
    "repeat",
    "text",
    "credit",
    "cost",
    "latency_s",
    "ttft_s",
    "chars_per_s",
    "finish_reason",
    "status",
    "error",
    "run_id",
]


@dataclass
class CompareCell:
    """One (prompt, model, repeat) of a comparison; ``on_update`` callbacks receive it."""

    prompt_index: int
    prompt: str
    messages: list[dict[str, Any]] = field(repr=False)
    model: str
    repeat: int
    run_id: str
    text: str = ""
    delta: str = ""  # the text that arrived with this update
    credit: float | None = None
    cost: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    chars_per_s: float | None = None
    finish_reason: str | None = None
    status: str = "pending"
    error: str | None = None
    done: bool = False

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        return {name: data[name] for name in COLUMNS}


class AdaptiveLimit:
    """A concurrency limit that halves on a rate limit and grows back after successes."""

    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self._streak = 0
        self._changed = asyncio.Condition()

    def rate_limited(self) -> None:
        self.limit = max(1, self.limit // 2)
        self._streak = 0

    def succeeded(self) -> None:
        self._streak += 1
        if self._streak >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._streak = 0

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()


def _prompt_list(prompts: Any) -> list[list[dict[str, Any]]]:
    """Strings, message lists, or a pandas Series / DataFrame column of either."""
    if isinstance(prompts, str):
        items: list[Any] = [prompts]
    elif isinstance(prompts, Sequence) and prompts and isinstance(prompts[0], Mapping):
        items = [prompts]  # one conversation given as a message list
    elif hasattr(prompts, "tolist"):
        items = list(prompts.tolist())
    elif isinstance(prompts, Iterable):
        items = list(prompts)
    else:
        raise TypeError(f"prompts must be strings or message lists, got {type(prompts).__name__}")
    if not items:
        raise ValueError("no prompts given")
    return [normalize_messages(p) for p in items]


def _label(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return content_text((users or messages)[-1].get("content"))


async def _run_cell(
    client: AsyncClient,
    cell: CompareCell,
    limit: AdaptiveLimit,
    params: dict[str, Any],
    tag: str | None,
    notify: Callable[[CompareCell], None],
) -> None:
    async with limit:
        try:
            stream = await client.stream(
                cell.messages, model=cell.model, tag=tag, run_id=cell.run_id, **params
            )
            async with stream:
                cell.status = "streaming"
                async for chunk in stream:
                    if chunk.delta:
                        cell.delta, cell.text = chunk.delta, stream.text
                        notify(cell)
                reply = await stream.completion()
        except QolabaError as err:
            if isinstance(err, RateLimitError):  # the client has already retried it
                limit.rate_limited()
            cell.status, cell.error = status_of(err), f"{type(err).__name__}: {err}"
            cell.text = getattr(err, "partial_text", None) or ""
        else:
            limit.succeeded()
            cell.text, cell.finish_reason, cell.status = reply.text, reply.finish_reason, "ok"
            cell.credit, cell.cost = reply.credit, reply.cost
            cell.latency_s, cell.ttft_s = reply.latency_s, reply.ttft_s
            if reply.latency_s and reply.ttft_s is not None and reply.latency_s > reply.ttft_s:
                cell.chars_per_s = len(reply.text) / (reply.latency_s - reply.ttft_s)
    cell.delta, cell.done = "", True
    notify(cell)


async def acompare(
    prompts: Any,
    models: Sequence[str],
    *,
    client: Client | AsyncClient | None = None,
    repeats: int = 1,
    concurrency: int = 4,
    tag: str | None = None,
    run_id: str | None = None,
    progress: bool = True,
    on_update: Callable[[CompareCell], None] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """Run every prompt on every model (``repeats`` times each), streamed, concurrently.

    Returns one row per (prompt, model, repeat) with the columns in ``COLUMNS``. Sampling
    parameters (``temperature=...``) go to every call. All calls share one ``run_id``, which is
    also recorded in the ledger.

    Example::

        df = await acompare(["Name three rivers."], ["openai/gpt-4o", "google/gemini-2.5-flash"])
    """
    import pandas as pd

    if isinstance(models, str):
        models = [models]
    if not models:
        raise ValueError("no models given")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    messages = _prompt_list(prompts)
    run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
    cells = [
        CompareCell(i, _label(m), m, model, r, run_id)
        for i, m in enumerate(messages)
        for model in models
        for r in range(repeats)
    ]
    own = client is None or isinstance(client, Client)
    aclient = AsyncClient.twin(client) if own else client
    assert isinstance(aclient, AsyncClient)
    bar = _progress_bar(len(cells)) if progress else None

    def notify(cell: CompareCell) -> None:
        if cell.done and bar is not None:
            bar.update(1)
        if on_update is not None:
            on_update(cell)

    limit = AdaptiveLimit(concurrency)
    try:
        await asyncio.gather(*(_run_cell(aclient, c, limit, params, tag, notify) for c in cells))
    finally:
        if bar is not None:
            bar.close()
        if own:
            await aclient.aclose()
    frame = pd.DataFrame([c.row() for c in cells], columns=COLUMNS)
    return frame.astype(
        {
            "credit": "float64",
            "cost": "float64",
            "latency_s": "float64",
            "ttft_s": "float64",
            "chars_per_s": "float64",
        }
    )


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="compare", unit="call")


def compare(prompts: Any, models: Sequence[str], **kwargs: Any) -> pd.DataFrame:
    """``acompare`` for code that cannot ``await``. In a notebook, prefer ``await acompare``.

    Inside a running event loop (a notebook cell) the comparison runs on a worker thread with
    a loop of its own, never ``asyncio.run()`` on the kernel's loop; an ``AsyncClient`` given
    is then replaced by a twin with the same settings, since its connections belong to the
    other loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(acompare(prompts, models, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="qolaba-compare") as pool:
        return pool.submit(asyncio.run, _acompare_on_own_loop(prompts, models, **kwargs)).result()


async def _acompare_on_own_loop(prompts: Any, models: Sequence[str], **kwargs: Any) -> pd.DataFrame:
    """``acompare`` on a new loop: a given ``AsyncClient`` belongs to another loop, so a twin
    with its settings does the work (and is closed here)."""
    client = kwargs.get("client")
    if not isinstance(client, AsyncClient):
        return await acompare(prompts, models, **kwargs)
    async with AsyncClient.twin(client) as twin:
        return await acompare(prompts, models, **{**kwargs, "client": twin})


def estimate(
    prompts: Any,
    models: Sequence[str],
    *,
    ledger: UsageLedger | None = None,
    repeats: int = 1,
) -> pd.DataFrame:
    """The expected credit and cost of a comparison, from the ledger's history per model.

    One row per model: how many past successful calls the figure rests on (``calls``), the
    mean credit and cost per call and per reply character, and the expected totals for this
    comparison (``len(prompts) * repeats`` calls). A model without history says so in
    ``note`` and has NaN figures. ``frame.attrs`` holds ``total_credit`` and ``total_cost``
    over the models that have history.
    """
    import pandas as pd

    from .ledger import default_ledger

    if isinstance(models, str):
        models = [models]
    n_calls = len(_prompt_list(prompts)) * repeats
    history = (ledger if ledger is not None else default_ledger()).to_dataframe()
    rows = []
    for model in models:
        past = history[(history["model"] == model) & (history["status"] == "ok")]
        past = past[past["credit"].notna()]
        calls = len(past)
        row: dict[str, Any] = {"model": model, "calls": calls}
        if calls:
            chars = past["completion_chars"].astype("float64").sum()
            row["credit_per_call"] = float(past["credit"].mean())
            row["cost_per_call"] = float(past["cost"].mean())
            row["credit_per_char"] = float(past["credit"].sum() / chars) if chars else math.nan
            row["cost_per_char"] = float(past["cost"].sum() / chars) if chars else math.nan
            row["expected_credit"] = row["credit_per_call"] * n_calls
            row["expected_cost"] = row["cost_per_call"] * n_calls
            row["note"] = f"from {calls} past call{'s' if calls != 1 else ''}"
        else:
            row["note"] = "unknown: no successful call to this model in the ledger"
        rows.append(row)
    columns = [
        "model",
        "calls",
        "credit_per_call",
        "cost_per_call",
        "credit_per_char",
        "cost_per_char",
        "expected_credit",
        "expected_cost",
        "note",
    ]
    frame = pd.DataFrame(rows, columns=columns).set_index("model")
    frame.attrs["calls_planned"] = n_calls
    frame.attrs["total_credit"] = float(frame["expected_credit"].sum(min_count=1))
    frame.attrs["total_cost"] = float(frame["expected_cost"].sum(min_count=1))
    return frame
