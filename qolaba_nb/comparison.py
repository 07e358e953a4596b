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
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar, Unpack

from ._client import AsyncChatStream, AsyncClient, Client
from ._exceptions import QolabaError, RateLimitError
from ._models import content_text, normalize_messages
from ._money import credit_number, format_credits
from ._record import CallRecord, status_of
from ._types import Prompts, SamplingParams

if TYPE_CHECKING:
    import pandas as pd

    from .ledger import UsageLedger
    from .ledger.comparisons import ComparisonStore

__all__ = ["COLUMNS", "AdaptiveLimit", "CompareCell", "acompare", "compare", "estimate"]

_T = TypeVar("_T")

COLUMNS = [
    "prompt",
    "model",
    "repeat",
    "text",
    "credit",
    "credit_source",
    "cost",
    "latency_s",
    "ttft_s",
    "chars_per_s",
    "finish_reason",
    "status",
    "error",
    "run_id",
]
# Where a row (a tuple in COLUMNS order) keeps what a resume checks and the tally sums.
_PROMPT, _MODEL, _TEXT, _CREDIT = (COLUMNS.index(c) for c in ("prompt", "model", "text", "credit"))


def _with_prompt(row: tuple[Any, ...], prompt: str) -> tuple[Any, ...]:
    return (*row[:_PROMPT], prompt, *row[_PROMPT + 1 :])


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
    credit_source: str | None = None  # "reported", "estimated" (stopped or cut), None: unknown
    cost: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    chars_per_s: float | None = None
    finish_reason: str | None = None
    status: str = "pending"
    error: str | None = None
    done: bool = False
    # The exception of a failed call, while the cell lives: a panel describes it as the
    # ChatPanel would (describe_error). The row keeps only the ``error`` string.
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}

    def values(self) -> tuple[Any, ...]:
        """The cell's row: its values in ``COLUMNS`` order."""
        return tuple(getattr(self, name) for name in COLUMNS)


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


def check_stop_is_not_an_event(params: Mapping[str, Any], hint: str) -> None:
    """``stop=`` is the stop sequences of the request, as in ``chat()``: an ``asyncio.Event``
    there (what ``stop=`` used to be in a comparison) gets a ``TypeError`` saying what to do."""
    if isinstance(params.get("stop"), asyncio.Event):
        raise TypeError(
            "stop= is the request's stop sequences (a string or a list of strings), not the "
            f"run's Stop event: {hint}"
        )


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
    params: SamplingParams,
    tag: str | None,
    notify: Callable[[CompareCell], None],
) -> None:
    async with limit:
        stream: AsyncChatStream | None = None
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
        except asyncio.CancelledError:  # stopped: what arrived is kept, masked
            cell.text = await _cut_text(stream)
            raise
        except QolabaError as err:
            if isinstance(err, RateLimitError):  # the client has already retried it
                limit.rate_limited()
            cell.status, cell.error = status_of(err), f"{type(err).__name__}: {err}"
            cell.exception = err
            cell.text = getattr(err, "partial_text", None) or ""
        else:
            limit.succeeded()
            cell.text, cell.finish_reason, cell.status = reply.text, reply.finish_reason, "ok"
            cell.latency_s, cell.ttft_s = reply.latency_s, reply.ttft_s
            if reply.latency_s and reply.ttft_s is not None and reply.latency_s > reply.ttft_s:
                cell.chars_per_s = len(reply.text) / (reply.latency_s - reply.ttft_s)
        finally:  # also when the run is stopped: a cut reply may have been charged
            if stream is not None:
                _charge(cell, stream.call_record)
    cell.delta, cell.done = "", True
    notify(cell)


async def _cut_text(stream: AsyncChatStream | None) -> str:
    """The text of a stream stopped mid-way, from its completion: the live ``stream.text``
    is the reply as it came, where a key the reply echoed is not masked yet."""
    if stream is None:
        return ""
    try:
        await stream.aclose()  # the call is recorded as cancelled, with what arrived
        return (await stream.completion()).text
    except QolabaError as err:  # already masked (redact_error)
        return getattr(err, "partial_text", None) or ""


