"""Mutation inputs. Optional fields of update inputs left out change nothing; null clears."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.scalars import JSON

from models import AutomationTrigger
from schema.enums import ActionTypeEnum, JobStatusEnum, PriorityEnum, TriggerEnum

ID = strawberry.ID
UNSET = strawberry.UNSET


@strawberry.input
class CreatePipelineInput:
    name: str
    stage_names: list[str] = strawberry.field(description="The stages, in order; at least one.")


@strawberry.input
class ImportPipelineTemplateInput:
    template: JSON = strawberry.field(
        description="A template, as `Pipeline.template` answers it (docs/pipeline-templates.md)."
    )
    name: str | None = strawberry.field(
        default=None, description="The new pipeline's name (default: the template's)."
    )


@strawberry.input
class UpdatePipelineInput:
    id: ID
    name: str


@strawberry.input
class DeletePipelineInput:
    id: ID


@strawberry.input
class CreateStageInput:
    pipeline_id: ID
    name: str
    position: int | None = strawberry.field(default=None, description="Default: last.")
    wip_limit: int | None = None
    time_limit_days: int | None = None
    auto_move: bool = False
    portal_name: str | None = strawberry.field(
        default=None, description="The name clients see in the portal; default: the name."
    )


@strawberry.input
class UpdateStageInput:
    id: ID
    name: str | None = UNSET
    wip_limit: int | None = UNSET
    time_limit_days: int | None = UNSET
    auto_move: bool | None = UNSET
    portal_name: str | None = strawberry.field(
        default=UNSET, description="null: clients see the stage's name."
    )


@strawberry.input
class DeleteStageInput:
    id: ID
    move_jobs_to_stage_id: ID | None = strawberry.field(
        default=None, description="Where the stage's jobs go; required when it holds any."
    )


@strawberry.input
class ReorderStagesInput:
    pipeline_id: ID
    stage_ids: list[ID] = strawberry.field(description="Every stage of the pipeline, in order.")


@strawberry.input
class CreateClientInput:
    name: str
    email: str | None = None
    tags: list[str] | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None,
        description="Values of custom fields by key; required ones must be given.",
    )


@strawberry.input
class UpdateClientInput:
    id: ID
    name: str | None = UNSET
    email: str | None = UNSET
    tags: list[str] | None = UNSET
    custom_fields: JSON | None = strawberry.field(
        default=UNSET,
        description="Values by key, merged: the keys given replace, null clears one.",
    )


@strawberry.input
class CreateContactInput:
    client_id: ID
    name: str
    email: str
    portal_access: bool = False


@strawberry.input
class UpdateContactInput:
    id: ID
    name: str | None = UNSET
    email: str | None = UNSET
    portal_access: bool | None = strawberry.field(
        default=UNSET,
        description="false revokes the contact's open portal sessions (so does a new email).",
    )


@strawberry.input
class DeleteContactInput:
    id: ID


@strawberry.input
class RevokePortalSessionsInput:
    contact_id: ID


@strawberry.input
class CreateJobInput:
    pipeline_id: ID
    client_id: ID
    title: str
    stage_id: ID | None = strawberry.field(default=None, description="Default: the first stage.")
    priority: PriorityEnum | None = None
    start_date: date | None = None
    due_date: date | None = None
    tags: list[str] | None = None
    assignee_ids: list[ID] | None = None
    custom_fields: JSON | None = strawberry.field(
        default=None,
        description="Values of custom fields by key; required ones must be given.",
    )


@strawberry.input
class UpdateJobInput:
    id: ID
    expected_version: int | None = None
    title: str | None = UNSET
    client_id: ID | None = UNSET
    priority: PriorityEnum | None = UNSET
    status: JobStatusEnum | None = strawberry.field(
        default=UNSET, description="ACTIVE or COMPLETED; ACTIVE restores an archived job."
    )
    start_date: date | None = UNSET
    due_date: date | None = UNSET
    tags: list[str] | None = UNSET
    assignee_ids: list[ID] | None = UNSET
    custom_fields: JSON | None = strawberry.field(
        default=UNSET,
        description="Values by key, merged: the keys given replace, null clears one.",
    )


@strawberry.input
class ArchiveJobInput:
    id: ID
    expected_version: int | None = None


@strawberry.input
class MoveJobInput:
    job_id: ID
    stage_id: ID
    before_job_id: ID | None = strawberry.field(
        default=None, description="Place the job right before this job of the target stage."
    )
    after_job_id: ID | None = strawberry.field(
        default=None, description="Place the job right after this job of the target stage."
    )
    expected_version: int | None = None
    skip_automation_ids: list[ID] | None = strawberry.field(
        default=None, description="Automations of the target stage not to run for this move."
    )


@strawberry.input
class TransferJobInput:
    job_id: ID
    pipeline_id: ID
    stage_id: ID | None = strawberry.field(default=None, description="Default: the first stage.")
    expected_version: int | None = None


@strawberry.input
class CreateTaskInput:
    job_id: ID
    title: str
    description: str | None = None
    assignee_id: ID | None = None
    due_date: date | None = None


@strawberry.input
class UpdateTaskInput:
    id: ID
    title: str | None = UNSET
    description: str | None = UNSET
    assignee_id: ID | None = UNSET
    due_date: date | None = UNSET


@strawberry.input
class TaskIdInput:
    id: ID


@strawberry.input
class CreateAutomationInput:
    stage_id: ID
    action: ActionTypeEnum
    # Optional without a default object: graphql-core cannot write `{}` of a JSON scalar as a
    # literal, and a default it cannot write breaks every introspecting tool. Left out or null
    # means {} (__post_init__), as the `= {}` default did.
    settings: JSON | None = strawberry.field(
        default=None,
        description="CREATE_TASK: {title, description?, assigneeId? | assignToJobAssignees?, "
        "dueInDays?}; MOVE_JOB: {stageId}; ARCHIVE_JOB: {}. Left out or null: {}.",
    )
    enabled: bool = True
    conditions: JSON | None = strawberry.field(
        default=None,
        description="All given must hold: {clientTagsAll, clientTagsNone, jobTagsAll: [tag], "
        "priorities: [Priority]}.",
    )
    trigger: TriggerEnum = AutomationTrigger.STAGE_ENTRY
    trigger_days: int | None = strawberry.field(
        default=None,
        description="Required (1 to 3650) for DAYS_IN_STAGE, DAYS_BEFORE_DUE and "
        "DAYS_AFTER_DUE; null for the others.",
    )

    def __post_init__(self) -> None:
        if self.settings is None:
            self.settings = JSON({})


@strawberry.input
class UpdateAutomationInput:
    id: ID
    settings: JSON | None = None
    enabled: bool | None = None
    conditions: JSON | None = None
    trigger: TriggerEnum | None = strawberry.field(
        default=None, description="A new trigger keeps triggerDays if it takes days."
    )
    trigger_days: int | None = None


@strawberry.input
class DeleteAutomationInput:
    id: ID


@strawberry.input
class RetryAutomationRunInput:
    id: ID


@strawberry.input
class SubmitOrganizerInput:
    id: ID
    answers: list[str]


@strawberry.input
class SendMessageInput:
    job_id: ID
    subject: str = strawberry.field(
        description="One line, at most 500 characters; {client.name}, {job.title} and "
        "{job.dueDate} are filled in."
    )
    body: str = strawberry.field(
        description="Plain text, at most 20,000 characters, with the same placeholders."
    )


@strawberry.input
class PayInvoiceInput:
    id: ID


ATOMIC = "true: all or nothing (one failed item refuses the call, BULK_REFUSED, nothing written)."


@strawberry.input
class BulkMoveJobsInput:
    job_ids: list[ID] = strawberry.field(description="At most 100, each once.")
    stage_id: ID = strawberry.field(description="A stage of the jobs' pipeline; each goes last.")
    atomic: bool = strawberry.field(default=False, description=ATOMIC)


@strawberry.input
class BulkUpdateJobsInput:
    job_ids: list[ID] = strawberry.field(description="At most 100, each once.")
    add_tags: list[str] | None = strawberry.field(
        default=None, description="Added to each job's tags."
    )
    remove_tags: list[str] | None = strawberry.field(
        default=None, description="Removed from each job's tags."
    )
    assignee_ids: list[ID] | None = strawberry.field(
        default=UNSET, description="Each job's assignees become these; null or []: none."
    )
    priority: PriorityEnum | None = None
    due_date: date | None = strawberry.field(default=UNSET, description="null clears it.")
    custom_fields: JSON | None = strawberry.field(
        default=None,
        description="Merged over each job's values as updateJob merges them (null clears a key).",
    )
    atomic: bool = strawberry.field(default=False, description=ATOMIC)


@strawberry.input
class BulkArchiveJobsInput:
    job_ids: list[ID] = strawberry.field(description="At most 100, each once.")
    atomic: bool = strawberry.field(default=False, description=ATOMIC)


@strawberry.input
class CreateJobsInput:
    client_ids: list[ID] = strawberry.field(description="At most 500, each once: a job each.")
    pipeline_id: ID | None = strawberry.field(
        default=None, description="Jobs in its first stage; or templateId, not both."
    )
    template_id: ID | None = strawberry.field(
        default=None, description="Jobs as createJobFromTemplate makes them."
    )
    title: str | None = strawberry.field(
        default=None, description="Required with pipelineId; left out with templateId."
    )
    period: str | None = strawberry.field(
        default=None, description="The jobs' period (2026, 2026-Q1, 2026-03, 2026-W05, 2026-03-15)."
    )
    atomic: bool = strawberry.field(default=False, description=ATOMIC)
