"""CREATE_INVOICE: an invoice for the client, linked to the job, UNPAID until paid."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Stage
from workflow import documents
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for CREATE_INVOICE, as `check` leaves them."""

    currency: str
    lineItems: list[dict[str, Any]]


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "CREATE_INVOICE", typed.keys(Settings))
    return {
        "currency": documents.check_currency(settings.get("currency")),
        "lineItems": documents.check_line_items(settings.get("lineItems")),
    }


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    invoice = await documents.create_invoice(
        scope, job.id, settings["currency"], settings["lineItems"]
    )
    return {"invoiceId": invoice.id}
