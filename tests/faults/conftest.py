"""The sync/async harness of tests/client, for the security tests."""

from __future__ import annotations

from tests.client.conftest import h, mode, no_backoff

__all__ = ["h", "mode", "no_backoff"]
