"""Writers in several processes on one SQLite file (the embedded default with `server.py demo`
or `create-firm` run beside the server): a transaction takes the write lock as it begins, so
another process's writer waits for it instead of failing later with "database is locked"."""

from __future__ import annotations

import sqlite3

import pytest
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
