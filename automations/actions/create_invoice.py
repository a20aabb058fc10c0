"""CREATE_INVOICE: an invoice for the client, linked to the job, UNPAID until paid."""

from __future__ import annotations

from typing import Any

from automations import settings as typed
from models import Job, Stage
from workflow import documents
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    typed.only(settings, "CREATE_INVOICE", ("currency", "lineItems"))
    return {
        "currency": documents.check_currency(settings.get("currency")),
        "lineItems": documents.check_line_items(settings.get("lineItems")),
    }


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    invoice = await documents.create_invoice(
        scope, job.id, settings["currency"], settings["lineItems"]
    )
    return {"invoiceId": invoice.id}
