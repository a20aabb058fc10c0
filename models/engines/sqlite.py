"""SQLite, with every statement checked by models.writes."""

from __future__ import annotations

from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)

from models.writes import CheckedWrites


class CheckedSqliteClient(CheckedWrites, SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(CheckedSqliteTransaction(self), self._lock)


class CheckedSqliteTransaction(CheckedWrites, SqliteTransactionWrapper):
    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(CheckedSqliteTransaction(self))


client_class = CheckedSqliteClient
