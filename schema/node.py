"""Relay global ids: opaque strings naming a type and a row (see workflow.global_ids)."""

from __future__ import annotations

import strawberry

from workflow.errors import DomainError, ErrorCode
from workflow.global_ids import global_id, parse_global_id
from workflow.scope import MAX_ROW_ID


@strawberry.interface(name="Node", description="An object with a global id.")
class Node:
    id: strawberry.ID


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))


def parse_id(global_id: str, field: str) -> tuple[str, int]:
    """(type name, row id) of a global id, or an INVALID_ID error naming the field."""
    error = DomainError(ErrorCode.INVALID_ID, f"{field} is not a valid id", field)
    parsed = parse_global_id(global_id)
    if parsed is None or not 0 < parsed[1] <= MAX_ROW_ID:
        raise error
    return parsed


def decode_id(global_id: str, type_name: str, field: str) -> int:
    """The row id of a global id of `type_name`; another type's id is INVALID_ID too."""
    kind, pk = parse_id(global_id, field)
    if kind != type_name:
        raise DomainError(ErrorCode.INVALID_ID, f"{field} is not a {type_name} id", field)
    return pk


def decode_optional(global_id: str | None, type_name: str, field: str) -> int | None:
    return None if global_id is None else decode_id(global_id, type_name, field)
