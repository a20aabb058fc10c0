"""PostgreSQL through asyncpg, with every statement checked by models.writes."""

from __future__ import annotations

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    NestedTransactionContext,
    TransactionContext,
    TransactionContextPooled,
)

from models.writes import CheckedWrites


class CheckedAsyncpgClient(CheckedWrites, AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return TransactionContextPooled(CheckedAsyncpgTransaction(self), self._pool_init_lock)


class CheckedAsyncpgTransaction(CheckedWrites, TransactionWrapper):
    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(CheckedAsyncpgTransaction(self))


client_class = CheckedAsyncpgClient
