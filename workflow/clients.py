"""Clients of a firm."""

from __future__ import annotations

from typing import Any

from models import Client, CustomFieldEntity
from workflow import custom_fields, validation
from workflow.scope import Scope
from workflow.unit import change


async def create_client(
    scope: Scope,
    name: str,
    email: str | None = None,
    tags: list[str] | None = None,
    custom_field_values: Any = None,
) -> Client:
    clean: dict[str, Any] = {
        "name": validation.name(name, "name"),
        "email": validation.email(email),
        "tags": validation.tags(tags or []),
    }
    async with change(scope):
        clean["custom_fields"] = await custom_fields.values_for(
            scope, CustomFieldEntity.CLIENT, {}, custom_field_values, creating=True
        )
        return await Client.create(firm_id=scope.firm_id, **clean)


async def update_client(scope: Scope, client_id: int, **changes: Any) -> Client:
    """Change any of name, email, tags, custom_fields (merged over the client's values:
    workflow.custom_fields)."""
    if "name" in changes:
        changes["name"] = validation.name(changes["name"], "name")
    if "email" in changes:
        changes["email"] = validation.email(changes["email"])
    if "tags" in changes:
        changes["tags"] = validation.tags(changes["tags"] or [])
    async with change(scope):
        client = await scope.get(Client, client_id, field="id", lock=True)
        if "custom_fields" in changes:
            changes["custom_fields"] = await custom_fields.values_for(
                scope,
                CustomFieldEntity.CLIENT,
                client.custom_fields,
                changes["custom_fields"] or {},
                creating=False,
            )
        client.update_from_dict(changes)
        await client.save(update_fields=[*changes, "updated_at"])
    return client