def _charge(cell: CompareCell, record: CallRecord | None) -> None:
    """The cell's credit and cost as the ledger has them: the server's, or the client's
    estimate for a reply the server did not price (stopped, cut), marked "estimated"."""
    if record is not None:
        cell.credit, cell.credit_source, cell.cost = (
            record.credit,
            record.credit_source,
            record.cost,
        )


async def acompare(
    prompts: Prompts,
    models: Sequence[str],
    *,
    client: Client | AsyncClient | None = None,
    repeats: int = 1,
    concurrency: int = 4,
    tag: str | None = None,
    run_id: str | None = None,
    resume: str | None = None,
    progress: bool = True,
    on_update: Callable[[CompareCell], None] | None = None,
    cancel: asyncio.Event | None = None,
    judge: str | Mapping[str, Any] | None = None,
    **params: Unpack[SamplingParams],
) -> pd.DataFrame:
    """Run every prompt on every model (``repeats`` times each), streamed, concurrently.

    Returns one row per (prompt, model, repeat) with the columns in ``COLUMNS``, in the order
    prompts x models x repeats. Every finished cell (its text included) is kept in the client's
    ledger under the run id, so an interrupted run can be finished with ``resume=``.

    Parameters
    ----------
    prompts : str, list of str or message lists, or a pandas Series
        The prompts; one conversation may be given as a list of message dicts.
    models : sequence of str
        Model ids, each sent every prompt.
    client : Client, AsyncClient or None, default None
        The client (a ``Client`` is twinned: same settings, ledger and budget); None: one
        from the environment (``QOLABA_API_KEY``, ``QOLABA_BASE_URL``).
    repeats : int, default 1
        How many times each (prompt, model) is sent.
    concurrency : int, default 4
        At most this many requests in flight (halved on a rate limit, grown back after).
    tag : str or None, default None
        Ledger tag of every call.
    run_id : str or None, default None
        Id of the run, shared by every call; None: a new ``run-...`` id.
    resume : str or None, default None
        The id of an earlier run of the same prompts and models: only the cells it has not
        finished with status "ok" are sent; the others come from the ledger. The frame is the
        one an uninterrupted run would have given. A ledger made with ``store_text=False``
        keeps no reply text, so its finished cells cannot come back from it: they are sent
        (and paid for) again, with a ``RuntimeWarning`` saying how many.
    progress : bool, default True
        A progress bar with the running credit total and the estimate of what is left.
    on_update : callable or None, default None
        Called with a ``CompareCell`` on every text delta and once when the cell is done.
    cancel : asyncio.Event or None, default None
        Set it to stop the run: cells in flight are cut (their partial text kept), cells not
        sent yet are not sent; both become rows with status "cancelled".
    judge : str, mapping or None, default None
        Score the replies when the run is done: a judge model id, or the keywords of
        ``qolaba_nb.ajudge`` (``{"model": ..., "rubric": ..., "mode": "pairwise"}``).
    **params : Unpack[SamplingParams]
        The request fields sent with every call, as for ``chat()``: ``temperature``,
        ``max_tokens``, ``top_p``, ``frequency_penalty``, ``presence_penalty``, ``stop``
        (stop sequences), ``tools``, ``tool_choice``, ``stream_options``, ``extra_body``.
        Checked before anything is sent (a misspelt name gets a "did you mean" hint).

    Returns
    -------
    pandas.DataFrame
        One row per cell, with ``credit`` (credits), ``cost`` (USD), ``latency_s`` and
        ``ttft_s`` (seconds), ``chars_per_s``, ``status`` and ``error``; ``frame.attrs``
        holds ``run_id`` and ``total_credit``.

    Raises
    ------
    ValueError
        No prompts or no models, ``repeats`` below 1, or two different run ids.
    TypeError
        An ``asyncio.Event`` given as ``stop=`` (the Stop event is ``cancel=``).
    ValidationError
        A bad prompt; nothing was sent. A bad request field (``temperature=5``) raises
        nothing: every cell it spoils is a row with status ``api_error`` and the reason in
        ``error``, unsent, so one model's refusal never costs the others' rows.

    Examples
    --------
    >>> df = await acompare(["Name three rivers."], ["openai/gpt-4o", "sim/echo"])  # doctest: +SKIP
    >>> df.groupby("model")["credit"].sum()  # doctest: +SKIP
    """
    import pandas as pd

    check_stop_is_not_an_event(params, "give it as cancel= (set it to stop the run)")
    if isinstance(models, str):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError("no models given")
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    if resume is not None and run_id is not None and run_id != resume:
        raise ValueError("give run_id or resume, not two different ids")
    conversations = _prompt_list(prompts)
    labels = [_label(m) for m in conversations]
    run_id = resume or run_id or f"run-{uuid.uuid4().hex[:12]}"
    per_prompt = len(models) * repeats
    total = len(conversations) * per_prompt
    own = client is None or isinstance(client, Client)
    aclient = AsyncClient.twin(client) if own else client
    assert isinstance(aclient, AsyncClient)
    store = _cell_store(aclient)
    from .ledger.comparisons import kept_prompt, prompt_fingerprint

    # One row (a tuple of COLUMNS) per cell, nothing else kept per cell: the CompareCell of a
    # cell lives only while it runs.
    rows: list[tuple[Any, ...] | None] = [None] * total
    if resume is not None:
        if store is None:
            raise ValueError("resume= needs a client with a UsageLedger")
        textless = 0
        for index, row in store.finished_cells(run_id).items():
            label = labels[index // per_prompt] if index < total else None
            if label is None or row[_PROMPT] not in (label, prompt_fingerprint(label)):
                raise ValueError(
                    f"run {run_id!r} does not match these prompts and models (cell {index})"
                )
            if row[_MODEL] != models[index // repeats % len(models)]:
                raise ValueError(f"run {run_id!r} does not match these models (cell {index})")
            row = _with_prompt(row, label)  # the prompt, where the ledger kept its fingerprint
            if row[_TEXT] is None:  # kept without its reply (store_text=False): sent again
                textless += 1
            else:
                rows[index] = row
        if textless:
            warnings.warn(
                f"{textless} finished cell(s) of run {run_id!r} were kept without their reply "
                "(the ledger has store_text=False), so they are sent again.",
                RuntimeWarning,
                stacklevel=2,
            )
    todo = [i for i, row in enumerate(rows) if row is None]
    tally = _Tally(
        len(todo), [r[_CREDIT] for r in rows if r is not None and r[_CREDIT] is not None]
    )
    bar = _progress_bar(total, total - len(todo)) if progress else None

    def notify(cell: CompareCell) -> None:
        if cell.done:
            tally.add(cell.credit)
            if bar is not None:
                bar.set_postfix_str(tally.text(), refresh=False)
                bar.update(1)
        if on_update is not None:
            on_update(cell)

    limit = AdaptiveLimit(concurrency)
    pending = iter(todo)
    stopped = cancel if cancel is not None else asyncio.Event()

    async def worker() -> None:
        for index in pending:
            p, rest = divmod(index, per_prompt)
            cell = CompareCell(
                p, labels[p], conversations[p], models[rest // repeats], rest % repeats, run_id
            )
            if stopped.is_set():
                cell.status, cell.error = "cancelled", "stopped before it was sent"
            else:
                try:
                    await _run_cell(aclient, cell, limit, params, tag, notify)
                except asyncio.CancelledError:
                    if not stopped.is_set():
                        raise
                    cell.status, cell.error = "cancelled", "stopped"
                    cell.delta, cell.done = "", True
                    notify(cell)
            rows[index] = row = cell.values()
            if store is not None and cell.status == "ok":
                keep(index, row)

    unkept = 0

    def keep(index: int, row: tuple[Any, ...]) -> None:
        """Keep a finished cell for ``resume=``; a ledger that fails loses no row of the run."""
        nonlocal unkept
        assert store is not None
        row = _with_prompt(row, kept_prompt(str(row[_PROMPT]), aclient._api_key))
        try:
            store.save_cell(run_id, index, row, tag=tag)
        except Exception as err:
            unkept += 1
            if unkept == 1:
                warnings.warn(
                    f"Cells of run {run_id!r} are not kept in the ledger "
                    f"({type(err).__name__}: {err}): the frame has them, but resume= would "
                    "send them again.",
                    RuntimeWarning,
                    stacklevel=2,
                )

    async def watch_stop(tasks: list[asyncio.Task[None]]) -> None:
        await stopped.wait()
        for task in tasks:
            task.cancel()

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(todo)))]
    watcher = asyncio.ensure_future(watch_stop(workers))
    try:
        # A worker stopped mid-cell goes on through the cells left, marking them not sent.
        await asyncio.gather(*workers)
    finally:
        watcher.cancel()
        for task in workers:
            task.cancel()
        if bar is not None:
            bar.close()
        if own and judge is None:
            await aclient.aclose()
    frame = pd.DataFrame(rows, columns=COLUMNS).astype(_FLOATS)
    frame.attrs["run_id"] = run_id
    frame.attrs["total_credit"] = float(frame["credit"].sum())
    if judge is not None:
        from ._judge import ajudge

        spec = {"model": judge} if isinstance(judge, str) else dict(judge)
        try:
            frame = await ajudge(frame, client=aclient, tag=spec.pop("tag", None) or tag, **spec)
        finally:
            if own:
                await aclient.aclose()
    return frame


