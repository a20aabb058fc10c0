"""node, nodes, viewer and users: lookups by global id and the caller's team."""

from __future__ import annotations

import strawberry

from models import User
from schema.context import Info
from schema.node import Node
from schema.nodes import NODE_TYPES, NODES_MAX
from schema.types import UserType, referenced
from workflow.access import type_needs
from workflow.errors import invalid
from workflow.global_ids import parse_id


async def _node(info: Info, global_id: str, field: str) -> Node | None:
    type_name, pk = parse_id(global_id, field)
    if type_name not in NODE_TYPES:
        return None
    needs = type_needs(type_name)
    if needs and not info.context.scope.can(needs):
        return None  # as if it did not exist, like another firm's
    model, graphql_type = NODE_TYPES[type_name]
    row = await info.context.loaders.by_id(model).load(pk)
    return graphql_type.from_model(row) if row else None


@strawberry.type
class NodeQueries:
    @strawberry.field(description="The object with this global id; null if there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _node(info, id, "id")

    @strawberry.field(description="The objects with these ids, in order (null where none).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > NODES_MAX:
            raise invalid("ids", f"at most {NODES_MAX} ids")
        return [await _node(info, global_id, "ids") for global_id in ids]

    @strawberry.field(description="The user the token belongs to.")
    async def viewer(self, info: Info) -> UserType:
        user = await info.context.loaders.user.load(info.context.scope.user_id or 0)
        return UserType.from_model(referenced(user))

    @strawberry.field(description="The firm's team members.")
    async def users(self, info: Info) -> list[UserType]:
        users = await info.context.scope.query(User).order_by("name", "id")
        return [UserType.from_model(user) for user in users]
