"""CREATE_TASK: a task for the job, for a team member, or one for each of the job's assignees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Stage, User
from workflow import clock, tasks
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for CREATE_TASK, as `check` leaves them."""

    title: str
    description: str
    assigneeId: int | None
    assignToJobAssignees: bool
    dueInDays: int | None


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "CREATE_TASK", typed.keys(Settings))
    title = typed.name(settings, "title")
    description = typed.text(settings, "description")
    due = typed.whole_number(settings, "dueInDays", 0, 3650)
    to_job_assignees = typed.flag(settings, "assignToJobAssignees")
    assignee = await typed.optional_record(scope, settings, "assigneeId", User)
    return {
        "title": title,
        "description": description,
        "assigneeId": assignee.id if assignee else None,
        "assignToJobAssignees": to_job_assignees,
        "dueInDays": due,
    }


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    assignees: list[int | None] = [settings.get("assigneeId")]
    if assignees == [None] and settings.get("assignToJobAssignees"):
        assignees = [u.id for u in await job.assignees.all().order_by("id")] or [None]
    due = settings.get("dueInDays")
    due_date = (clock.now() + timedelta(days=due)).date() if due is not None else None
    created = [
        await tasks.create_task(
            scope,
            job.id,
            settings["title"],
            settings.get("description") or "",
            assignee,
            due_date,
        )
        for assignee in assignees
    ]
    return {"taskIds": [task.id for task in created]}
