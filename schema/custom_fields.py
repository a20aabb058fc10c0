"""Custom fields in the graph: the CustomField type, its inputs, payload and job filter."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import ID, UNSET
from strawberry.scalars import JSON

from models import CustomField
from schema.enums import CustomFieldEntityEnum, CustomFieldTypeEnum
from schema.errors import UserError
from schema.node import Node, encode_id


@strawberry.type(name="CustomField")
class CustomFieldType(Node):
    entity: CustomFieldEntityEnum
    key: str = strawberry.field(description="What values are stored under; never changes.")
    label: str
    type: CustomFieldTypeEnum
    options: list[str] = strawberry.field(description="A SELECT field's values; else empty.")
    required: bool
    position: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, field: CustomField) -> CustomFieldType:
        return cls(
            id=encode_id("CustomField", field.id),
            entity=field.entity,
            key=field.key,
            label=field.label,
            type=field.type,
            options=list(field.options),
            required=field.required,
            position=field.position,
            created_at=field.created_at,
            updated_at=field.updated_at,
        )


@strawberry.input
class CreateCustomFieldInput:
    entity: CustomFieldEntityEnum
    key: str = strawberry.field(description="^[a-z][a-z0-9_]{0,39}$; fixed once created.")
    label: str
    type: CustomFieldTypeEnum
    options: list[str] | None = strawberry.field(
        default=None, description="A SELECT field's values (1 to 100); none for the others."
    )
    required: bool = False


@strawberry.input(description="The key, entity and type are fixed: delete and create again.")
class UpdateCustomFieldInput:
    id: ID
    label: str | None = UNSET
    options: list[str] | None = strawberry.field(
        default=UNSET, description="An option a stored value still uses cannot be removed."
    )
    required: bool | None = UNSET


@strawberry.input
class DeleteCustomFieldInput:
    id: ID


@strawberry.type
class CustomFieldPayload:
    custom_field: CustomFieldType | None
    errors: list[UserError]


@strawberry.input(
    description="Jobs whose custom field `key` equals `equals`, or (NUMBER and DATE) lies "
    "between `min` and `max`, both included."
)
class CustomFieldFilter:
    key: str
    equals: JSON | None = None
    min: JSON | None = None
    max: JSON | None = None
