"""Job templates in the graph: the JobTemplate type, its inputs and payload."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import ID, UNSET

from models import JobTemplate
from schema.context import Info
from schema.enums import PriorityEnum
from schema.errors import UserError
from schema.node import Node, encode_id
from schema.types import PipelineType, StageType, UserType, referenced
from workflow.templates import JOB_ASSIGNEES, ChecklistItem, checklist_of


@strawberry.type(name="TaskTemplate", description="A task every job made from the template gets.")
class TaskTemplateType:
    title: str
    description: str
    assign_to_job_assignees: bool = strawberry.field(
        description="One task for each of the job's assignees (one unassigned if it has none)."
    )
    due_in_days: int | None = strawberry.field(
        description="The task is due this many days after the job is made; null: no due date."
    )
    assignee_pk: strawberry.Private[int | None]

    @classmethod
    def from_item(cls, item: ChecklistItem) -> TaskTemplateType:
        return cls(
            title=item.title,
            description=item.description,
            assign_to_job_assignees=item.assignee == JOB_ASSIGNEES,
            due_in_days=item.due_in_days,
            assignee_pk=item.assignee if isinstance(item.assignee, int) else None,
        )

    @strawberry.field
    async def assignee(self, info: Info) -> UserType | None:
        if self.assignee_pk is None:
            return None
        user = await info.context.loaders.user.load(self.assignee_pk)
        return UserType.from_model(user) if user else None


@strawberry.type(
    name="DueDateRule",
    description="daysAfterPeriodEnd, or month and day: the first such date on or after the "
    "period's last day (without a period: the day the job is made).",
)
class DueDateRuleType:
    days_after_period_end: int | None
    month: int | None
    day: int | None


@strawberry.type(name="JobTemplate")
class JobTemplateType(Node):
    name: str
    title_template: str = strawberry.field(
        description="The title of the jobs made from it, with {client.name}, {period}, "
        "{period.year}, {period.quarter}, {period.month}, {period.monthName}."
    )
    tags: list[str]
    priority: PriorityEnum
    checklist: list[TaskTemplateType]
    due_date_rule: DueDateRuleType | None = strawberry.field(
        description="How the due date of a job made from it is set; null: no due date."
    )
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    pipeline_pk: strawberry.Private[int]
    stage_pk: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, template: JobTemplate) -> JobTemplateType:
        rule = None
        if template.due_days_after_period is not None or template.due_month is not None:
            rule = DueDateRuleType(
                days_after_period_end=template.due_days_after_period,
                month=template.due_month,
                day=template.due_day,
            )
        return cls(
            id=encode_id("JobTemplate", template.id),
            name=template.name,
            title_template=template.title_template,
            tags=template.tags,
            priority=template.priority,
            checklist=[TaskTemplateType.from_item(item) for item in checklist_of(template)],
            due_date_rule=rule,
            created_at=template.created_at,
            updated_at=template.updated_at,
            pk=template.id,
            pipeline_pk=template.pipeline_id,
            stage_pk=template.stage_id,
        )

    @strawberry.field
    async def pipeline(self, info: Info) -> PipelineType:
        pipeline = await info.context.loaders.pipeline.load(self.pipeline_pk)
        return PipelineType.from_model(referenced(pipeline))

    @strawberry.field(description="The stage its jobs start in; null: the pipeline's first.")
    async def stage(self, info: Info) -> StageType | None:
        if self.stage_pk is None:
            return None
        stage = await info.context.loaders.stage.load(self.stage_pk)
        return StageType.from_model(stage) if stage else None

    @strawberry.field(description="The assignees of the jobs made from it.")
    async def assignees(self, info: Info) -> list[UserType]:
        users = await info.context.loaders.assignees_by_template.load(self.pk)
        return [UserType.from_model(user) for user in users]


@strawberry.input
class TaskTemplateInput:
    title: str
    description: str = ""
    assignee_id: ID | None = None
    assign_to_job_assignees: bool = strawberry.field(
        default=False, description="Instead of assigneeId: one task for each job assignee."
    )
    due_in_days: int | None = None


@strawberry.input(description="Either daysAfterPeriodEnd, or month and day.")
class DueDateRuleInput:
    days_after_period_end: int | None = None
    month: int | None = None
    day: int | None = None


@strawberry.input
class CreateJobTemplateInput:
    name: str
    pipeline_id: ID
    title_template: str
    stage_id: ID | None = strawberry.field(default=None, description="Default: the first stage.")
    tags: list[str] | None = None
    priority: PriorityEnum | None = None
    assignee_ids: list[ID] | None = None
    checklist: list[TaskTemplateInput] | None = None
    due_date_rule: DueDateRuleInput | None = None


@strawberry.input
class UpdateJobTemplateInput:
    id: ID
    name: str | None = UNSET
    pipeline_id: ID | None = strawberry.field(
        default=UNSET, description="Without stageId, its jobs then start in its first stage."
    )
    stage_id: ID | None = strawberry.field(default=UNSET, description="null: the first stage.")
    title_template: str | None = UNSET
    tags: list[str] | None = UNSET
    priority: PriorityEnum | None = UNSET
    assignee_ids: list[ID] | None = UNSET
    checklist: list[TaskTemplateInput] | None = UNSET
    due_date_rule: DueDateRuleInput | None = strawberry.field(
        default=UNSET, description="null: no due date."
    )


@strawberry.input
class DeleteJobTemplateInput:
    id: ID


@strawberry.input
class CreateJobFromTemplateInput:
    template_id: ID
    client_id: ID
    period: str | None = strawberry.field(
        default=None,
        description="The period the job is for: 2026 (a year), 2026-Q1, 2026-03, 2026-W05 (an "
        "ISO week) or 2026-03-15 (a day).",
    )


@strawberry.type
class JobTemplatePayload:
    job_template: JobTemplateType | None
    errors: list[UserError]
