"""Rows of the board graph as plain dicts, one statement per call whatever the number of
parents: what the DataLoaders (schema.loaders) make models from and what the planned reads
(schema.plan_run) answer from, so both read the same rows in the same order.

Table and column names come from code, never from clients; values are bound parameters.
Every statement is scoped to one firm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from tortoise.models import Model

from models.sql import fetch_rows as fetch

M = TypeVar("M", bound=Model)

Row = Mapping[str, Any]  # a driver's row, read by column name


def _grouped(rows: Sequence[Row], column: str) -> dict[int, list[Row]]:
    """`rows` by their `column`, in order."""
    grouped: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[column]].append(row)
    return grouped


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _select(columns: Sequence[str] | None, *needed: str, prefix: str = "") -> str:
    """The select list: `columns` and the `needed` ones (None: every column)."""
    if columns is None:
        return f"{prefix}*"
    return ", ".join(f'{prefix}"{column}"' for column in sorted({*columns, *needed}))


def _status_condition(statuses: Sequence[str] | None, params: list[Any]) -> str:
    if not statuses:
        return ""
    params.extend(statuses)
    return f' AND "status" IN ({_marks(statuses)})'


async def by_id(
    table: str, firm_id: int, ids: Sequence[int], columns: Sequence[str] | None = None
) -> dict[int, Row]:
    """The firm's rows with these ids (others' and missing ones absent)."""
    if not ids:
        return {}
    sql = (
        f'SELECT {_select(columns, "id")} FROM "{table}" '
        f'WHERE "firm_id" = ? AND "id" IN ({_marks(ids)})'
    )
    return {row["id"]: row for row in await fetch(sql, [firm_id, *ids])}


async def pages(
    table: str,
    firm_id: int,
    parent_column: str,
    parent_ids: Sequence[int],
    order_column: str,
    limit: int,
    after: Any = None,
    where_in: dict[str, Sequence[Any]] | None = None,
    columns: Sequence[str] | None = None,
) -> dict[int, list[Row]]:
    """Up to `limit` rows per parent, ordered by `order_column`, keyed after `after`:
    `ROW_NUMBER() OVER (PARTITION BY parent ORDER BY key)` keeps the first N children of every
    parent (SQLite 3.25+ and PostgreSQL)."""
    if not parent_ids:
        return {}
    params: list[Any] = [firm_id, *parent_ids]
    conditions = ['"firm_id" = ?', f'"{parent_column}" IN ({_marks(parent_ids)})']
    for column, values in (where_in or {}).items():
        conditions.append(f'"{column}" IN ({_marks(values)})')
        params.extend(values)
    if after is not None:
        conditions.append(f'"{order_column}" > ?')
        params.append(after)
    params.append(limit)
    sql = (
        f"SELECT * FROM (SELECT {_select(columns, parent_column, order_column)}, "
        f'ROW_NUMBER() OVER (PARTITION BY "{parent_column}" '
        f'ORDER BY "{order_column}") AS page_row FROM "{table}" '
        f"WHERE {' AND '.join(conditions)}) AS page "
        f'WHERE page_row <= ? ORDER BY "{parent_column}", "{order_column}"'
    )
    return _grouped(await fetch(sql, params), parent_column)  # rows with their page_row


async def root_page(
    table: str,
    firm_id: int,
    limit: int,
    after: int | None,
    statuses: Sequence[str] | None,
    columns: Sequence[str] | None = None,
) -> list[Row]:
    """Up to `limit` of the firm's rows by id, after the id `after`."""
    params: list[Any] = [firm_id]
    condition = _status_condition(statuses, params)
    if after is not None:
        condition += ' AND "id" > ?'
        params.append(after)
    params.append(limit)
    sql = (
        f'SELECT {_select(columns, "id")} FROM "{table}" WHERE "firm_id" = ?{condition} '
        'ORDER BY "id" LIMIT ?'
    )
    return list(await fetch(sql, params))


async def root_count(table: str, firm_id: int, statuses: Sequence[str] | None) -> int:
    params: list[Any] = [firm_id]
    condition = _status_condition(statuses, params)
    sql = f'SELECT COUNT(*) AS n FROM "{table}" WHERE "firm_id" = ?{condition}'
    return int((await fetch(sql, params))[0]["n"])


async def counts(
    table: str,
    firm_id: int,
    parent_column: str,
    parent_ids: Sequence[int],
    statuses: Sequence[str] | None,
) -> dict[int, int]:
    """Rows per parent (parents without any absent)."""
    if not parent_ids:
        return {}
    params: list[Any] = [firm_id, *parent_ids]
    condition = _status_condition(statuses, params)
    sql = (
        f'SELECT "{parent_column}" AS parent, COUNT("id") AS n FROM "{table}" '
        f'WHERE "firm_id" = ? AND "{parent_column}" IN ({_marks(parent_ids)}){condition} '
        f'GROUP BY "{parent_column}"'
    )
    return {row["parent"]: int(row["n"]) for row in await fetch(sql, params)}


async def children(
    table: str,
    firm_id: int,
    parent_column: str,
    parent_ids: Sequence[int],
    order: Sequence[str],
    columns: Sequence[str] | None = None,
) -> dict[int, list[Row]]:
    """Every child of each parent, in `order`."""
    if not parent_ids:
        return {}
    by = ", ".join(f'"{column}"' for column in order)
    sql = (
        f'SELECT {_select(columns, parent_column, *order)} FROM "{table}" '
        f'WHERE "firm_id" = ? AND "{parent_column}" IN '
        f"({_marks(parent_ids)}) ORDER BY {by}"
    )
    return _grouped(await fetch(sql, [firm_id, *parent_ids]), parent_column)


async def linked(
    table: str,
    firm_id: int,
    link_table: str,
    key: str,
    ids: Sequence[int],
    order: str,
    columns: Sequence[str] | None = None,
) -> dict[int, list[Row]]:
    """The rows of `table` that `link_table` (many to many, `key` naming the other side, the
    row in `table` by `user_id`) links to each id, in `order`."""
    if not ids:
        return {}
    sql = (
        f'SELECT {_select(columns, order, prefix="u.")}, ja."{key}" AS linked_to '
        f'FROM "{table}" u '
        f'JOIN "{link_table}" ja ON ja."user_id" = u."id" '
        f'WHERE u."firm_id" = ? AND ja."{key}" IN ({_marks(ids)}) ORDER BY u."{order}"'
    )
    return _grouped(await fetch(sql, [firm_id, *ids]), "linked_to")


async def fetch_pages(
    model: type[M],
    *,
    firm_id: int,
    parent_column: str,
    parent_ids: Sequence[int],
    order_column: str,
    limit: int,
    after: Any = None,
    where_in: dict[str, Sequence[Any]] | None = None,
) -> dict[int, list[M]]:
    """`pages` as models."""
    found = await pages(
        model._meta.db_table,
        firm_id,
        parent_column,
        parent_ids,
        order_column,
        limit,
        after,
        where_in,
    )
    return {parent: [model._init_from_db(**row) for row in page] for parent, page in found.items()}
