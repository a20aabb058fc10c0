"""Fixtures: a real database per backend (SQLite and PostgreSQL), an in-process HTTP client,
firms with tokens, and a counter of SQL statements.

Every test that takes `db` runs once on SQLite and once on PostgreSQL. PostgreSQL comes from
TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test); a fresh database is made
for the session (tests.databases, which first drops those that killed runs left behind).
Without PostgreSQL its tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import ConfigurationError

from models import keys, writes
from models.db import close_database, is_postgres, open_database
from tests.databases import (
    ADMIN_URL,
    copy_migrated_sqlite,
    create_migrated_database,
    drop_database,
    sqlite_folder,
)
from tests.servers import Stack
from web.app import create_app
from web.middleware import RequestLog
from workflow import email_content, webhook_addresses
from workflow.firms import NewFirm, create_firm

IN_CI = os.environ.get("CI", "").lower() == "true"
# One deployment key for the suite and the servers it starts (they inherit the environment),
# so tests can make the ids and cursors a server would (models.keys).
TEST_SECRET_KEY = os.environ.setdefault("SECRET_KEY", "suite-secret-key-" + "0" * 32)
# Webhook tests deliver to loopback receivers: private targets allowed, here and in the servers
# the suite starts (tests/test_ssrf*.py turn it off to see them refused).
ALLOW_PRIVATE = os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE", "true") == "true"
# Tests set up rows directly (User.create, a stage's WIP limit): the guard that cached tables
# are written in a change (models.writes) checks only what the app does here (each GraphQL
# request, each round of the runner), and everything in the servers the suite starts.
writes.check_by_default(False)


@pytest.fixture(autouse=True, scope="session")
def suite_key() -> None:
    """The suite's key from the start, for module fixtures that make ids before any test runs."""
    keys.use_master_key(TEST_SECRET_KEY.encode())


