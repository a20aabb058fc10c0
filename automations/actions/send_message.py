"""SEND_MESSAGE: a message to the client, from templates with {client.name}, {job.title},
{job.dueDate}, {job.customFields.KEY} and {client.customFields.KEY} (the firm's custom fields);
a template naming anything else is refused when the automation is saved."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import CustomFieldEntity, Job, Stage
from workflow import custom_fields, documents
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
    custom: set[str] = set()
    if "customFields." in subject + body:  # the definitions, read only when named
        custom = await custom_fields.placeholder_names(
            scope, CustomFieldEntity.JOB, CustomFieldEntity.CLIENT
        )
    return {
        "subject": documents.check_template(subject, "settings.subject", custom),
        "body": documents.check_template(body, "settings.body", custom),
    }


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    message = await documents.send_message(scope, job.id, settings["subject"], settings["body"])
    return {"messageId": message.id}
