"""The PostgreSQL backend: one ledger (and its budgets) shared by a team, with psycopg 3.

``UsageLedger("postgresql://user:password@host:5432/dbname")`` (or ``$QOLABA_NB_LEDGER`` set to
such a URL) stores the same tables as the SQLite file, created by the same migrations and read
by the same queries: every PostgreSQL-specific rule is in this module.

* Placeholders are ``%s``; ids are ``BIGSERIAL``; floats are ``DOUBLE PRECISION`` (PostgreSQL's
  ``REAL`` has only 4 bytes); ``ts`` stays ISO-8601 text, so DataFrames come out the same.
* Every write transaction that checks or changes budgets (and every migration) first takes one
  transaction-scoped advisory lock of the ledger database, ``pg_advisory_xact_lock``: the
  check-and-reserve of a hold is atomic across processes and machines, like SQLite's
  ``BEGIN IMMEDIATE``. The lock ends with the transaction, also when its process dies.
* One connection per ledger object, in autocommit mode (transactions are explicit), shared by its
  threads behind the ledger's lock. A forked child opens its own and detaches the inherited one
  without telling the server, which would end the parent's session.
* The URL (with its password) comes and stays in a :class:`~qolaba_nb._config.Secret`: never
  in ``repr``, in :attr:`PostgresBackend.target`, in the errors this module raises, nor in a
  local variable of a frame those errors' tracebacks show.

psycopg is imported when a PostgreSQL ledger is opened, never by ``import qolaba_nb``.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

from .._config import PASSWORD_PARAM, Secret, mask_url, redact
from .backends import Dialect
from .errors import LedgerError

__all__ = ["POSTGRESQL", "PostgresBackend"]

#: The advisory lock every ledger write transaction takes: two int4 keys, the first naming
#: qolaba_nb (so that other applications' advisory locks in the same database do not collide),
#: the second the ledger's tables. Advisory locks are per database.
LOCK_KEYS: Final = (zlib.crc32(b"qolaba_nb") & 0x7FFF_FFFF, 1)

POSTGRESQL: Final = Dialect(
    name="postgresql",
    placeholder="%s",
    pk="BIGSERIAL PRIMARY KEY",
    real="DOUBLE PRECISION",
    begin_write="BEGIN",
    # float8 as text is the shortest exact form (PostgreSQL 12+); NULLs are skipped.
    float_list="string_agg({}::text, ',')",
    lock_budget=f"SELECT pg_advisory_xact_lock({LOCK_KEYS[0]}, {LOCK_KEYS[1]})",
)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as e:
        raise ImportError(
            "a PostgreSQL ledger needs psycopg 3: pip install 'qolaba_nb[postgres]' "
            "(or pip install 'psycopg[binary]')"
        ) from e
    return psycopg


class PostgresBackend:
    """A PostgreSQL database named by a ``postgresql://`` URL.

    Parameters
    ----------
    url
        ``postgresql://user:password@host:port/dbname?sslmode=...`` (in a ``Secret``): anything
        libpq accepts in a URL. The database must exist; the ledger creates its tables in it.
        Without a password in the URL, libpq's usual sources apply (``~/.pgpass``,
        ``$PGPASSWORD``).
    connect_timeout
        Seconds to wait for the server when opening a connection (unless the URL sets it).
    """

    dialect: Dialect = POSTGRESQL

    def __init__(self, url: Secret, *, connect_timeout: float = 10) -> None:
        psycopg = _psycopg()
        self.error: type[Exception] = psycopg.Error
        self._url = _lower_scheme(url)
        self._secrets = _secrets_of(url)
        self.target = mask_url(url.get())
        self.connect_timeout = connect_timeout
        # Defaults for what the URL does not say (keyword arguments would override the URL).
        defaults = {"application_name": "qolaba_nb", "connect_timeout": connect_timeout}
        given = self._keywords(psycopg)
        self._params = {k: v for k, v in defaults.items() if k not in given}

    def __repr__(self) -> str:
        return f"PostgresBackend({self.target!r})"

    def _clean(self, exc: BaseException) -> str:
        text = str(exc)
        for secret in self._secrets:
            text = redact(text, secret)
        return text

    # The errors below are raised after their ``except`` block, not inside it: psycopg's
    # exception would stay attached as ``__context__`` (``from None`` only hides it), and its
    # traceback's frames hold the URL in their locals.

    def _keywords(self, psycopg: Any) -> frozenset[str]:
        """The connection keywords the URL sets (their values stay inside this call)."""
        problem = ""
        try:
            return frozenset(psycopg.conninfo.conninfo_to_dict(self._url.get()))
        except psycopg.Error as e:
            problem = self._clean(e)
        raise ValueError(f"not a valid PostgreSQL URL ({self.target}): {problem}")

    def connect(self) -> Any:
        """A new autocommit ``psycopg.Connection``; errors name the server, never the password."""
        psycopg = _psycopg()
        problem = ""
        try:
            return psycopg.connect(self._url.get(), autocommit=True, **self._params)
        except psycopg.Error as e:
            problem = self._clean(e)
        raise LedgerError(
            f"cannot open the usage ledger {self.target}: {problem}", path=self.target
        )

    def is_missing_table(self, exc: Exception) -> bool:
        return isinstance(exc, _psycopg().errors.UndefinedTable)

    def is_broken(self, conn: Any) -> bool:
        """Whether ``conn`` was lost (server restart, network cut): open a new one then."""
        return bool(conn.closed)

    def is_busy(self, exc: Exception) -> bool:
        """A lock wait longer than :meth:`set_wait` allowed (``lock_timeout``, 55P03)."""
        return isinstance(exc, _psycopg().errors.LockNotAvailable)

    def set_wait(self, conn: Any, seconds: float) -> None:
        # lock_timeout bounds every lock wait, the advisory lock included; 0 would mean
        # "wait forever" in PostgreSQL, so "do not wait" is 1 ms.
        conn.execute(f"SET lock_timeout = {max(int(seconds * 1000), 1)}")

    def spool_dir(self) -> Path | None:
        # No file to put a spool beside: rows waiting for the lock stay in memory.
        return None

    def abandon(self, conn: Any) -> None:
        """Forget a connection inherited from the parent process, leaving its session alone.

        Closing it normally would send the server a Terminate message on the socket the parent
        still uses. The child's copy of that socket is pointed at /dev/null first, so the close
        (here, or whenever it would be garbage-collected) reaches only the child's own copy.
        """
        with contextlib.suppress(Exception):
            fd = conn.fileno()
            devnull = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(devnull, fd)
            finally:
                os.close(devnull)
            conn.close()


def _lower_scheme(url: Secret) -> Secret:
    """``url`` with its scheme in lower case: schemes are case-insensitive, libpq's are not."""
    scheme, sep, rest = url.get().partition("://")
    return Secret(scheme.lower() + sep + rest)


def _secrets_of(url: Secret) -> list[Secret]:
    """The URL and every password in it, as written and decoded: what errors must not show."""
    _scheme, _sep, rest = url.get().partition("://")
    userinfo, _at, rest = rest.rpartition("@")
    found = {url.get(), userinfo.partition(":")[2]}
    found |= {m.group(2) for m in PASSWORD_PARAM.finditer(rest.partition("?")[2])}
    found |= {unquote(s) for s in found}
    return [Secret(s) for s in found if s]
