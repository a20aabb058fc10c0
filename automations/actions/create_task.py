"""CREATE_TASK: a task for the job, for a team member, or one for each of the job's assignees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from automations.settings import optional_record
from models import Job, Stage, User
from workflow import tasks, validation
from workflow.errors import invalid
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - {"title", "description", "assigneeId", "assignToJobAssignees",
                               "dueInDays"}
    if unknown:
        raise invalid("settings", f"unknown settings: {', '.join(sorted(unknown))}")
    title = validation.name(str(settings.get("title") or ""), "settings.title")
    description = validation.text(str(settings.get("description") or ""), "settings.description")
    due = settings.get("dueInDays")
    if due is not None and (not isinstance(due, int) or not 0 <= due <= 3650):
        raise invalid("settings.dueInDays", "settings.dueInDays must be between 0 and 3650")
    assignee = await optional_record(scope, settings, "assigneeId", User)
    return {"title": title, "description": description,
            "assigneeId": assignee.id if assignee else None,
            "assignToJobAssignees": bool(settings.get("assignToJobAssignees")), "dueInDays": due}


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    assignees: list[int | None] = [settings.get("assigneeId")]
    if assignees == [None] and settings.get("assignToJobAssignees"):
        assignees = [u.id for u in await job.assignees.all().order_by("id")] or [None]
    due = settings.get("dueInDays")
    due_date = (datetime.now(UTC) + timedelta(days=due)).date() if due is not None else None
    created = [
        await tasks.create_task(
            scope, job.id, settings["title"], settings.get("description") or "", assignee,
            due_date,
        )
        for assignee in assignees
    ]
    return {"taskIds": [task.id for task in created]}
