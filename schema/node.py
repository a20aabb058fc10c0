"""The Node interface and the global ids of its objects as the schema types them (made and read
in workflow.global_ids, where the resolvers decode the ids they are given)."""

from __future__ import annotations

import strawberry

from workflow.global_ids import global_id


@strawberry.interface(name="Node", description="An object with a global id.")
class Node:
    id: strawberry.ID


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))
