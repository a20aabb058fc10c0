"""Clients of a firm."""

from __future__ import annotations

from typing import Any

from models import Client
from workflow import validation
from workflow.scope import Scope
from workflow.unit import change


async def create_client(
    scope: Scope, name: str, email: str | None = None, tags: list[str] | None = None
) -> Client:
    clean: dict[str, Any] = {
        "name": validation.name(name, "name"),
        "email": validation.email(email),
        "tags": validation.tags(tags or []),
    }
    async with change(scope):
        return await Client.create(firm_id=scope.firm_id, **clean)


async def update_client(scope: Scope, client_id: int, **changes: Any) -> Client:
    """Change any of name, email, tags."""
    if "name" in changes:
        changes["name"] = validation.name(changes["name"], "name")
    if "email" in changes:
        changes["email"] = validation.email(changes["email"])
    if "tags" in changes:
        changes["tags"] = validation.tags(changes["tags"] or [])
    async with change(scope):
        client = await scope.get(Client, client_id, field="id", lock=True)
        client.update_from_dict(changes)
        await client.save(update_fields=[*changes, "updated_at"])
    return client
