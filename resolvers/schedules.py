"""Recurring schedules: queries and mutations (admins write them, READ lists them)."""

from __future__ import annotations

import strawberry

from models import RecurringSchedule
from resolvers.common import delete, mutate, payload, provided
from schema.connection import Connection, root_connection
from schema.context import Info
from schema.payloads import DeletePayload
from schema.schedules import (
    CreateRecurringScheduleInput,
    DeleteRecurringScheduleInput,
    RecurringSchedulePayload,
    RecurringScheduleType,
    UpdateRecurringScheduleInput,
)
from workflow import schedules
from workflow.global_ids import decode_id
from workflow.scope import Scope

_schedule = payload(
    RecurringSchedulePayload, "recurring_schedule", RecurringScheduleType.from_model
)


def _client_ids(ids: list[strawberry.ID]) -> list[int]:
    if len(ids) > schedules.CLIENTS_MAX:  # before decoding thousands of ids
        ids = ids[: schedules.CLIENTS_MAX + 1]
    return [decode_id(i, "Client", "clientIds") for i in ids]


@strawberry.type
class ScheduleQueries:
    @strawberry.field(description="The firm's recurring schedules, oldest first.")
    async def recurring_schedules(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[RecurringScheduleType]:
        query = info.context.scope.query(RecurringSchedule)
        return await root_connection(query, first, after, RecurringScheduleType.from_model)


@strawberry.type
class ScheduleMutations:
    @strawberry.mutation
    async def create_recurring_schedule(
        self, info: Info, input: CreateRecurringScheduleInput
    ) -> RecurringSchedulePayload:
        return await mutate(
            info,
            _schedule,
            lambda scope: schedules.create_schedule(
                scope,
                decode_id(input.template_id, "JobTemplate", "templateId"),
                frequency=input.frequency,
                starts_on=input.starts_on,
                timezone=input.timezone,
                client_ids=_client_ids(input.client_ids),
                client_tag=input.client_tag,
                interval=input.interval,
                ends_on=input.ends_on,
                lead_days=input.lead_days,
                paused=input.paused,
            ),
        )

    @strawberry.mutation
    async def update_recurring_schedule(
        self, info: Info, input: UpdateRecurringScheduleInput
    ) -> RecurringSchedulePayload:
        async def update(scope: Scope) -> RecurringSchedule:
            changes = provided(
                template_id=input.template_id,
                client_ids=input.client_ids,
                client_tag=input.client_tag,
                frequency=input.frequency,
                interval=input.interval,
                starts_on=input.starts_on,
                ends_on=input.ends_on,
                timezone=input.timezone,
                lead_days=input.lead_days,
                paused=input.paused,
            )
            if changes.get("template_id") is not None:
                changes["template_id"] = decode_id(input.template_id, "JobTemplate", "templateId")  # type: ignore[arg-type]
            if changes.get("client_ids") is not None:
                changes["client_ids"] = _client_ids(changes["client_ids"])
            return await schedules.update_schedule(
                scope, decode_id(input.id, "RecurringSchedule", "id"), **changes
            )

        return await mutate(info, _schedule, update)

    @strawberry.mutation
    async def delete_recurring_schedule(
        self, info: Info, input: DeleteRecurringScheduleInput
    ) -> DeletePayload:
        return await delete(info, input.id, "RecurringSchedule", schedules.delete_schedule)
