"""Opening, migrating and closing the database."""

from __future__ import annotations

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate as apply_migrations

from models import keys, tortoise_config


async def open_database(
    database_url: str, *, migrate: bool = True, secret_key: str | None = None
) -> None:
    """Connect, applying pending migrations first unless told not to, and load the
    deployment's key (SECRET_KEY, or the one kept in the database)."""
    config = tortoise_config(database_url)
    # Tortoise caches insert statements by connection name, not dialect: forget them, so one
    # process can open SQLite and then PostgreSQL (the test suite does).
    EXECUTOR_CACHE.clear()
    if migrate:
        # The migration API initialises Tortoise without connections, so start afresh after it.
        await apply_migrations(config=config)
        await Tortoise.close_connections()
    # Global: the ASGI lifespan runs in another task than the requests that use the database.
    await Tortoise.init(config=config, _enable_global_fallback=True)
    global _postgres
    _postgres = _dialect_is_postgres()
    await keys.load(secret_key)


async def close_database() -> None:
    global _postgres
    _postgres = None
    await Tortoise.close_connections()


async def ping() -> None:
    """Raise if the database does not answer."""
    await connections.get("default").execute_query("SELECT 1")


# The open database's dialect, known from open_database to close_database: asked many times a
# request, where tortoise's connection lookup costs more than the answer is worth.
_postgres: bool | None = None


def is_postgres() -> bool:
    return _dialect_is_postgres() if _postgres is None else _postgres


def _dialect_is_postgres() -> bool:
    dialect: str = connections.get("default").capabilities.dialect
    return dialect == "postgres"


def broke_a_deadlock(error: BaseException) -> bool:
    """Whether PostgreSQL failed the transaction to break a deadlock (or a serialization
    conflict): it changed nothing, and the same change may succeed when run again."""
    return isinstance(
        error, (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
    )
