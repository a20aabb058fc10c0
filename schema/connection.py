"""Relay connections: forward pagination with opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from tortoise.queryset import QuerySet

from models import keys
from workflow.errors import invalid

DEFAULT_PAGE = 100
MAX_PAGE = 100  # the cost limit multiplies through nested pages; keep them small
RANK_RE = re.compile(r"^[0-9a-z]{1,255}$")

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(name="Edge")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(name="Connection")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Items matching, over all pages.")
    async def total_count(self) -> int:
        return await self.count()


def page_size(first: int | None) -> int:
    size = DEFAULT_PAGE if first is None else first
    if not 0 <= size <= MAX_PAGE:
        raise invalid("first", f"first must be between 0 and {MAX_PAGE}")
    return size


CURSOR_TAG = keys.type_tag("Cursor")


def encode_cursor(key: Any) -> str:
    """A rank as it is (ranks say nothing of other firms); a row id made opaque like ids."""
    if isinstance(key, int):
        return keys.encode_id(CURSOR_TAG, key)
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode()


def encode_cursors(values: list[Any]) -> list[str]:
    """encode_cursor of many keys of one order, made at once."""
    if values and isinstance(values[0], int):
        return keys.encode_ids(CURSOR_TAG, values)
    return [encode_cursor(value) for value in values]


def decode_cursor(cursor: str | None, order_column: str) -> Any:
    """The key after which a page starts: an id, or a rank for stage order."""
    if cursor is None:
        return None
    if order_column == "id":
        decoded = keys.decode_id(cursor)
        if decoded is None or decoded[0] != CURSOR_TAG or decoded[1] >= 2**31:
            raise invalid("after", "after is not a cursor of this connection")
        return decoded[1]
    try:
        prefix, _, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        prefix, key = "", ""
    if prefix == "k" and order_column == "rank" and RANK_RE.match(key):
        return key
    raise invalid("after", "after is not a cursor of this connection")


def build(
    rows: Sequence[Any],
    size: int,
    order_column: str,
    wrap: Callable[[Any], T],
    count: Callable[[], Awaitable[int]],
    has_previous: bool,
) -> Connection[T]:
    """A connection from up to size + 1 rows (the extra one says there is a next page)."""
    edges = [
        Edge(cursor=encode_cursor(getattr(row, order_column)), node=wrap(row))
        for row in rows[:size]
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > size,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        count=count,
    )


async def root_connection(
    queryset: QuerySet[Any], first: int | None, after: str | None, wrap: Callable[[Any], T]
) -> Connection[T]:
    """A page of a top-level list, ordered by id."""
    size = page_size(first)
    cursor = decode_cursor(after, "id")
    page = queryset.order_by("id").limit(size + 1)
    if cursor is not None:
        page = page.filter(id__gt=cursor)
    return build(await page, size, "id", wrap, queryset.count, has_previous=cursor is not None)
