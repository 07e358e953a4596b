"""The ledger's own error: a database that cannot be used, said plainly with the fix."""

from __future__ import annotations

from .._exceptions import QolabaError

__all__ = ["LedgerError"]


class LedgerError(QolabaError):
    """The ledger's database cannot be opened, is not a ledger, or is locked for too long.

    Attributes
    ----------
    path
        The file (or URL) concerned.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
