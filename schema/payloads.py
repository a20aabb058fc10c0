"""Mutation payloads: the changed object (null on failure) beside errors (empty on success)."""

from __future__ import annotations

import strawberry

from schema.errors import UserError
from schema.types import (
    AutomationRunType,
    AutomationType,
    ClientType,
    ContactType,
    InvoiceType,
    JobType,
    MessageType,
    OrganizerType,
    PipelineType,
    StageType,
    TaskType,
)


@strawberry.type
class PipelinePayload:
    pipeline: PipelineType | None
    errors: list[UserError]


@strawberry.type
class TemplateWarning:
    path: str = strawberry.field(description="Where in the template, e.g. `template.stages[1]`.")
    message: str = strawberry.field(description="What could not be mapped, and what was done.")


@strawberry.type
class ImportPipelineTemplatePayload:
    pipeline: PipelineType | None
    warnings: list[TemplateWarning] = strawberry.field(
        description="What the import could not map in this firm (a person, an endpoint, a "
        "pipeline the template names): each setting dropped or automation left out."
    )
    errors: list[UserError]


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.type
class StagePayload:
    stage: StageType | None
    errors: list[UserError]


@strawberry.type
class DeleteStagePayload:
    deleted_id: strawberry.ID | None
    pipeline: PipelineType | None
    errors: list[UserError]


@strawberry.type
class ClientPayload:
    client: ClientType | None
    errors: list[UserError]


@strawberry.type
class ContactPayload:
    contact: ContactType | None
    errors: list[UserError]


@strawberry.type
class JobPayload:
    job: JobType | None
    errors: list[UserError]


@strawberry.type
class MoveJobPayload:
    job: JobType | None
    errors: list[UserError]


@strawberry.type
class TransferJobPayload:
    job: JobType | None
    errors: list[UserError]


@strawberry.type
class TaskPayload:
    task: TaskType | None
    errors: list[UserError]


@strawberry.type
class DeleteTaskPayload:
    deleted_id: strawberry.ID | None
    job: JobType | None
    errors: list[UserError]


@strawberry.type
class AutomationPayload:
    automation: AutomationType | None
    errors: list[UserError]


@strawberry.type
class AutomationRunPayload:
    automation_run: AutomationRunType | None
    errors: list[UserError]


@strawberry.type
class OrganizerPayload:
    organizer: OrganizerType | None
    errors: list[UserError]


@strawberry.type
class MessagePayload:
    message: MessageType | None
    errors: list[UserError]


@strawberry.type
class InvoicePayload:
    invoice: InvoiceType | None
    errors: list[UserError]


@strawberry.type(description="One item of a bulk call, in input order.")
class BulkJobResult:
    job_id: strawberry.ID | None = strawberry.field(
        description="The id given; for createJobs the new job's (null if it failed)."
    )
    client_id: strawberry.ID | None = strawberry.field(
        description="For createJobs the id given; otherwise the job's client (null if it failed)."
    )
    job: JobType | None = strawberry.field(
        description="The job as the item left it; null if "
        "the item failed or an atomic call was refused."
    )
    errors: list[UserError]


@strawberry.type
class BulkJobsPayload:
    results: list[BulkJobResult]
    errors: list[UserError]
