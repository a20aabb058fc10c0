"""What every resolver needs: domain errors to UserErrors, set fields, deletes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from schema.errors import UserError
from schema.node import decode_id
from schema.payloads import DeletePayload
from workflow.errors import DomainError

R = TypeVar("R")


async def attempt(operation: Callable[[], Awaitable[R]]) -> tuple[R | None, list[UserError]]:
    """Run a domain operation; an expected failure becomes the payload's errors."""
    try:
        return await operation(), []
    except DomainError as error:
        return None, [UserError.from_domain(error)]


def provided(**fields: Any) -> dict[str, Any]:
    """The fields of an update input that the client actually sent."""
    return {name: value for name, value in fields.items() if value is not strawberry.UNSET}


async def delete(
    global_id: str, type_name: str, operation: Callable[[int], Awaitable[None]]
) -> DeletePayload:
    """Decode the id of the object to delete, delete it, and say so in a DeletePayload."""
    _, errors = await attempt(lambda: operation(decode_id(global_id, type_name, "id")))
    return DeletePayload(deleted_id=None if errors else strawberry.ID(global_id), errors=errors)
