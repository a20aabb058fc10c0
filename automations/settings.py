"""Typed automation settings: each action's `check` reads its keys through these, so a value of
the wrong type is refused with INVALID_INPUT, never coerced.

Here settings are what the domain keeps: references are row ids (the resolvers decode global
ids into them). A reference out of the id columns' range cannot name a row: NOT_FOUND, like a
missing one, before it reaches the database (where it would be an error, not an answer).
"""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.models import Model

from workflow.errors import invalid, not_found
from workflow.scope import Scope

Settings = dict[str, Any]
M = TypeVar("M", bound=Model)

MAX_ROW_ID = 2**31 - 1  # the id columns are 32-bit integers (as schema.node.MAX_ROW_ID)


def field(key: str) -> str:
    return f"settings.{key}"


async def record(scope: Scope, settings: Settings, key: str, model: type[M]) -> M:
    """The firm's row that settings[key] names; it is required."""
    found = await optional_record(scope, settings, key, model)
    if found is None:
        raise invalid(field(key), f"{field(key)} is required")
    return found


async def optional_record(
    scope: Scope, settings: Settings, key: str, model: type[M]
) -> M | None:
    """The firm's row that settings[key] names, or None if it is null or absent."""
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(field(key), f"{field(key)} must be a {model.__name__} id")
    if not 0 < value <= MAX_ROW_ID:
        raise not_found(model.__name__, field(key))
    return await scope.get(model, value, field=field(key))
