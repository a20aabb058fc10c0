"""What every mutation does, said once: run its domain operation as the caller and answer its
payload, an expected failure becoming the payload's errors; and the fields an update sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from schema.context import Info
from schema.errors import UserError
from schema.payloads import DeletePayload
from workflow.errors import DomainError
from workflow.global_ids import decode_id
from workflow.scope import Scope
from workflow.unit import retrying_deadlocks

R = TypeVar("R")  # what a domain operation returns
P = TypeVar("P")  # a mutation's payload

# A payload from the operation's result (None when it failed) and the errors (empty if not).
Answer = Callable[[R | None, list[UserError]], P]


async def mutate(info: Info, answer: Answer[R, P], operation: Callable[[Scope], Awaitable[R]]) -> P:
    """Run `operation` in the caller's scope (again if the database failed it to break a
    deadlock) and answer with its result; a DomainError (an expected failure, which changed
    nothing) is answered as the payload's errors instead."""
    scope = info.context.scope
    try:
        result = await retrying_deadlocks(lambda: operation(scope))
    except DomainError as error:
        return answer(None, [UserError.from_domain(error)])
    return answer(result, [])


def payload(
    payload_class: Callable[..., P], field: str, wrap: Callable[[R], object]
) -> Answer[R, P]:
    """The answer of a payload with one object: `field` is the result wrapped in its GraphQL
    type (null on failure), beside the errors."""

    def answer(result: R | None, errors: list[UserError]) -> P:
        return payload_class(**{field: None if result is None else wrap(result)}, errors=errors)

    return answer


def provided(**fields: Any) -> dict[str, Any]:
    """The fields of an update input that the client actually sent."""
    return {name: value for name, value in fields.items() if value is not strawberry.UNSET}


async def delete(
    info: Info,
    global_id: str,
    type_name: str,
    operation: Callable[[Scope, int], Awaitable[None]],
) -> DeletePayload:
    """Decode the id of the object to delete, delete it, and say so in a DeletePayload."""

    def deleted(_: None, errors: list[UserError]) -> DeletePayload:
        return DeletePayload(deleted_id=None if errors else strawberry.ID(global_id), errors=errors)

    return await mutate(
        info, deleted, lambda scope: operation(scope, decode_id(global_id, type_name, "id"))
    )
