"""Relay global ids: opaque strings naming a type and a row (made and read in
workflow.global_ids, which the resolvers' decode helpers come from)."""

from __future__ import annotations

import strawberry

from workflow.global_ids import decode_id, decode_optional, global_id, parse_id

__all__ = ["Node", "decode_id", "decode_optional", "encode_id", "parse_id"]


@strawberry.interface(name="Node", description="An object with a global id.")
class Node:
    id: strawberry.ID


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))
