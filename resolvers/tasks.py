"""Tasks: mutations (tasks are read through Job.tasks and node)."""

from __future__ import annotations

import strawberry

from models import Job, Task
from resolvers.common import mutate, payload, provided
from schema.context import Info
from schema.errors import UserError
from schema.inputs import CreateTaskInput, TaskIdInput, UpdateTaskInput
from schema.payloads import DeleteTaskPayload, TaskPayload
from schema.types import JobType, TaskType
from workflow import tasks
from workflow.global_ids import decode_id, decode_optional
from workflow.scope import Scope

_task = payload(TaskPayload, "task", TaskType.from_model)


@strawberry.type
class TaskMutations:
    @strawberry.mutation
    async def create_task(self, info: Info, input: CreateTaskInput) -> TaskPayload:
        return await mutate(
            info,
            _task,
            lambda scope: tasks.create_task(
                scope,
                decode_id(input.job_id, "Job", "jobId"),
                input.title,
                input.description or "",
                decode_optional(input.assignee_id, "User", "assigneeId"),
                input.due_date,
            ),
        )

    @strawberry.mutation
    async def update_task(self, info: Info, input: UpdateTaskInput) -> TaskPayload:
        async def update(scope: Scope) -> Task:
            changes = provided(
                title=input.title, description=input.description, due_date=input.due_date
            )
            if changes.get("title", "") is None:
                changes["title"] = ""  # a title cannot be cleared: validation says so
            if input.assignee_id is not strawberry.UNSET:
                changes["assignee_id"] = decode_optional(input.assignee_id, "User", "assigneeId")
            return await tasks.update_task(scope, decode_id(input.id, "Task", "id"), **changes)

        return await mutate(info, _task, update)

    @strawberry.mutation
    async def complete_task(self, info: Info, input: TaskIdInput) -> TaskPayload:
        return await mutate(
            info,
            _task,
            lambda scope: tasks.set_task_done(scope, decode_id(input.id, "Task", "id"), True),
        )

    @strawberry.mutation
    async def reopen_task(self, info: Info, input: TaskIdInput) -> TaskPayload:
        return await mutate(
            info,
            _task,
            lambda scope: tasks.set_task_done(scope, decode_id(input.id, "Task", "id"), False),
        )

    @strawberry.mutation
    async def delete_task(self, info: Info, input: TaskIdInput) -> DeleteTaskPayload:
        async def delete(scope: Scope) -> Job | None:
            job_id = await tasks.delete_task(scope, decode_id(input.id, "Task", "id"))
            return await info.context.loaders.job.load(job_id)

        def deleted(job: Job | None, errors: list[UserError]) -> DeleteTaskPayload:
            return DeleteTaskPayload(
                deleted_id=None if errors else input.id,
                job=JobType.from_model(job) if job else None,
                errors=errors,
            )

        return await mutate(info, deleted, delete)
