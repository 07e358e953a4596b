"""Rows that could not be written yet: kept in order, on disk, and written later.

When another connection holds the write lock longer than ``UsageLedger(write_timeout_s=)``,
:meth:`~.core.UsageLedger.record` does not wait: the row (and the hold it settles) goes to
the spool, and a background thread writes the spool as soon as the lock is free. Until then
the row's hold keeps its credits reserved, so budgets stay safe.

Where it lives: the directory ``<ledger file>.spool/`` next to the ledger, one JSON-lines
file per process (``<host>-<pid>-<random>.jsonl``), deleted once written. A spool left by a
process that died (or by a ledger closed while the lock was still held) is taken over and
written by the next ledger opened on the same file on the same host. An in-memory ledger
spools in memory only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from .budgets import HOST, pid_alive

__all__ = ["Spool", "spool_dir"]

log = logging.getLogger("qolaba_nb.ledger")

Item = tuple[tuple[Any, ...], list[int | str]]  # (encoded row, hold ids it settles)


def spool_dir(path: str) -> Path:
    """The spool directory of the ledger file ``path``."""
    return Path(path + ".spool")


class Spool:
    """This process's pending rows, mirrored to a file so that a crash loses none.

    Parameters
    ----------
    directory
        Where the file goes; None keeps the rows in memory only.
    """

    #: The spool files of this process's open ledgers; any other file is an orphan once its
    #: process is gone, or, for this process's own files, once its ledger was closed.
    active: ClassVar[set[Path]] = set()

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.items: list[Item] = []
        self.file: Path | None = None
        if directory is not None:
            self.file = directory / f"{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            Spool.active.add(self.file)

    def abandon(self) -> None:
        """The ledger is closed: what is left here may be taken over by the next ledger."""
        if self.file is not None:
            Spool.active.discard(self.file)

    def __len__(self) -> int:
        return len(self.items)

    def add(self, items: Sequence[Item]) -> None:
        """Keep ``items`` (after those already waiting), on disk before this returns."""
        with self.lock:
            self.items.extend(items)
            if self.file is not None:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                with open(self.file, "a", encoding="utf-8") as f:
                    for row, holds in items:
                        f.write(json.dumps([list(row), holds]) + "\n")
                    f.flush()
                    os.fsync(f.fileno())

    def pending(self) -> list[Item]:
        """A copy of the waiting items, oldest first."""
        with self.lock:
            return list(self.items)

    def written(self, n: int) -> None:
        """The first ``n`` items are in the database: forget them (and the file when empty)."""
        with self.lock:
            del self.items[:n]
            if self.file is None:
                return
            if not self.items:
                self.file.unlink(missing_ok=True)
                return
            tmp = self.file.with_suffix(".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                for row, holds in self.items:
                    f.write(json.dumps([list(row), holds]) + "\n")
            os.replace(tmp, self.file)

    def adopt_orphans(self) -> int:
        """Take over the spool files of dead processes of this host; return how many rows."""
        if self.directory is None or not self.directory.is_dir():
            return 0
        adopted: list[Item] = []
        claimed: list[Path] = []
        for f in sorted(self.directory.glob("*.jsonl")):
            host, _, rest = f.name.rpartition(".jsonl")[0].rpartition("-")[0].rpartition("-")
            try:
                pid = int(rest)
            except ValueError:
                continue
            if host != HOST or f in Spool.active:
                continue
            if pid != os.getpid() and pid_alive(pid):
                continue
            mine = f.with_name(f"{f.name}.claimed-{os.getpid()}")
            try:
                os.rename(f, mine)  # only one process wins the rename
            except OSError:
                continue
            for line in mine.read_text(encoding="utf-8").splitlines():
                try:
                    row, holds = json.loads(line)
                except ValueError:  # a line cut by the crash: it was never acknowledged
                    log.warning("skipping a damaged line of the ledger spool %s", f)
                    continue
                adopted.append((tuple(row), list(holds)))
            claimed.append(mine)
        if adopted:
            self.add(adopted)
        for mine in claimed:
            mine.unlink(missing_ok=True)
        return len(adopted)
