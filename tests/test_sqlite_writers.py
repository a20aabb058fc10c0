"""Writers in several processes on one SQLite file (the embedded default with `server.py demo`
or `create-firm` run beside the server): a transaction takes the write lock as it begins, so
another process's writer waits for it instead of failing later with "database is locked"."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from models import Firm


async def test_a_transaction_holds_the_write_lock_from_its_start(db: str) -> None:
    if not db.startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL locks rows, not the database")
    other_process = sqlite3.connect(db.split("://", 1)[1], timeout=0)  # no waiting: it fails
    try:
        async with in_transaction():
            await Firm.all().count()  # only a read so far
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other_process.execute("BEGIN IMMEDIATE")
        other_process.execute("BEGIN IMMEDIATE")  # committed: the lock is free again
        other_process.rollback()
    finally:
        other_process.close()


async def test_a_transaction_cancelled_as_it_begins_gives_the_connection_back(db: str) -> None:
    """A background loop stopped while its transaction waits for the write lock (another
    process holds it): the process's later statements still run (tortoise's own context kept
    its connection lock, and everything after waited forever)."""
    if not db.startswith("sqlite"):
        pytest.skip("SQLite only: one connection per process, behind one lock")
    other_process = sqlite3.connect(db.split("://", 1)[1], timeout=0)
    other_process.execute("BEGIN IMMEDIATE")  # our BEGIN IMMEDIATE now waits (busy timeout)
    began = asyncio.Event()

    async def write() -> None:
        async with in_transaction():
            began.set()

    task = asyncio.create_task(write())
    try:
        await asyncio.sleep(0)  # one turn: the task takes the lock and waits in its BEGIN
        assert connections.get("default")._lock.locked() and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        other_process.rollback()
        other_process.close()
    assert not began.is_set()
    async with asyncio.timeout(10):
        assert await Firm.all().count() >= 0
        async with in_transaction():
            await Firm.all().count()
