"""Fixtures every test folder may use: a real PostgreSQL server (tests/_postgres.py).

The server starts the first time a test asks for ``postgres_server`` or ``postgres_url`` and
stops at the end of the session; each test gets a fresh database, dropped afterwards. Tests that
use it are marked ``postgres`` automatically (``-m "not postgres"`` leaves them out).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests._postgres import PostgresServer, find_bindir

_PG_FIXTURES = frozenset({"postgres_server", "postgres_url", "postgres_db"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "run `make postgresql` (as root), or deselect these tests with -m 'not postgres'"
        )
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of a fresh, empty database for this test."""
    name = postgres_server.create_database()
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, postgres_db: str) -> str:
    """``postgresql://qolaba:<password>@127.0.0.1:<port>/<fresh database>``."""
    return postgres_server.url(postgres_db)
