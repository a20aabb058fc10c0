"""Statements written by hand for SQLite and PostgreSQL: the few tortoise cannot express, and
the hottest ones (a row by id, a token), where tortoise's query building costs more than the
database does. The board graph's rows (pages of children for many parents in one statement,
which tortoise's lack of window functions rules out) are in models.rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from tortoise import connections
from tortoise.expressions import RawSQL
from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)


def placeholder(index: int) -> str:
    dialect = connections.get("default").capabilities.dialect
    return f"${index}" if dialect == "postgres" else "?"


@lru_cache(maxsize=256)
def _in_dialect(sql: str, dialect: str) -> str:
    """`sql` written with ? placeholders and PostgreSQL's FOR UPDATE, for `dialect` (SQLite
    locks the whole database for a transaction's writes, and has no FOR UPDATE)."""
    if dialect != "postgres":
        return sql.replace(" FOR UPDATE", "")
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def fetch(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of a hand-written statement (see _in_dialect), on the current transaction's
    connection if there is one."""
    db = connections.get("default")
    rows: list[dict[str, Any]] = await db.execute_query_dict(
        _in_dialect(sql, db.capabilities.dialect), list(params)
    )
    return rows


async def fetch_rows(sql: str, params: Sequence[Any]) -> Sequence[Mapping[str, Any]]:
    """`fetch`, its rows as the driver gives them (asyncpg's Record, sqlite3.Row: read by
    column name, not copied into dicts: the many rows of a board cost less)."""
    db = connections.get("default")
    rows: Sequence[Mapping[str, Any]]
    _, rows = await db.execute_query(_in_dialect(sql, db.capabilities.dialect), list(params))
    return rows


def backend_pid() -> int | None:
    """The PostgreSQL session's process id of the current transaction's connection, as the
    driver learnt it when connecting (no round trip); None outside a transaction on PostgreSQL.
    """
    connection = getattr(connections.get("default"), "_connection", None)
    get_server_pid = getattr(connection, "get_server_pid", None)
    return int(get_server_pid()) if get_server_pid is not None else None


async def execute(sql: str, params: Sequence[Any]) -> None:
    db = connections.get("default")
    await db.execute_query(_in_dialect(sql, db.capabilities.dialect), list(params))


async def ids_of(queryset: QuerySet[Any], column: str = "id") -> set[int]:
    """The values of an integer column of the rows (their ids by default)."""
    # flat=True: the values themselves, not the tuples tortoise's typing says
    rows: list[int] = await queryset.values_list(column, flat=True)  # type: ignore[assignment]
    return set(rows)


def with_tag(queryset: QuerySet[M], tag: str) -> QuerySet[M]:
    """Rows whose JSON "tags" list holds `tag` exactly."""
    if connections.get("default").capabilities.dialect == "postgres":
        return queryset.filter(tags__contains=[tag])
    literal = "'" + tag.replace("'", "''") + "'"  # SQLite string literal: quotes doubled
    exists = RawSQL(f'EXISTS (SELECT 1 FROM json_each("tags") WHERE value = {literal})')
    return queryset.annotate(has_tag=exists).filter(has_tag=1)


# Due work in firm turns: `turn` numbers each firm's due items (ROW_NUMBER() OVER (PARTITION
# BY firm_id ...), SQLite 3.25+ and PostgreSQL); every firm's first item comes before any
# firm's second, and among firms the one after the firm served last goes first (bound: the
# last firm's id). So a firm with thousands of due items delays another firm's item by one
# item per busy firm, not by its backlog, and no firm stays at the back of a round.
IN_FIRM_TURNS = 'ORDER BY "turn", CASE WHEN "firm_id" > ? THEN 0 ELSE 1 END, "firm_id"'


class FirmTurns:
    """Where the round robin between firms stands: the firm served last (0: none yet)."""

    def __init__(self) -> None:
        self.last_firm = 0

    def served(self, firm_id: int) -> None:
        self.last_firm = firm_id
