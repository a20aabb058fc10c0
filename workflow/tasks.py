"""Tasks of a job. Each change is logged on the job's pipeline as TASK_CHANGED."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from models import EventType, Job, JobStatus, Task, User
from workflow import validation
from workflow.automove import auto_move_if_done
from workflow.errors import DomainError, ErrorCode
from workflow.scope import Scope
from workflow.unit import Change, change


async def _assignee(scope: Scope, user_id: int | None) -> int | None:
    if user_id is not None:
        await scope.get(User, user_id, field="assigneeId")
    return user_id


async def _record(unit: Change, job: Job, task: Task, action: str, **details: Any) -> None:
    await unit.record(
        job.pipeline_id,
        EventType.TASK_CHANGED,
        job,
        changes={"task": task.id, "action": action, **details},
    )


async def create_task(
    scope: Scope,
    job_id: int,
    title: str,
    description: str = "",
    assignee_id: int | None = None,
    due_date: date | None = None,
) -> Task:
    clean_title = validation.name(title, "title")
    clean_description = validation.text(description, "description")
    async with change(scope) as unit:
        job = await unit.lock_job(job_id)
        if job.status == JobStatus.ARCHIVED:
            raise DomainError(ErrorCode.JOB_ARCHIVED, "the job is archived", "jobId")
        assignee_id = await _assignee(scope, assignee_id)
        return await add_task(unit, job, clean_title, clean_description, assignee_id, due_date)


async def add_task(
    unit: Change,
    job: Job,
    title: str,
    description: str,
    assignee_id: int | None,
    due_date: date | None,
) -> Task:
    """Write a task of a locked job, with checked values, and log it (createTask, checklists
    of jobs made from templates)."""
    task = await Task.create(
        firm_id=job.firm_id,
        job_id=job.id,
        title=title,
        description=description,
        assignee_id=assignee_id,
        due_date=due_date,
        stage_id=job.stage_id,
    )
    await _record(unit, job, task, "created", title=task.title)
    return task


async def update_task(scope: Scope, task_id: int, **changes: Any) -> Task:
    """Change any of title, description, assignee_id, due_date."""
    if "title" in changes:
        changes["title"] = validation.name(changes["title"], "title")
    if "description" in changes:
        changes["description"] = validation.text(changes["description"] or "", "description")
    async with change(scope) as unit:
        task, job = await unit.lock_item(Task, task_id)
        if "assignee_id" in changes:
            await _assignee(scope, changes["assignee_id"])
        changed = sorted(k for k, v in changes.items() if getattr(task, k) != v)
        if not changed:
            return task
        task.update_from_dict({k: changes[k] for k in changed})
        await task.save(update_fields=[*changed, "updated_at"])
        await _record(unit, job, task, "updated", fields=changed)
    return task


async def set_task_done(scope: Scope, task_id: int, done: bool) -> Task:
    """Complete (done=True) or reopen a task; doing what is already so changes nothing."""
    async with change(scope) as unit:
        task, job = await unit.lock_item(Task, task_id)
        if task.done == done:
            return task
        task.done = done
        task.done_at = datetime.now(UTC) if done else None
        await task.save(update_fields=["done", "done_at", "updated_at"])
        if done:
            unit.defer_sequences()  # an auto-move may write a rank after the event (workflow.unit)
        await _record(unit, job, task, "completed" if done else "reopened")
        if done:
            await auto_move_if_done(unit, job)
    return task


async def delete_task(scope: Scope, task_id: int) -> int:
    """Delete a task; returns the id of its job."""
    async with change(scope) as unit:
        task, job = await unit.lock_item(Task, task_id)
        await _record(unit, job, task, "deleted", title=task.title)
        await task.delete()
    return task.job_id
