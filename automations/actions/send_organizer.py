"""SEND_ORGANIZER: a questionnaire for the client, linked to the job and the client."""

from __future__ import annotations

from typing import Any

from models import Job, Stage
from workflow import documents, validation
from workflow.errors import invalid
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    if set(settings) - {"title", "questions"}:
        raise invalid("settings", "SEND_ORGANIZER takes title and questions")
    questions = settings.get("questions")
    if not isinstance(questions, list) or not 1 <= len(questions) <= 200:
        raise invalid("settings.questions", "between 1 and 200 questions")
    return {
        "title": validation.name(str(settings.get("title") or ""), "settings.title"),
        "questions": [validation.name(str(q), "settings.questions", 1000) for q in questions],
    }


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    organizer = await documents.send_organizer(
        scope, job.id, settings["title"], settings["questions"]
    )
    return {"organizerId": organizer.id}
