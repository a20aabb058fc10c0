"""Jobs: queries, the job filter, and the job mutations (move, transfer, archive, …)."""

from __future__ import annotations

from datetime import date

import strawberry

from models import Job, JobStatus, Priority
from models.sql import with_tag
from resolvers.common import mutate, payload, provided
from schema.connection import Connection, root_connection
from schema.context import Info
from schema.custom_fields import CustomFieldFilter
from schema.enums import JobStatusEnum
from schema.inputs import (
    ArchiveJobInput,
    CreateJobInput,
    MoveJobInput,
    TransferJobInput,
    UpdateJobInput,
)
from schema.payloads import JobPayload, MoveJobPayload, TransferJobPayload
from schema.types import JobType
from workflow import clock, custom_fields, deadlines, jobs, validation
from workflow.errors import invalid
from workflow.global_ids import decode_id, decode_optional
from workflow.scope import Scope


@strawberry.input
class JobFilter:
    pipeline_id: strawberry.ID | None = None
    stage_id: strawberry.ID | None = None
    client_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = None
    status: list[JobStatusEnum] | None = strawberry.field(
        default=None, description="Default: ACTIVE and COMPLETED."
    )
    tag: str | None = None
    due_before: date | None = strawberry.field(default=None, description="Due on or before.")
    due_after: date | None = strawberry.field(default=None, description="Due on or after.")
    search: str | None = strawberry.field(default=None, description="Words in the title.")
    overdue: bool | None = strawberry.field(
        default=None, description="Only the jobs whose isOverdue is this."
    )
    custom_fields: list[CustomFieldFilter] | None = strawberry.field(
        default=None, description="Jobs whose custom fields meet every one (at most 10)."
    )


_job = payload(JobPayload, "job", JobType.from_model)
_moved = payload(MoveJobPayload, "job", JobType.from_model)
_transferred = payload(TransferJobPayload, "job", JobType.from_model)


@strawberry.type
class JobQueries:
    @strawberry.field
    async def job(self, info: Info, id: strawberry.ID) -> JobType | None:
        job = await info.context.loaders.job.load(decode_id(id, "Job", "id"))
        return JobType.from_model(job) if job else None

    @strawberry.field(description="Jobs of the firm, oldest first.")
    async def jobs(
        self,
        info: Info,
        filter: JobFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[JobType]:
        f = filter or JobFilter()
        queryset = info.context.scope.query(Job).filter(
            status__in=f.status or [JobStatus.ACTIVE, JobStatus.COMPLETED]
        )
        for column, value, type_name, field in (
            ("pipeline_id", f.pipeline_id, "Pipeline", "filter.pipelineId"),
            ("stage_id", f.stage_id, "Stage", "filter.stageId"),
            ("client_id", f.client_id, "Client", "filter.clientId"),
            ("assignees__id", f.assignee_id, "User", "filter.assigneeId"),
        ):
            if (pk := decode_optional(value, type_name, field)) is not None:
                queryset = queryset.filter(**{column: pk})
        if f.due_before:
            queryset = queryset.filter(due_date__lte=f.due_before)
        if f.due_after:
            queryset = queryset.filter(due_date__gte=f.due_after)
        for word in validation.search(f.search or "", "filter.search"):
            queryset = queryset.filter(title__icontains=word)
        if f.overdue is not None:
            queryset = queryset.filter(deadlines.overdue_filter(clock.now(), f.overdue))
        if f.tag is not None:
            queryset = with_tag(queryset, validation.name(f.tag, "filter.tag"))
        if f.custom_fields:
            if len(f.custom_fields) > custom_fields.FILTERS_MAX:  # before reading definitions
                raise invalid("filter.customFields", "at most 10 custom field filters")
            queryset = await custom_fields.job_filter(
                info.context.scope,
                queryset,
                [custom_fields.FieldFilter(c.key, c.equals, c.min, c.max) for c in f.custom_fields],
            )
        return await root_connection(queryset, first, after, JobType.from_model)


@strawberry.type
class JobMutations:
    @strawberry.mutation(description="Create a job, last in its pipeline's first stage.")
    async def create_job(self, info: Info, input: CreateJobInput) -> JobPayload:
        return await mutate(
            info,
            _job,
            lambda scope: jobs.create_job(
                scope,
                decode_id(input.pipeline_id, "Pipeline", "pipelineId"),
                decode_id(input.client_id, "Client", "clientId"),
                input.title,
                stage_id=decode_optional(input.stage_id, "Stage", "stageId"),
                priority=input.priority or Priority.NORMAL,
                start_date=input.start_date,
                due_date=input.due_date,
                tags=input.tags,
                assignee_ids=[
                    decode_id(i, "User", "assigneeIds") for i in input.assignee_ids or []
                ],
                custom_field_values=input.custom_fields,
            ),
        )

    @strawberry.mutation
    async def update_job(self, info: Info, input: UpdateJobInput) -> JobPayload:
        async def update(scope: Scope) -> Job:
            changes = provided(
                title=input.title,
                priority=input.priority,
                status=input.status,
                start_date=input.start_date,
                due_date=input.due_date,
                tags=input.tags,
            )
            for key in ("title", "priority", "status"):
                if key in changes and changes[key] is None:
                    raise invalid(key, f"{key} cannot be null")
            if input.client_id is not strawberry.UNSET:
                changes["client_id"] = decode_id(input.client_id or "", "Client", "clientId")
            if input.assignee_ids is not strawberry.UNSET:
                changes["assignee_ids"] = [
                    decode_id(i, "User", "assigneeIds") for i in input.assignee_ids or []
                ]
            if input.custom_fields is not strawberry.UNSET and input.custom_fields is not None:
                changes["custom_fields"] = input.custom_fields
            return await jobs.update_job(
                scope, decode_id(input.id, "Job", "id"), input.expected_version, **changes
            )

        return await mutate(info, _job, update)

    @strawberry.mutation
    async def archive_job(self, info: Info, input: ArchiveJobInput) -> JobPayload:
        return await mutate(
            info,
            _job,
            lambda scope: jobs.archive_job(
                scope, decode_id(input.id, "Job", "id"), input.expected_version
            ),
        )

    @strawberry.mutation(
        description="Move a job to a stage of its pipeline, or to another place in its stage."
    )
    async def move_job(self, info: Info, input: MoveJobInput) -> MoveJobPayload:
        return await mutate(
            info,
            _moved,
            lambda scope: jobs.move_job(
                scope,
                decode_id(input.job_id, "Job", "jobId"),
                decode_id(input.stage_id, "Stage", "stageId"),
                before_job_id=decode_optional(input.before_job_id, "Job", "beforeJobId"),
                after_job_id=decode_optional(input.after_job_id, "Job", "afterJobId"),
                expected_version=input.expected_version,
                skip_automations={
                    decode_id(i, "Automation", "skipAutomationIds")
                    for i in input.skip_automation_ids or []
                },
                seen=lambda stage: info.context.loaders.stage.prime(stage.id, stage),
            ),
        )

    @strawberry.mutation(description="Move a job into another pipeline (its first stage).")
    async def transfer_job(self, info: Info, input: TransferJobInput) -> TransferJobPayload:
        return await mutate(
            info,
            _transferred,
            lambda scope: jobs.transfer_job(
                scope,
                decode_id(input.job_id, "Job", "jobId"),
                decode_id(input.pipeline_id, "Pipeline", "pipelineId"),
                stage_id=decode_optional(input.stage_id, "Stage", "stageId"),
                expected_version=input.expected_version,
            ),
        )