SLOW_SUITES = [Path(__file__).parent / name for name in ("reliability", "browser")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The reliability and browser suites are slow by design (real processes, a browser,
    floods): `-m "not slow"` leaves them out, like the tests marked slow one by one."""
    for item in items:
        if any(item.path.is_relative_to(suite) for suite in SLOW_SUITES):
            item.add_marker(pytest.mark.slow)


def _suite_process_settings() -> None:
    keys.use_master_key(TEST_SECRET_KEY.encode())
    webhook_addresses.configure(ALLOW_PRIVATE)
    email_content.configure(email_content.DEFAULT_PUBLIC_URL)


_suite_process_settings()  # for module-scoped fixtures too, which set up before any test


@pytest.fixture(autouse=True)
def suite_process_settings() -> None:
    """Every test starts with the suite's key, webhook policy and portal address, whatever an
    app that an earlier test started with settings of its own set for the process."""
    _suite_process_settings()


TABLES = [  # children first, so deletes never trip a foreign key
    "export",
    "email",
    "invoice",
    "message",
    "organizer",
    "webhook_delivery",
    "webhook_endpoint",
    "idempotent_request",
    "automation_run",
    "automation",
    "job_event",
    "task",
    "job_assignee",
    "job",
    "recurring_schedule",
    "job_template_assignee",
    "job_template",
    "stage",
    "pipeline",
    "portal_session",
    "portal_link",
    "contact",
    "client",
    "custom_field",
    "api_token",
    "app_user",
    "firm",
]
# The id sequences of those tables (serial or identity columns own them).
RESTART_SEQUENCES = (
    "SELECT setval(s.oid, 1, false) FROM pg_class s"
    " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
    " JOIN pg_class t ON t.oid = d.refobjid"
    f" WHERE s.relkind = 'S' AND t.relname IN ({', '.join(repr(t) for t in TABLES)});"
)


async def _migrate(url: str) -> None:
    await open_database(url, secret_key=TEST_SECRET_KEY)
    await close_database()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database of each backend, for the whole session."""
    if request.param == "sqlite":
        with sqlite_folder(tmp_path_factory.getbasetemp()) as folder:
            await copy_migrated_sqlite(folder / "test.sqlite3", _migrate)
            url = f"sqlite://{folder / 'test.sqlite3'}"
            await _migrate(url)  # whatever the template lacks (nothing, as a rule)
            yield url
            await _close_kept()
        return
    try:
        url = await create_migrated_database("test", _migrate)
    except (OSError, asyncpg.PostgresError) as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true and unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}: {error}")
    await _migrate(url)  # whatever the template lacks (nothing, as a rule)
    yield url
    await _close_kept()
    await drop_database(url)


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Server processes on the session's database, shared by one module's tests (each makes
    its own firm: nothing truncates under them)."""
    running = Stack.start(database_url, tmp_path_factory.mktemp("servers"))
    yield running
    running.stop()


@pytest.fixture
async def db(database_url: str, request: pytest.FixtureRequest) -> str:
    """The database, emptied, open for this test."""
    if request.node.get_closest_marker("postgres_only") and database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: SQLite has a single writer")
    connection = await _kept_open(database_url)
    # One script, one transaction. DELETE, not TRUNCATE: on tables this small it is ~10x
    # quicker (TRUNCATE makes new files for every table and index, each test).
    empty = "".join(f'DELETE FROM "{table}";' for table in TABLES)
    if is_postgres():  # and ids start at 1 again, as after TRUNCATE ... RESTART IDENTITY
        empty += RESTART_SEQUENCES
    await connection.execute_script(empty)
    return database_url


# The database the `db` fixture opened and its connection. Kept open from one test to the next:
# opening costs ~10 ms of CPU a test (tortoise builds every model's queries again), more than
# emptying the tables. Opened again whenever a test closed it or opened another.
_kept: tuple[str, BaseDBAsyncClient] | None = None


def _current_connection() -> BaseDBAsyncClient | None:
    try:
        return connections.get("default")
    except (ConfigurationError, RuntimeError):  # closed, or never opened (no context yet)
        return None


async def _kept_open(database_url: str) -> BaseDBAsyncClient:
    global _kept
    current = _current_connection()
    if _kept is not None and _kept[0] == database_url and current is _kept[1]:
        return current
    if current is not None:
        await close_database()
    await open_database(database_url, migrate=False, secret_key=TEST_SECRET_KEY)
    _kept = (database_url, connections.get("default"))
    return _kept[1]


async def _close_kept() -> None:
    global _kept
    if _kept is not None and _current_connection() is _kept[1]:
        await close_database()
    _kept = None


@pytest.fixture
async def http(db: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in this process (the database is already open)."""
    transport = httpx.ASGITransport(app=RequestLog(create_app()))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


GraphQL = Callable[..., Awaitable[dict[str, Any]]]


def graphql_client(http: httpx.AsyncClient, token: str) -> GraphQL:
    async def run(query: str, expect_errors: bool = False, **variables: Any) -> dict[str, Any]:
        response = await http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if expect_errors:
            assert body.get("errors"), body
            return body
        assert "errors" not in body, body["errors"]
        return body["data"]

    return run


@pytest.fixture
async def firm_a(db: str) -> NewFirm:
    return await create_firm("Firm A", "owner@a.test", "Alice Owner")


@pytest.fixture
async def firm_b(db: str) -> NewFirm:
    return await create_firm("Firm B", "owner@b.test", "Bob Owner")


@pytest.fixture
def gql(http: httpx.AsyncClient, firm_a: NewFirm) -> GraphQL:
    """GraphQL as firm A's owner."""
    return graphql_client(http, firm_a.token)


@pytest.fixture
def gql_b(http: httpx.AsyncClient, firm_b: NewFirm) -> GraphQL:
    """GraphQL as firm B's owner."""
    return graphql_client(http, firm_b.token)


class StatementCounter(logging.Handler):
    """Counts the SQL statements tortoise sends (its db_client logger, at DEBUG)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(str(record.args[0]) if record.args else record.getMessage())


@pytest.fixture
def sql_statements() -> Iterator[StatementCounter]:
    logger = logging.getLogger("tortoise.db_client")
    counter, level = StatementCounter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    yield counter
    logger.removeHandler(counter)
    logger.setLevel(level)
