"""Recognizing a database that is unreachable (down, restarting, refusing connections), as
opposed to a bug: callers answer "unavailable, retry" instead of an internal error."""

from __future__ import annotations

import asyncpg
from tortoise.exceptions import DBConnectionError

UNAVAILABLE = (
    OSError,  # refused, reset, timed out
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    asyncpg.InterfaceError,  # the connection was closed under a query
)


def database_unavailable(error: BaseException | None) -> bool:
    """True if the error, or one it was raised from, says the database cannot be reached."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, UNAVAILABLE):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False
