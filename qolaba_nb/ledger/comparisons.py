"""What a comparison keeps in the ledger: votes, and every finished cell of a run.

Two tables, made by :func:`m003_votes_and_cells` and :func:`m004_cell_credit_source`, in SQL
that SQLite and PostgreSQL both read (types from the dialect, ``?`` placeholders translated,
``ON CONFLICT ... DO UPDATE``):

- ``votes``: one row per vote on one prompt's replies: run id, prompt, the models in the order
  shown, the labels shown in their place, the choice, the ranking (best first), the models
  that could be chosen, blind or not, time, session and tag. JSON lists are stored as text.
- ``cells``: one row per finished cell of a comparison run, keyed by ``(run_id, cell)`` (the
  cell's position in prompts x models x repeats), with its text: what ``compare(...,
  resume=run_id)`` needs to send only the cells a run has not finished, and the judge's score.
  A ledger made with ``store_text=False`` keeps no text: a cell's (and a vote's) prompt is a
  fingerprint (:func:`prompt_fingerprint`) and a cell's reply NULL, so resuming sends the
  cell again.

:class:`ComparisonStore` gives ``UsageLedger`` the methods that read and write them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .._config import Secret, redact
from .._record import SESSION_ID
from ..comparison import COLUMNS as FRAME_COLUMNS
from .migrations import Schema
from .queries import since_to_datetime
from .records import utc_iso

if TYPE_CHECKING:
    import pandas as pd

    from .._votes import Vote

__all__ = [
    "CELL_COLUMNS",
    "VOTE_COLUMNS",
    "ComparisonStore",
    "m003_votes_and_cells",
    "m004_cell_credit_source",
    "prompt_fingerprint",
]

#: The columns of ``ledger.votes()``.
VOTE_COLUMNS: Final = (
    "id",
    "ts",
    "run_id",
    "prompt",
    "models",
    "labels",
    "choice",
    "ranking",
    "eligible",
    "blind",
    "session",
    "tag",
)

#: A cell's columns in the ``cells`` table: the comparison frame's (``comparison.COLUMNS``), in
#: its order, with ``repeat`` stored as ``repeat_no``.
CELL_COLUMNS: Final = tuple("repeat_no" if c == "repeat" else c for c in FRAME_COLUMNS)


def m003_votes_and_cells(db: Schema) -> None:
    """The ``votes`` and ``cells`` tables of comparisons."""
    d = db.dialect
    db.execute(
        f"""
        CREATE TABLE votes (
            id        {d.pk},
            ts        TEXT    NOT NULL,
            run_id    TEXT    NOT NULL,
            prompt    TEXT    NOT NULL,
            models    TEXT    NOT NULL,  -- JSON list, in the order shown
            labels    TEXT    NOT NULL,  -- JSON list, what was shown in their place
            choice    TEXT    NOT NULL,  -- better | rank | tie | both bad
            ranking   TEXT    NOT NULL,  -- JSON list of models, best first
            eligible  TEXT    NOT NULL,  -- JSON list: the models whose reply did not fail
            blind     INTEGER NOT NULL,
            session   TEXT    NOT NULL,
            tag       TEXT
        )
        """
    )
    db.execute("CREATE INDEX ix_votes_run_id ON votes (run_id)")
    db.execute(
        f"""
        CREATE TABLE cells (
            run_id        TEXT    NOT NULL,
            cell          INTEGER NOT NULL,  -- position in prompts x models x repeats
            ts            TEXT    NOT NULL,
            prompt        TEXT    NOT NULL,
            model         TEXT    NOT NULL,
            repeat_no     INTEGER NOT NULL,
            text          TEXT,
            credit        {d.real},
            cost          {d.real},
            latency_s     {d.real},
            ttft_s        {d.real},
            chars_per_s   {d.real},
            finish_reason TEXT,
            status        TEXT    NOT NULL,
            error         TEXT,
            judge_score   {d.real},
            judge_model   TEXT,
            session       TEXT    NOT NULL,
            tag           TEXT,
            PRIMARY KEY (run_id, cell)
        )
        """
    )


def m004_cell_credit_source(db: Schema) -> None:
    """``cells.credit_source``: where a cell's credit came from, as ``calls.credit_source``
    (``reported``, ``estimated``, or NULL when nothing is known)."""
    db.execute("ALTER TABLE cells ADD COLUMN credit_source TEXT")
    db.execute("UPDATE cells SET credit_source = 'reported' WHERE credit IS NOT NULL")


_STORED: Final = tuple(c for c in CELL_COLUMNS if c != "run_id")  # what save_cell writes
_SAVE_CELL: Final = (
    "INSERT INTO cells (run_id, cell, ts, session, tag, "
    + ", ".join(_STORED)
    + ") VALUES ("
    + ", ".join("?" * (5 + len(_STORED)))
    + ") ON CONFLICT (run_id, cell) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ("ts", *CELL_COLUMNS) if c != "run_id")
)


def prompt_fingerprint(prompt: str) -> str:
    """What a cell keeps in place of its prompt when the ledger keeps no text."""
    return "sha256:" + hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def kept_prompt(prompt: str, secret: Secret | None) -> str:
    """What a cell or a vote keeps of its prompt: the prompt, or its fingerprint when it holds
    the API key (masking it would keep ``resume=`` from matching the prompt again)."""
    return prompt if redact(prompt, secret) == prompt else prompt_fingerprint(prompt)


def _json_list(text: str) -> list[Any]:
    value = json.loads(text)
    return value if isinstance(value, list) else []


class ComparisonStore:
    """Votes and comparison cells; mixed into ``UsageLedger`` (its lock and connection)."""

    _lock: Any
    _dialect: Any
    store_text: bool | None

    def _connection(self) -> Any:  # pragma: no cover - UsageLedger's
        raise NotImplementedError

    def _after_fork_lock(self) -> None:  # pragma: no cover - UsageLedger's
        raise NotImplementedError

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run one statement that returns no rows (autocommit: committed on return)."""
        self._after_fork_lock()
        with self._lock:
            self._connection().execute(self._dialect.sql(sql), tuple(args))

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of one ``SELECT``."""
        self._after_fork_lock()
        with self._lock:
            return list(self._connection().execute(self._dialect.sql(sql), tuple(args)).fetchall())

    # ---- votes -----------------------------------------------------------------------------

    def record_vote(self, vote: Vote) -> None:
        """Store one vote (committed before this returns). A ledger made with
        ``store_text=False`` keeps the fingerprint of the prompt (``prompt_fingerprint``).

        Parameters
        ----------
        vote : qolaba_nb._votes.Vote
            What ``ComparePanel.vote`` returns.
        """
        self._execute(
            "INSERT INTO votes (ts, run_id, prompt, models, labels, choice, ranking, eligible,"
            " blind, session, tag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                utc_iso(vote.ts),
                vote.run_id,
                prompt_fingerprint(vote.prompt) if self.store_text is False else vote.prompt,
                json.dumps(list(vote.models)),
                json.dumps(list(vote.labels)),
                vote.choice,
                json.dumps(list(vote.ranking)),
                json.dumps(list(vote.eligible or vote.models)),
                int(vote.blind),
                vote.session or SESSION_ID,
                vote.tag,
            ),
        )

    def votes(
        self,
        *,
        run_id: str | Sequence[str] | None = None,
        tag: str | None = None,
        since: datetime | timedelta | str | None = None,
    ) -> pd.DataFrame:
        """The stored votes as a DataFrame, oldest first.

        Parameters
        ----------
        run_id : str, sequence of str or None, optional
            Only the votes on these runs.
        tag : str or None, optional
            Only the votes with this tag.
        since : datetime, timedelta, str or None, optional
            Only the votes cast at or after this moment (as ``to_dataframe(since=)``).

        Returns
        -------
        pandas.DataFrame
            The columns of ``VOTE_COLUMNS``: ``models``, ``labels``, ``ranking`` and
            ``eligible`` hold lists, ``blind`` is bool and ``ts`` is ``datetime64[ns, UTC]``.
        """
        import pandas as pd

        clauses, args = _filters(run_id, tag, since)
        rows = self._query(
            f"SELECT {', '.join(VOTE_COLUMNS)} FROM votes{clauses} ORDER BY id", args
        )
        df = pd.DataFrame(rows, columns=list(VOTE_COLUMNS))
        for column in ("models", "labels", "ranking", "eligible"):
            df[column] = [_json_list(v) for v in df[column]]
        df["blind"] = df["blind"].astype(bool)
        df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601").astype(
            "datetime64[ns, UTC]"
        )
        return df

    # ---- cells -----------------------------------------------------------------------------

    def save_cell(
        self, run_id: str, cell: int, values: Sequence[Any], *, tag: str | None = None
    ) -> None:
        """Keep one finished cell of a comparison run (replacing an earlier one).

        Parameters
        ----------
        run_id : str
            The run's id.
        cell : int
            The cell's position in prompts x models x repeats.
        values : sequence
            The cell's row, in ``qolaba_nb.comparison.COLUMNS`` order.
        tag : str or None, optional
            The run's tag.
        """
        row = [v for c, v in zip(CELL_COLUMNS, values, strict=True) if c != "run_id"]
        if self.store_text is False:  # asked for no text: the prompt's fingerprint, no reply
            row[_STORED.index("prompt")] = prompt_fingerprint(str(row[_STORED.index("prompt")]))
            row[_STORED.index("text")] = None
        self._execute(_SAVE_CELL, (run_id, cell, utc_iso(datetime.now(UTC)), SESSION_ID, tag, *row))

    def finished_cells(self, run_id: str) -> dict[int, tuple[Any, ...]]:
        """The cells of ``run_id`` that finished with status "ok": position -> row.

        A cell kept without text (``store_text=False``) has the fingerprint of its prompt in
        place of the prompt, and None for its reply."""
        rows = self._query(
            f"SELECT cell, {', '.join(CELL_COLUMNS)} FROM cells"
            " WHERE run_id = ? AND status = 'ok' ORDER BY cell",
            (run_id,),
        )
        return {int(r[0]): tuple(r[1:]) for r in rows}

    def cells(
        self,
        *,
        run_id: str | Sequence[str] | None = None,
        tag: str | None = None,
        since: datetime | timedelta | str | None = None,
    ) -> pd.DataFrame:
        """The kept comparison cells as a DataFrame (the comparison frame's columns, plus
        ``cell``, ``ts``, ``judge_score`` and ``judge_model``)."""
        import pandas as pd

        clauses, args = _filters(run_id, tag, since)
        names = ["cell", "ts", *CELL_COLUMNS, "judge_score", "judge_model", "tag"]
        rows = self._query(f"SELECT {', '.join(names)} FROM cells{clauses} ORDER BY ts, cell", args)
        df = pd.DataFrame(rows, columns=names).rename(columns={"repeat_no": "repeat"})
        for column in ("credit", "cost", "latency_s", "ttft_s", "chars_per_s", "judge_score"):
            df[column] = pd.to_numeric(df[column], errors="coerce").astype("float64")
        df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601").astype(
            "datetime64[ns, UTC]"
        )
        return df

    def save_judgements(
        self, run_id: str, scores: Sequence[tuple[str, str, int, float | None]], *, model: str
    ) -> int:
        """Attach judge scores to kept cells: ``(prompt, model, repeat, score)`` each.

        Returns
        -------
        int
            How many cells got a score.
        """
        done = 0
        for prompt, cell_model, repeat, score in scores:
            self._execute(
                "UPDATE cells SET judge_score = ?, judge_model = ? WHERE run_id = ?"
                " AND prompt IN (?, ?) AND model = ? AND repeat_no = ?",
                (score, model, run_id, prompt, prompt_fingerprint(prompt), cell_model, repeat),
            )
            done += 1
        return done


def _filters(
    run_id: str | Sequence[str] | None, tag: str | None, since: datetime | timedelta | str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if run_id is not None:
        ids = [run_id] if isinstance(run_id, str) else list(run_id)
        clauses.append(f"run_id IN ({', '.join('?' * len(ids))})")
        args.extend(ids)
    if tag is not None:
        clauses.append("tag = ?")
        args.append(tag)
    if since is not None:
        clauses.append("ts >= ?")
        args.append(utc_iso(since_to_datetime(since)))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args
