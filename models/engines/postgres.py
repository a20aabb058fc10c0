"""PostgreSQL through asyncpg, with every statement checked by models.writes.

tortoise's pooled transaction context takes a connection from the pool before it begins and
gives it back only on leaving the block, so a BEGIN that failed or was cancelled (a background
loop stopped while it began a transaction) kept its connection out of the pool for good. Ours
gives it back (asyncpg resets it on release)."""

from __future__ import annotations

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    NestedTransactionContext,
    TransactionalDBClient,
    TransactionContext,
    TransactionContextPooled,
)
from tortoise.connection import get_connections

from models.writes import CheckedWrites


class CheckedAsyncpgClient(CheckedWrites, AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return _TransactionContext(CheckedAsyncpgTransaction(self), self._pool_init_lock)


class _TransactionContext(TransactionContextPooled):
    async def __aenter__(self) -> TransactionalDBClient:
        await self.ensure_connection()
        pool = self.client._parent._pool
        self.client._connection = await pool.acquire()
        self.token = get_connections().set(self.connection_name, self.client)
        try:
            await self.client.begin()
        except BaseException:
            get_connections().reset(self.token)
            await pool.release(self.client._connection)
            raise
        return self.client


class CheckedAsyncpgTransaction(CheckedWrites, TransactionWrapper):
    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(CheckedAsyncpgTransaction(self))


client_class = CheckedAsyncpgClient
