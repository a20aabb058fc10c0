"""Fixtures of the reliability suite: a fresh PostgreSQL database per test on the shared server
(never restarted), a private Redis, a webhook receiver, the processes a test starts (stopped
after it, whatever happened), and a place for their logs.

Missing services fail the suite under CI=true and skip it locally, with the reason. The
fuzzing modules need hypothesis (and schemathesis): without it they are not collected
locally (a warning says so); under CI=true that is an error.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import AsyncIterator, Iterator
from importlib.util import find_spec
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.databases import ADMIN_URL, create_migrated_database, drop_database
from tests.receiver import Receiver
from tests.reliability.infra import IN_CI, unavailable
from tests.servers import RedisProcess, ServerProcess, migrate_in_a_process
from web.app import create_app
from web.middleware import RequestLog

if find_spec("hypothesis") is None:
    if IN_CI:
        raise ImportError(
            "tests/reliability needs hypothesis under CI=true: pip install hypothesis schemathesis"
        )
    collect_ignore_glob = ["test_fuzz_mutations.py", "test_fuzz_requests.py"]
    warnings.warn(
        "hypothesis is not installed: the property-based tests of "
        "tests/reliability are not collected (pip install hypothesis schemathesis)",
        stacklevel=1,
    )


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new database on the shared PostgreSQL holding the schema and no rows: a copy of the
    suite's template (tests.databases), so the servers have no migrations to apply at start
    (~3 s of CPU a test)."""
    try:
        url = await create_migrated_database("rel", migrate_in_a_process)
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f"PostgreSQL unreachable at {ADMIN_URL}: {error}")
    yield url
    await drop_database(url)


@pytest.fixture
def redis() -> Iterator[RedisProcess]:
    """A private redis-server that a test may stop and start again."""
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    process = RedisProcess().start()
    yield process
    process.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def processes() -> Iterator[list[ServerProcess]]:
    """Every server, worker or private service process a test starts: stopped after it."""
    started: list[ServerProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
async def app_http(db: str) -> AsyncIterator[httpx.AsyncClient]:
    """Like the `http` fixture, but an exception escaping the app is answered 500, as the
    served app would answer it, instead of being raised into the test."""
    transport = httpx.ASGITransport(app=RequestLog(create_app()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
