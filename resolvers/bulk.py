"""Bulk job mutations: bulkMoveJobs, bulkUpdateJobs, bulkArchiveJobs, createJobs
(workflow.bulk). Each answers one result per item, in input order, beside the call's errors."""

from __future__ import annotations

import strawberry

from resolvers.common import mutate
from schema.context import Info
from schema.errors import UserError
from schema.inputs import (
    BulkArchiveJobsInput,
    BulkMoveJobsInput,
    BulkUpdateJobsInput,
    CreateJobsInput,
)
from schema.node import encode_id
from schema.payloads import BulkJobResult, BulkJobsPayload
from schema.types import JobType
from workflow import bulk, periods
from workflow.bulk import Item, Outcome
from workflow.errors import invalid
from workflow.global_ids import decode_id, decode_optional
from workflow.scope import Scope


def _of_jobs(item: Item) -> BulkJobResult:
    return BulkJobResult(
        job_id=strawberry.ID(item.given),
        client_id=encode_id("Client", item.job.client_id) if item.job else None,
        job=JobType.from_model(item.job) if item.job else None,
        errors=[UserError.from_domain(error) for error in item.errors],
    )


def _of_clients(item: Item) -> BulkJobResult:
    return BulkJobResult(
        job_id=encode_id("Job", item.job.id) if item.job else None,
        client_id=strawberry.ID(item.given),
        job=JobType.from_model(item.job) if item.job else None,
        errors=[UserError.from_domain(error) for error in item.errors],
    )


def _answer(outcome: Outcome | None, errors: list[UserError]) -> BulkJobsPayload:
    if outcome is None:  # refused whole before any item ran
        return BulkJobsPayload(results=[], errors=errors)
    return BulkJobsPayload(
        results=[_of_jobs(item) for item in outcome.items],
        errors=[UserError.from_domain(error) for error in outcome.errors],
    )


def _created(outcome: Outcome | None, errors: list[UserError]) -> BulkJobsPayload:
    if outcome is None:
        return BulkJobsPayload(results=[], errors=errors)
    return BulkJobsPayload(
        results=[_of_clients(item) for item in outcome.items],
        errors=[UserError.from_domain(error) for error in outcome.errors],
    )


@strawberry.type
class BulkMutations:
    @strawberry.mutation(
        description="Move up to 100 jobs to a stage of their pipeline, each last there, in "
        "input order."
    )
    async def bulk_move_jobs(self, info: Info, input: BulkMoveJobsInput) -> BulkJobsPayload:
        return await mutate(
            info,
            _answer,
            lambda scope: bulk.bulk_move_jobs(
                scope,
                list(input.job_ids),
                decode_id(input.stage_id, "Stage", "stageId"),
                atomic=input.atomic,
            ),
        )

    @strawberry.mutation(description="Change up to 100 jobs the same way.")
    async def bulk_update_jobs(self, info: Info, input: BulkUpdateJobsInput) -> BulkJobsPayload:
        assignees = input.assignee_ids

        async def update(scope: Scope) -> Outcome:
            if assignees is not strawberry.UNSET and len(assignees or []) > bulk.MAX_JOBS:
                raise invalid("assigneeIds", f"at most {bulk.MAX_JOBS} assignees")
            return await bulk.bulk_update_jobs(
                scope,
                list(input.job_ids),
                add_tags=input.add_tags,
                remove_tags=input.remove_tags,
                assignee_ids=None
                if assignees is strawberry.UNSET
                else [decode_id(i, "User", "assigneeIds") for i in assignees or []],
                priority=input.priority,
                due_date=None if input.due_date is strawberry.UNSET else input.due_date,
                due_date_given=input.due_date is not strawberry.UNSET,
                custom_field_values=input.custom_fields,
                atomic=input.atomic,
            )

        return await mutate(info, _answer, update)

    @strawberry.mutation(description="Archive up to 100 jobs.")
    async def bulk_archive_jobs(self, info: Info, input: BulkArchiveJobsInput) -> BulkJobsPayload:
        return await mutate(
            info,
            _answer,
            lambda scope: bulk.bulk_archive_jobs(scope, list(input.job_ids), atomic=input.atomic),
        )

    @strawberry.mutation(
        description="A job for each of up to 500 clients, from a pipeline or a job template."
    )
    async def create_jobs(self, info: Info, input: CreateJobsInput) -> BulkJobsPayload:
        return await mutate(
            info,
            _created,
            lambda scope: bulk.create_jobs(
                scope,
                list(input.client_ids),
                pipeline_id=decode_optional(input.pipeline_id, "Pipeline", "pipelineId"),
                template_id=decode_optional(input.template_id, "JobTemplate", "templateId"),
                title=input.title,
                period=None if input.period is None else periods.parse(input.period, "period"),
                atomic=input.atomic,
            ),
        )
