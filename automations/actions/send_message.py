"""SEND_MESSAGE: a message to the client, from templates with {client.name}, {job.title},
{job.dueDate}; a template naming anything else is refused when the automation is saved."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Stage
from workflow import documents
from workflow.errors import invalid
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for SEND_MESSAGE, as `check` leaves them."""

    subject: str
    body: str


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "SEND_MESSAGE", typed.keys(Settings))
    subject = typed.name(settings, "subject", 500)
    body = typed.text(settings, "body")
    if not body.strip():
        raise invalid("settings.body", "settings.body must not be empty")
    return {
        "subject": documents.check_template(subject, "settings.subject"),
        "body": documents.check_template(body, "settings.body"),
    }


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    message = await documents.send_message(scope, job.id, settings["subject"], settings["body"])
    return {"messageId": message.id}
