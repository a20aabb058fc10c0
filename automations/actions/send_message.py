"""SEND_MESSAGE: a message to the client, from templates with {client.name}, {job.title},
{job.dueDate}; a template naming anything else is refused when the automation is saved."""

from __future__ import annotations

from typing import Any

from models import Job, Stage
from workflow import documents, validation
from workflow.errors import invalid
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    if set(settings) - {"subject", "body"}:
        raise invalid("settings", "SEND_MESSAGE takes subject and body")
    subject = validation.name(str(settings.get("subject") or ""), "settings.subject", 500)
    body = validation.text(str(settings.get("body") or ""), "settings.body")
    if not body.strip():
        raise invalid("settings.body", "settings.body must not be empty")
    return {"subject": documents.check_template(subject, "settings.subject"),
            "body": documents.check_template(body, "settings.body")}


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    message = await documents.send_message(scope, job.id, settings["subject"], settings["body"])
    return {"messageId": message.id}
