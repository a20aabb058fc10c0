"""What every resolver needs: domain errors to UserErrors, set fields, root connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from tortoise.queryset import QuerySet

from schema.connection import Connection, build, decode_cursor, page_size
from schema.errors import UserError
from schema.node import decode_id
from schema.payloads import DeletePayload
from workflow.errors import DomainError

R = TypeVar("R")
T = TypeVar("T")


async def attempt(operation: Callable[[], Awaitable[R]]) -> tuple[R | None, list[UserError]]:
    """Run a domain operation; an expected failure becomes the payload's errors."""
    try:
        return await operation(), []
    except DomainError as error:
        return None, [UserError.from_domain(error)]


def provided(**fields: Any) -> dict[str, Any]:
    """The fields of an update input that the client actually sent."""
    return {name: value for name, value in fields.items() if value is not strawberry.UNSET}


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


async def delete(
    global_id: str, type_name: str, operation: Callable[[int], Awaitable[None]]
) -> DeletePayload:
    """Decode the id of the object to delete, delete it, and say so in a DeletePayload."""
    _, errors = await attempt(lambda: operation(decode_id(global_id, type_name, "id")))
    return DeletePayload(deleted_id=None if errors else strawberry.ID(global_id), errors=errors)