_FLOATS: Final = {
    "credit": "float64",
    "cost": "float64",
    "latency_s": "float64",
    "ttft_s": "float64",
    "chars_per_s": "float64",
}


class _Tally:
    """Running credit total of a run, and the estimate of what is left (mean so far x left)."""

    def __init__(self, left: int, known: list[float]) -> None:
        self.left = left
        self.spent = 0.0
        self.priced = 0
        self.earlier = sum(known)

    def add(self, credit: float | None) -> None:
        self.left -= 1
        if credit is not None:
            self.spent += credit
            self.priced += 1

    def text(self) -> str:
        spent = self.earlier + self.spent
        if not self.priced:
            return format_credits(spent)
        return (
            f"{format_credits(spent)}, ~{credit_number(self.spent / self.priced * self.left)} left"
        )


def _cell_store(client: AsyncClient) -> ComparisonStore | None:
    """Where finished cells are kept: the client's UsageLedger (None for another ledger)."""
    from .ledger.comparisons import ComparisonStore

    ledger = client.ledger
    return ledger if isinstance(ledger, ComparisonStore) else None


def _progress_bar(total: int, done: int = 0) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="compare", unit="call")


def compare(
    prompts: Prompts,
    models: Sequence[str],
    *,
    client: Client | AsyncClient | None = None,
    repeats: int = 1,
    concurrency: int = 4,
    tag: str | None = None,
    run_id: str | None = None,
    resume: str | None = None,
    progress: bool = True,
    on_update: Callable[[CompareCell], None] | None = None,
    cancel: asyncio.Event | None = None,
    judge: str | Mapping[str, Any] | None = None,
    **params: Unpack[SamplingParams],
) -> pd.DataFrame:
    """Run every prompt on every model and wait for the frame: ``acompare`` without ``await``.

    In a notebook, prefer ``await acompare(...)``. Inside a running event loop (a notebook
    cell) the comparison runs on a worker thread with a loop of its own, never
    ``asyncio.run()`` on the kernel's loop; an ``AsyncClient`` given is then replaced by a
    twin with the same settings, since its connections belong to the other loop.

    Parameters
    ----------
    prompts : str, list of str or message lists, or a pandas Series
        The prompts; one conversation may be given as a list of message dicts.
    models : sequence of str
        Model ids, each sent every prompt.
    client : Client, AsyncClient or None, default None
        The client (a ``Client`` is twinned: same settings, ledger and budget); None: one
        from the environment (``QOLABA_API_KEY``, ``QOLABA_BASE_URL``).
    repeats : int, default 1
        How many times each (prompt, model) is sent.
    concurrency : int, default 4
        At most this many requests in flight (halved on a rate limit, grown back after).
    tag : str or None, default None
        Ledger tag of every call.
    run_id : str or None, default None
        Id of the run, shared by every call; None: a new ``run-...`` id.
    resume : str or None, default None
        The id of an earlier run of the same prompts and models: only the cells it has not
        finished with status "ok" are sent; the others come from the ledger. The frame is the
        one an uninterrupted run would have given.
    progress : bool, default True
        A progress bar with the running credit total and the estimate of what is left.
    on_update : callable or None, default None
        Called with a ``CompareCell`` on every text delta and once when the cell is done.
    cancel : asyncio.Event or None, default None
        Set it to stop the run: cells in flight are cut (their partial text kept), cells not
        sent yet are not sent; both become rows with status "cancelled".
    judge : str, mapping or None, default None
        Score the replies when the run is done: a judge model id, or the keywords of
        ``qolaba_nb.ajudge`` (``{"model": ..., "rubric": ..., "mode": "pairwise"}``).
    **params : Unpack[SamplingParams]
        The request fields sent with every call, as for ``chat()``: ``temperature``,
        ``max_tokens``, ``top_p``, ``frequency_penalty``, ``presence_penalty``, ``stop``
        (stop sequences), ``tools``, ``tool_choice``, ``stream_options``, ``extra_body``.
        Checked before anything is sent (a misspelt name gets a "did you mean" hint).

    Returns
    -------
    pandas.DataFrame
        One row per (prompt, model, repeat), as ``acompare`` returns it.

    Examples
    --------
    >>> df = compare(["Name a river."], ["openai/gpt-4o", "sim/echo"], repeats=2)  # doctest: +SKIP
    >>> df[["model", "credit", "latency_s"]]  # doctest: +SKIP
    """
    return run_sync(
        acompare,
        prompts,
        models,
        client=client,
        repeats=repeats,
        concurrency=concurrency,
        tag=tag,
        run_id=run_id,
        resume=resume,
        progress=progress,
        on_update=on_update,
        cancel=cancel,
        judge=judge,
        **params,
    )


