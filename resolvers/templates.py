"""Job templates: the query, their mutations, and jobs made from them."""

from __future__ import annotations

from typing import Any

import strawberry

from models import JobTemplate, Priority
from resolvers.common import delete, mutate, payload, provided
from schema.connection import Connection, root_connection
from schema.context import Info
from schema.payloads import DeletePayload, JobPayload
from schema.templates import (
    CreateJobFromTemplateInput,
    CreateJobTemplateInput,
    DeleteJobTemplateInput,
    DueDateRuleInput,
    JobTemplatePayload,
    JobTemplateType,
    TaskTemplateInput,
    UpdateJobTemplateInput,
)
from schema.types import JobType
from workflow import periods, templates
from workflow.errors import invalid
from workflow.global_ids import decode_id, decode_optional
from workflow.scope import Scope
from workflow.templates import CHECKLIST_MAX, JOB_ASSIGNEES, ChecklistItem, DueRule

_template = payload(JobTemplatePayload, "job_template", JobTemplateType.from_model)
_job = payload(JobPayload, "job", JobType.from_model)


def _checklist(items: list[TaskTemplateInput] | None) -> list[ChecklistItem]:
    if items is None:
        return []
    if len(items) > CHECKLIST_MAX:  # before decoding every id of an oversized list
        raise invalid("checklist", f"a checklist has at most {CHECKLIST_MAX} tasks")
    checklist = []
    for number, item in enumerate(items, 1):
        if item.assign_to_job_assignees and item.assignee_id is not None:
            raise invalid(
                "checklist",
                f"checklist task {number}: assigneeId or assignToJobAssignees, not both",
            )
        assignee: Any = decode_optional(item.assignee_id, "User", "checklist")
        if item.assign_to_job_assignees:
            assignee = JOB_ASSIGNEES
        checklist.append(ChecklistItem(item.title, item.description, assignee, item.due_in_days))
    return checklist


def _rule(rule: DueDateRuleInput | None) -> DueRule | None:
    if rule is None:
        return None
    return DueRule(rule.days_after_period_end, rule.month, rule.day)


def _users(ids: list[strawberry.ID] | None) -> list[int]:
    if ids is not None and len(ids) > templates.ASSIGNEES_MAX:
        raise invalid("assigneeIds", f"a template has at most {templates.ASSIGNEES_MAX} assignees")
    return [decode_id(i, "User", "assigneeIds") for i in ids or []]


@strawberry.type
class TemplateQueries:
    @strawberry.field(description="The firm's job templates, oldest first.")
    async def job_templates(
        self,
        info: Info,
        pipeline_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[JobTemplateType]:
        queryset = info.context.scope.query(JobTemplate)
        if (pk := decode_optional(pipeline_id, "Pipeline", "pipelineId")) is not None:
            queryset = queryset.filter(pipeline_id=pk)
        return await root_connection(queryset, first, after, JobTemplateType.from_model)


@strawberry.type
class TemplateMutations:
    @strawberry.mutation
    async def create_job_template(
        self, info: Info, input: CreateJobTemplateInput
    ) -> JobTemplatePayload:
        return await mutate(
            info,
            _template,
            lambda scope: templates.create_job_template(
                scope,
                input.name,
                decode_id(input.pipeline_id, "Pipeline", "pipelineId"),
                input.title_template,
                stage_id=decode_optional(input.stage_id, "Stage", "stageId"),
                tags=input.tags,
                priority=input.priority or Priority.NORMAL,
                assignee_ids=_users(input.assignee_ids),
                checklist=_checklist(input.checklist),
                due_rule=_rule(input.due_date_rule),
            ),
        )

    @strawberry.mutation
    async def update_job_template(
        self, info: Info, input: UpdateJobTemplateInput
    ) -> JobTemplatePayload:
        async def update(scope: Scope) -> JobTemplate:
            changes = provided(
                name=input.name,
                title_template=input.title_template,
                tags=input.tags,
                priority=input.priority,
            )
            for key, field in (("name", "name"), ("title_template", "titleTemplate")):
                if key in changes and changes[key] is None:
                    raise invalid(field, f"{field} cannot be null")
            if input.pipeline_id is not strawberry.UNSET:
                changes["pipeline_id"] = decode_id(
                    input.pipeline_id or "", "Pipeline", "pipelineId"
                )
            if input.stage_id is not strawberry.UNSET:
                changes["stage_id"] = decode_optional(input.stage_id, "Stage", "stageId")
            if input.assignee_ids is not strawberry.UNSET:
                changes["assignee_ids"] = _users(input.assignee_ids)
            if input.checklist is not strawberry.UNSET:
                changes["checklist"] = _checklist(input.checklist)
            if input.due_date_rule is not strawberry.UNSET:
                changes["due_rule"] = _rule(input.due_date_rule)
            return await templates.update_job_template(
                scope, decode_id(input.id, "JobTemplate", "id"), **changes
            )

        return await mutate(info, _template, update)

    @strawberry.mutation(description="Delete a job template; the jobs made from it stay.")
    async def delete_job_template(self, info: Info, input: DeleteJobTemplateInput) -> DeletePayload:
        return await delete(info, input.id, "JobTemplate", templates.delete_job_template)

    @strawberry.mutation(
        description="Make a job from a template for a client and a period, in the template's "
        "stage (or its pipeline's first), last in that stage."
    )
    async def create_job_from_template(
        self, info: Info, input: CreateJobFromTemplateInput
    ) -> JobPayload:
        return await mutate(
            info,
            _job,
            lambda scope: templates.create_job_from_template_ids(
                scope,
                decode_id(input.template_id, "JobTemplate", "templateId"),
                decode_id(input.client_id, "Client", "clientId"),
                None if input.period is None else periods.parse(input.period, "period"),
            ),
        )
