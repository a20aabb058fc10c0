"""Organizers, messages and invoices of a job: sent by automations, answered or paid later.

Each change is one transaction with its JobEvent; submitting an organizer or paying an invoice
may complete the stage's work and move the job on (see workflow.automove).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeGuard

from models import (
    Client,
    EventType,
    Invoice,
    InvoiceStatus,
    Job,
    Message,
    Organizer,
    OrganizerStatus,
)
from workflow import validation
from workflow.automove import auto_move_if_done
from workflow.errors import invalid
from workflow.scope import Scope
from workflow.unit import change

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
FIELDS = {"client.name", "job.title", "job.dueDate"}
CURRENCY = re.compile(r"^[A-Z]{3}$")
# Invoice.totalCents is a GraphQL Int (32 bits, the contract): no invoice may total more than
# it can answer, $21,474,836.47, so amounts are refused when saved rather than unreadable later.
MAX_INVOICE_TOTAL_CENTS = 2**31 - 1


def check_template(template: str, field: str) -> str:
    """A subject or body whose placeholders are all known: refused when saved, not when run."""
    if unknown := {name for name in PLACEHOLDER.findall(template) if name not in FIELDS}:
        raise invalid(field, f"unknown placeholders {sorted(unknown)}; use {sorted(FIELDS)}")
    return template


def render(template: str, job: Job, client: Client) -> str:
    values = {
        "client.name": client.name,
        "job.title": job.title,
        "job.dueDate": job.due_date.isoformat() if job.due_date else "",
    }
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


LINE_ITEM_KEYS = ("description", "quantity", "unitPriceCents")


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no number


def check_line_items(items: Any) -> list[dict[str, Any]]:
    """Line items of exactly their keys and types (never coerced), totalling at most
    MAX_INVOICE_TOTAL_CENTS."""
    field = "settings.lineItems"
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        raise invalid(field, "between 1 and 100 line items")
    checked = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise invalid(field, f"line item {number} is not an object")
        if unknown := set(item) - set(LINE_ITEM_KEYS):
            raise invalid(
                field,
                f"line item {number} takes {', '.join(LINE_ITEM_KEYS)}; "
                f"unknown: {', '.join(sorted(unknown))}",
            )
        description, price = item.get("description"), item.get("unitPriceCents")
        quantity = 1 if item.get("quantity") is None else item["quantity"]
        if not isinstance(description, str):
            raise invalid(field, f"line item {number}: description must be a string")
        if not _whole(quantity) or not 1 <= quantity <= 10_000:
            raise invalid(
                field, f"line item {number}: quantity must be a whole number from 1 to 10000"
            )
        if not _whole(price) or not 0 <= price <= MAX_INVOICE_TOTAL_CENTS:
            raise invalid(
                field,
                f"line item {number}: unitPriceCents must be a whole number "
                f"of cents from 0 to {MAX_INVOICE_TOTAL_CENTS}",
            )
        checked.append(
            {
                "description": validation.name(description, field),
                "quantity": quantity,
                "unitPriceCents": price,
            }
        )
    invoice_total(checked, field)
    return checked


def invoice_total(line_items: list[dict[str, Any]], field: str = "lineItems") -> int:
    """The total of checked line items, refused (INVALID_INPUT) above MAX_INVOICE_TOTAL_CENTS."""
    total: int = sum(item["quantity"] * item["unitPriceCents"] for item in line_items)
    if total > MAX_INVOICE_TOTAL_CENTS:
        raise invalid(
            field,
            f"an invoice may total at most {MAX_INVOICE_TOTAL_CENTS} cents "
            f"(21,474,836.47); these line items total {total}",
        )
    return total


def check_currency(currency: Any) -> str:
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        raise invalid("settings.currency", "settings.currency is a three-letter code, e.g. USD")
    return currency


async def send_organizer(scope: Scope, job_id: int, title: str, questions: list[str]) -> Organizer:
    async with change(scope) as unit:
        job = await unit.lock_job(job_id)
        organizer = await Organizer.create(
            firm_id=scope.firm_id,
            job_id=job.id,
            client_id=job.client_id,
            stage_id=job.stage_id,
            title=title,
            questions=questions,
        )
        await unit.record(
            job.pipeline_id,
            EventType.ORGANIZER_CHANGED,
            job,
            changes={"organizer": organizer.id, "action": "sent"},
        )
    return organizer


async def submit_organizer(scope: Scope, organizer_id: int, answers: list[str]) -> Organizer:
    """The client's answers; may complete the stage's work (auto-move)."""
    answers = [validation.text(a, "answers") for a in answers]
    async with change(scope) as unit:
        organizer, job = await unit.lock_item(Organizer, organizer_id)
        if organizer.status == OrganizerStatus.SUBMITTED:
            raise invalid("id", "the organizer is already submitted")
        if len(answers) != len(organizer.questions):
            raise invalid("answers", f"{len(organizer.questions)} answers are expected")
        organizer.status, organizer.answers = OrganizerStatus.SUBMITTED, answers
        organizer.submitted_at = datetime.now(UTC)
        await organizer.save()
        await unit.record(
            job.pipeline_id,
            EventType.ORGANIZER_CHANGED,
            job,
            changes={"organizer": organizer.id, "action": "submitted"},
        )
        await auto_move_if_done(unit, job)
    return organizer


async def send_message(scope: Scope, job_id: int, subject: str, body: str) -> Message:
    async with change(scope) as unit:
        job = await unit.lock_job(job_id)
        client = await scope.get(Client, job.client_id)
        message = await Message.create(
            firm_id=scope.firm_id,
            job_id=job.id,
            client_id=client.id,
            subject=render(subject, job, client)[:500],
            body=render(body, job, client),
        )
        await unit.record(
            job.pipeline_id, EventType.MESSAGE_SENT, job, changes={"message": message.id}
        )
    return message


async def create_invoice(
    scope: Scope, job_id: int, currency: str, line_items: list[dict[str, Any]]
) -> Invoice:
    total = invoice_total(line_items)  # settings saved before the limit are checked here too
    async with change(scope) as unit:
        job = await unit.lock_job(job_id)
        invoice = await Invoice.create(
            firm_id=scope.firm_id,
            job_id=job.id,
            client_id=job.client_id,
            stage_id=job.stage_id,
            currency=currency,
            line_items=line_items,
            total_cents=total,
        )
        await unit.record(
            job.pipeline_id,
            EventType.INVOICE_CHANGED,
            job,
            changes={"invoice": invoice.id, "action": "created"},
        )
    return invoice


async def pay_invoice(scope: Scope, invoice_id: int) -> Invoice:
    """Mark an invoice paid; may complete the stage's work (auto-move)."""
    async with change(scope) as unit:
        invoice, job = await unit.lock_item(Invoice, invoice_id)
        if invoice.status == InvoiceStatus.PAID:
            raise invalid("id", "the invoice is already paid")
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, datetime.now(UTC)
        await invoice.save()
        await unit.record(
            job.pipeline_id,
            EventType.INVOICE_CHANGED,
            job,
            changes={"invoice": invoice.id, "action": "paid"},
        )
        await auto_move_if_done(unit, job)
    return invoice
