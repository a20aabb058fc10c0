"""CREATE_INVOICE: an invoice for the client, linked to the job, UNPAID until paid, emailed to
its contacts; with remindEveryDays and maxReminders (both or neither), reminded every N days, at
most M times, until it is paid."""

from __future__ import annotations

from typing import Any

from automations import settings as typed
from models import Job, Stage
from workflow import documents
from workflow.scope import Scope


class Settings(typed.Reminders):
    """The settings kept for CREATE_INVOICE, as `check` leaves them."""

    currency: str
    lineItems: list[dict[str, Any]]


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "CREATE_INVOICE", typed.keys(Settings))
    checked: Settings = {
        "currency": documents.check_currency(settings.get("currency")),
        "lineItems": documents.check_line_items(settings.get("lineItems")),
    }
    if schedule := typed.reminders(settings):
        checked["remindEveryDays"], checked["maxReminders"] = schedule
    return checked


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    invoice = await documents.create_invoice(
        scope,
        job.id,
        settings["currency"],
        settings["lineItems"],
        settings.get("remindEveryDays"),
        settings.get("maxReminders"),
    )
    return {"invoiceId": invoice.id}
