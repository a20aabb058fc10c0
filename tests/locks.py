"""A second PostgreSQL connection that holds locks in a transaction a test controls: to make a
change meet another's locks at a chosen point, deterministically."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import asyncpg

from tests.databases import asyncpg_url

WAIT_LIMIT = 30.0  # seconds: a change that never waits fails the test rather than hang it


class Holder:
    """`async with Holder(url) as other:` a transaction on its own connection (rolled back
    at exit unless committed)."""

    def __init__(self, url: str) -> None:
        self._url = asyncpg_url(url)
        self._conn: asyncpg.Connection | None = None
        self._done = False

    async def __aenter__(self) -> Holder:
        self._conn = await asyncpg.connect(self._url)
        await self._conn.execute("BEGIN")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        if not self._done:
            await self._conn.execute("ROLLBACK")
        await self._conn.close()

    async def execute(self, sql: str, *args: Any) -> str:
        assert self._conn is not None
        result: str = await self._conn.execute(sql, *args)
        return result

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        assert self._conn is not None
        return list(await self._conn.fetch(sql, *args))

    async def commit(self) -> None:
        assert self._conn is not None
        await self._conn.execute("COMMIT")
        self._done = True

    async def wait_for_waiters(self, count: int) -> None:
        """Until `count` other sessions of this database wait for a lock (ours): polled from
        a connection of its own, so the waiting is the database's, not a sleep's."""
        watcher = await asyncpg.connect(self._url)
        try:
            deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
            while True:
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                if waiting >= count:
                    return
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"{waiting} sessions wait for a lock, not {count}")
        finally:
            await watcher.close()
