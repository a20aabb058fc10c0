"""SEND_ORGANIZER: a questionnaire for the client, linked to the job and the client, emailed
to its contacts; with remindEveryDays and maxReminders (both or neither), reminded every N days,
at most M times, until it is submitted."""

from __future__ import annotations

from typing import Any

from automations import settings as typed
from models import Job, Stage
from workflow import documents, validation
from workflow.errors import invalid
from workflow.scope import Scope


class Settings(typed.Reminders):
    """The settings kept for SEND_ORGANIZER, as `check` leaves them."""

    title: str
    questions: list[str]


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "SEND_ORGANIZER", typed.keys(Settings))
    title = typed.name(settings, "title")
    questions = typed.strings(settings.get("questions"), "settings.questions", 200)
    if not questions:
        raise invalid("settings.questions", "between 1 and 200 questions")
    checked: Settings = {
        "title": title,
        "questions": [validation.name(q, "settings.questions", 1000) for q in questions],
    }
    if schedule := typed.reminders(settings):
        checked["remindEveryDays"], checked["maxReminders"] = schedule
    return checked


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    organizer = await documents.send_organizer(
        scope,
        job.id,
        settings["title"],
        settings["questions"],
        settings.get("remindEveryDays"),
        settings.get("maxReminders"),
    )
    return {"organizerId": organizer.id}