def run_sync(func: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
    """Run the coroutine function ``func`` to completion from plain code or a notebook cell."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_call(func, *args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="qolaba-compare") as pool:
        return pool.submit(asyncio.run, _on_own_loop(func, *args, **kwargs)).result()


async def _call(func: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
    return await func(*args, **kwargs)


async def _on_own_loop(func: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
    """``func`` on a new loop: a given ``AsyncClient`` belongs to another loop, so a twin
    with its settings does the work (and is closed here)."""
    client = kwargs.get("client")
    if not isinstance(client, AsyncClient):
        return await func(*args, **kwargs)
    async with AsyncClient.twin(client) as twin:
        return await func(*args, **{**kwargs, "client": twin})


def estimate(
    prompts: Prompts,
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
    over the models that have history. Nothing is sent.

    Parameters
    ----------
    prompts : str, list of str or message lists, or a pandas Series
        The prompts of the planned comparison (only their number counts).
    models : sequence of str
        The model ids of the planned comparison.
    ledger : UsageLedger or None, default None
        The ledger whose history the figures come from; None: the default ledger.
    repeats : int, default 1
        How many times each (prompt, model) would be sent.

    Returns
    -------
    pandas.DataFrame
        Indexed by model: ``calls``, ``credit_per_call`` and ``expected_credit`` (credits),
        ``cost_per_call`` and ``expected_cost`` (USD), ``credit_per_char``,
        ``cost_per_char`` and ``note``.

    Examples
    --------
    >>> plan = estimate(["Name a river."] * 10, ["openai/gpt-4o", "sim/echo"])  # doctest: +SKIP
    >>> plan.attrs["total_credit"]  # doctest: +SKIP
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
