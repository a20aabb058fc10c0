"""Tasks: mutations (tasks are read through Job.tasks and node)."""

from __future__ import annotations

import strawberry

from models import Task
from resolvers.common import attempt, provided
from schema.context import Info
from schema.inputs import CreateTaskInput, TaskIdInput, UpdateTaskInput
from schema.node import decode_id, decode_optional
from schema.payloads import DeleteTaskPayload, TaskPayload
from schema.types import JobType, TaskType
from workflow import tasks


def _payload(task: Task | None, errors: list) -> TaskPayload:
    return TaskPayload(task=TaskType.from_model(task) if task else None, errors=errors)


@strawberry.type
class TaskMutations:
    @strawberry.mutation
    async def create_task(self, info: Info, input: CreateTaskInput) -> TaskPayload:
        scope = info.context.scope
        return _payload(
            *await attempt(
                lambda: tasks.create_task(
                    scope,
                    decode_id(input.job_id, "Job", "jobId"),
                    input.title,
                    input.description or "",
                    decode_optional(input.assignee_id, "User", "assigneeId"),
                    input.due_date,
                )
            )
        )

    @strawberry.mutation
    async def update_task(self, info: Info, input: UpdateTaskInput) -> TaskPayload:
        scope = info.context.scope

        async def update() -> Task:
            changes = provided(
                title=input.title, description=input.description, due_date=input.due_date
            )
            if changes.get("title", "") is None:
                changes["title"] = ""  # a title cannot be cleared: validation says so
            if input.assignee_id is not strawberry.UNSET:
                changes["assignee_id"] = decode_optional(input.assignee_id, "User", "assigneeId")
            return await tasks.update_task(scope, decode_id(input.id, "Task", "id"), **changes)

        return _payload(*await attempt(update))

    @strawberry.mutation
    async def complete_task(self, info: Info, input: TaskIdInput) -> TaskPayload:
        scope = info.context.scope
        return _payload(
            *await attempt(
                lambda: tasks.set_task_done(scope, decode_id(input.id, "Task", "id"), True)
            )
        )

    @strawberry.mutation
    async def reopen_task(self, info: Info, input: TaskIdInput) -> TaskPayload:
        scope = info.context.scope
        return _payload(
            *await attempt(
                lambda: tasks.set_task_done(scope, decode_id(input.id, "Task", "id"), False)
            )
        )

    @strawberry.mutation
    async def delete_task(self, info: Info, input: TaskIdInput) -> DeleteTaskPayload:
        scope = info.context.scope
        job_id, errors = await attempt(
            lambda: tasks.delete_task(scope, decode_id(input.id, "Task", "id"))
        )
        job = await info.context.loaders.job.load(job_id) if job_id else None
        return DeleteTaskPayload(
            deleted_id=input.id if job_id else None,
            job=JobType.from_model(job) if job else None,
            errors=errors,
        )
