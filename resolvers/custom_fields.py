"""Custom fields: the query and the definitions' mutations (values are set through the
create and update inputs of jobs and clients)."""

from __future__ import annotations

import strawberry

from models import CustomField, CustomFieldEntity
from resolvers.common import delete, mutate, payload
from schema.context import Info
from schema.custom_fields import (
    CreateCustomFieldInput,
    CustomFieldPayload,
    CustomFieldType,
    DeleteCustomFieldInput,
    UpdateCustomFieldInput,
)
from schema.enums import CustomFieldEntityEnum
from schema.payloads import DeletePayload
from workflow import custom_fields
from workflow.errors import invalid
from workflow.global_ids import decode_id
from workflow.scope import Scope

_field = payload(CustomFieldPayload, "custom_field", CustomFieldType.from_model)


def _options(options: list[str] | None) -> list[str] | None:
    if options is not None and len(options) > custom_fields.OPTIONS_MAX:  # before each is read
        raise invalid("options", f"a SELECT field has at most {custom_fields.OPTIONS_MAX} options")
    return options


@strawberry.type
class CustomFieldQueries:
    @strawberry.field(description="The firm's custom fields (of one entity), in position order.")
    async def custom_fields(
        self, info: Info, entity: CustomFieldEntityEnum | None = None
    ) -> list[CustomFieldType]:
        entities = [entity] if entity is not None else list(CustomFieldEntity)
        found: list[CustomField] = []
        for one in entities:
            found += (await custom_fields.definitions(info.context.scope.firm_id, one)).values()
        return [CustomFieldType.from_model(field) for field in found]


@strawberry.type
class CustomFieldMutations:
    @strawberry.mutation(description="Define a custom field of the firm's jobs or clients.")
    async def create_custom_field(
        self, info: Info, input: CreateCustomFieldInput
    ) -> CustomFieldPayload:
        return await mutate(
            info,
            _field,
            lambda scope: custom_fields.create_custom_field(
                scope,
                input.entity,
                input.key,
                input.label,
                input.type,
                options=_options(input.options),
                required=input.required,
            ),
        )

    @strawberry.mutation(description="Rename a custom field, change its options or required.")
    async def update_custom_field(
        self, info: Info, input: UpdateCustomFieldInput
    ) -> CustomFieldPayload:
        async def update(scope: Scope) -> CustomField:
            if input.label is None:
                raise invalid("label", "label cannot be null")
            if input.required is None:
                raise invalid("required", "required cannot be null")
            return await custom_fields.update_custom_field(
                scope,
                decode_id(input.id, "CustomField", "id"),
                label=None if input.label is strawberry.UNSET else input.label,
                options=(
                    None if input.options is strawberry.UNSET else _options(input.options or [])
                ),
                required=None if input.required is strawberry.UNSET else input.required,
            )

        return await mutate(info, _field, update)

    @strawberry.mutation(
        description="Delete a custom field, and its values from every job or client."
    )
    async def delete_custom_field(self, info: Info, input: DeleteCustomFieldInput) -> DeletePayload:
        return await delete(info, input.id, "CustomField", custom_fields.delete_custom_field)
