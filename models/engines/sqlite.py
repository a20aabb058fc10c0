"""SQLite, with every statement checked by models.writes, and transactions that take the
database's write lock when they begin.

One process runs one transaction at a time on its one connection (tortoise's lock), but other
processes may write the same file: `server.py demo` or `create-firm` beside a running server,
whose runner and mailer write too. A plain (deferred) BEGIN reads first and asks for the write
lock at its first write; in WAL mode, if another process committed in between, that fails at
once with "database is locked" (its snapshot is stale), whatever the busy timeout. BEGIN
IMMEDIATE takes the lock first, so a second writer waits its turn (the busy timeout, 5 s)
instead of failing.

tortoise's transaction context takes its connection lock before it begins and gives it back
only on leaving the block, so a BEGIN that failed or was cancelled (a background loop stopped
while it began a transaction) kept the lock, and every later statement of the process waited
for it forever. Ours gives it back.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import TransactionManagementError

from models.writes import CheckedWrites


class CheckedSqliteClient(CheckedWrites, SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return _TransactionContext(CheckedSqliteTransaction(self), self._lock)


class _TransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> CheckedSqliteTransaction:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            # Whatever BEGIN left open, the next transaction's begin() commits (empty) first.
            self._trxlock.release()
            raise
        connection: CheckedSqliteTransaction = self.connection
        return connection


class CheckedSqliteTransaction(CheckedWrites, SqliteTransactionWrapper):
    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(CheckedSqliteTransaction(self))

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise TransactionManagementError(error) from error


client_class = CheckedSqliteClient
