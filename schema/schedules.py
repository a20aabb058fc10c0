"""Recurring schedules in the graph: the type, its occurrences, its inputs and payload."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from models import Job, JobTemplate, RecurringSchedule
from schema.connection import Connection
from schema.context import Info
from schema.enums import FrequencyEnum
from schema.errors import UserError
from schema.node import Node, encode_id
from schema.templates import JobTemplateType
from schema.types import ClientType, JobType, child_connection, referenced
from workflow import schedules
from workflow.periods import Frequency
from workflow.recurrence import PREVIEW_MAX, Occurrence

ID = strawberry.ID
UNSET = strawberry.UNSET


@strawberry.type(name="RecurringOccurrence")
class RecurringOccurrenceType:
    period: str = strawberry.field(description="The period's label: 2026, 2026-Q1, 2026-03...")
    period_starts_on: date
    period_ends_on: date
    creates_at: datetime = strawberry.field(
        description="When its jobs are created: local midnight leadDays before the period "
        "starts, in the schedule's timezone."
    )

    @classmethod
    def of(cls, occurrence: Occurrence) -> RecurringOccurrenceType:
        period = occurrence.period
        return cls(
            period=period.label,
            period_starts_on=period.start,
            period_ends_on=period.end,
            creates_at=occurrence.creates_at,
        )


@strawberry.type(name="RecurringSchedule")
class RecurringScheduleType(Node):
    client_tag: str | None = strawberry.field(
        description="Every client with this tag when an occurrence runs, beside clients."
    )
    frequency: FrequencyEnum
    interval: int = strawberry.field(description="Every interval-th period.")
    starts_on: date = strawberry.field(description="The first period is the one holding it.")
    ends_on: date | None = strawberry.field(description="The last period is the one holding it.")
    timezone: str
    lead_days: int
    paused: bool
    next_run_at: datetime | None = strawberry.field(
        description="When the next jobs are created (null: paused, or no occurrence left)."
    )
    skipped_while_paused: list[str] = strawberry.field(
        description="The periods the last resume skipped: they ended while it was paused."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[RecurringSchedule]

    @classmethod
    def from_model(cls, schedule: RecurringSchedule) -> RecurringScheduleType:
        return cls(
            id=encode_id("RecurringSchedule", schedule.id),
            client_tag=schedule.client_tag,
            frequency=Frequency(schedule.frequency),
            interval=schedule.interval,
            starts_on=schedule.starts_on,
            ends_on=schedule.ends_on,
            timezone=schedule.timezone,
            lead_days=schedule.lead_days,
            paused=schedule.paused,
            next_run_at=schedule.next_run_at,
            skipped_while_paused=schedule.skipped_while_paused,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
            row=schedule,
        )

    @strawberry.field
    async def template(self, info: Info) -> JobTemplateType:
        template = await info.context.loaders.by_id(JobTemplate).load(self.row.template_id)
        return JobTemplateType.from_model(referenced(template))

    @strawberry.field(description="The clients listed by id (not those of clientTag).")
    async def clients(self, info: Info) -> list[ClientType]:
        loaded = await info.context.loaders.client.load_many(self.row.client_ids)
        return [ClientType.from_model(client) for client in loaded if client is not None]

    @strawberry.field(
        description=f"The next occurrences, at most {PREVIEW_MAX}: from the next one, or, "
        "while paused, from where it would resume now."
    )
    def next_occurrences(self, first: int) -> list[RecurringOccurrenceType]:
        return [RecurringOccurrenceType.of(o) for o in schedules.upcoming(self.row, first)]

    @strawberry.field(description="The jobs it created, oldest first.")
    async def jobs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[JobType]:
        return await child_connection(
            info, Job, "recurring_schedule_id", self.row.id, "id", JobType.from_model, first, after
        )


@strawberry.input
class CreateRecurringScheduleInput:
    template_id: ID
    client_ids: list[ID] = strawberry.field(
        default_factory=list, description="At most 200; more: give them a tag (clientTag)."
    )
    client_tag: str | None = None
    frequency: FrequencyEnum
    interval: int = 1
    starts_on: date
    ends_on: date | None = None
    timezone: str = strawberry.field(description="An IANA time zone name: America/New_York, UTC.")
    lead_days: int = strawberry.field(
        default=0, description="Create the jobs this many days before their period starts."
    )
    paused: bool = False


@strawberry.input
class UpdateRecurringScheduleInput:
    id: ID
    template_id: ID | None = UNSET
    client_ids: list[ID] | None = UNSET
    client_tag: str | None = UNSET
    frequency: FrequencyEnum | None = UNSET
    interval: int | None = UNSET
    starts_on: date | None = UNSET
    ends_on: date | None = strawberry.field(default=UNSET, description="null: no end.")
    timezone: str | None = UNSET
    lead_days: int | None = UNSET
    paused: bool | None = UNSET


@strawberry.input
class DeleteRecurringScheduleInput:
    id: ID


@strawberry.type
class RecurringSchedulePayload:
    recurring_schedule: RecurringScheduleType | None
    errors: list[UserError]
