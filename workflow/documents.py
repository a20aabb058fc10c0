"""Organizers, messages and invoices of a job: sent by automations (and messages by staff),
answered or paid later.

Each change is one transaction with its JobEvent and the emails it sends the client (one per
contact, workflow.emails; their words in workflow.email_content); submitting an organizer or
paying an invoice may complete the stage's work and move the job on (see workflow.automove),
and stops its reminders (workflow.reminders: an organizer or invoice sent with
remind_every_days and max_reminders is reminded every N days, at most M times, until then).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from models import (
    Client,
    EmailKind,
    EventType,
    Firm,
    Invoice,
    InvoiceStatus,
    Job,
    JobStatus,
    Message,
    Organizer,
    OrganizerStatus,
)
from workflow import clock, custom_fields, email_content, emails, validation
from workflow.automove import auto_move_if_done
from workflow.errors import DomainError, ErrorCode, invalid
from workflow.scope import Scope
from workflow.unit import change

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
FIELDS = {"client.name", "job.title", "job.dueDate"}
CURRENCY = re.compile(r"^[A-Z]{3}$")
# Invoice.totalCents is a GraphQL Int (32 bits, the contract): no invoice may total more than
# it can answer, $21,474,836.47, so amounts are refused when saved rather than unreadable later.
MAX_INVOICE_TOTAL_CENTS = 2**31 - 1
# A message staff write (sendMessage): its subject a name, its body text.
MESSAGE_SUBJECT_MAX = 500
MESSAGE_BODY_MAX = 20_000
# Reminders (remindEveryDays, maxReminders): the ranges each takes.
REMIND_EVERY_DAYS = (1, 365)
MAX_REMINDERS = (1, 50)


def check_template(template: str, field: str, custom: Collection[str] = ()) -> str:
    """A subject or body whose placeholders are all known (FIELDS, and `custom`: the custom
    field placeholders of the firm): refused when saved, not when run."""
    known = FIELDS | set(custom)
    if unknown := {name for name in PLACEHOLDER.findall(template) if name not in known}:
        raise invalid(
            field,
            f"unknown placeholders {sorted(unknown)}; use {sorted(FIELDS)}, "
            "job.customFields.KEY or client.customFields.KEY",
        )
    return template


def render(template: str, job: Job, client: Client) -> str:
    """The text with its placeholders' values; a custom field without a value (or whose
    definition was deleted since the template was saved) is empty."""
    values = {
        "client.name": client.name,
        "job.title": job.title,
        "job.dueDate": job.due_date.isoformat() if job.due_date else "",
    } | custom_fields.placeholder_values(job, client)
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), template)


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


def check_reminders(
    remind_every_days: Any, max_reminders: Any, prefix: str = ""
) -> tuple[int, int] | None:
    """The reminder schedule (every N days, at most M times), or None for no reminders: both
    given, each a whole number in its range, or neither."""
    for key, value, (low, high) in (
        ("remindEveryDays", remind_every_days, REMIND_EVERY_DAYS),
        ("maxReminders", max_reminders, MAX_REMINDERS),
    ):
        if value is not None and (not _whole(value) or not low <= value <= high):
            raise invalid(
                prefix + key, f"{prefix}{key} must be a whole number from {low} to {high}"
            )
    if remind_every_days is None and max_reminders is None:
        return None
    if remind_every_days is None or max_reminders is None:
        missing = "remindEveryDays" if remind_every_days is None else "maxReminders"
        raise invalid(
            prefix + missing,
            f"{prefix}remindEveryDays and {prefix}maxReminders go together: give both or neither",
        )
    return remind_every_days, max_reminders


def _reminders(schedule: tuple[int, int] | None) -> dict[str, Any]:
    """A new document's reminder fields: the first reminder due N days from now."""
    if schedule is None:
        return {}
    every, most = schedule
    return {
        "remind_every_days": every,
        "max_reminders": most,
        "next_reminder_at": clock.now() + timedelta(days=every),
    }


async def sender_of(scope: Scope, job: Job, client: Client | None = None) -> email_content.Sender:
    """The names a job's emails to its client mention: the firm's, the client's, the job's."""
    firm = await Firm.get(id=scope.firm_id)
    client = client or await scope.get(Client, job.client_id)
    return email_content.Sender(firm=firm.name, client=client.name, job=job.title)


async def send_organizer(
    scope: Scope,
    job_id: int,
    title: str,
    questions: list[str],
    remind_every_days: int | None = None,
    max_reminders: int | None = None,
) -> Organizer:
    """Send the client an organizer, emailed to every contact; with remind_every_days and
    max_reminders, reminded until it is submitted."""
    schedule = check_reminders(remind_every_days, max_reminders)
    async with change(scope) as unit:
        job = await unit.lock_job(job_id)
        organizer = await Organizer.create(
            firm_id=scope.firm_id,
            job_id=job.id,
            client_id=job.client_id,
            stage_id=job.stage_id,
            title=title,
            questions=questions,
            **_reminders(schedule),
        )
        content = email_content.organizer_email(await sender_of(scope, job), organizer)
        await emails.queue(
            job.client_id,
            job,
            EmailKind.ORGANIZER,
            content,
            firm_id=scope.firm_id,
            organizer_id=organizer.id,
        )
        await unit.record(
            job.pipeline_id,
            EventType.ORGANIZER_CHANGED,
            job,
            changes={"organizer": organizer.id, "action": "sent"},
        )
    return organizer


async def submit_organizer(scope: Scope, organizer_id: int, answers: list[str]) -> Organizer:
    """The client's answers, entered by staff (ORGANIZER_CHANGED, action submitted), which stop
    its reminders; may complete the stage's work (auto-move). The client's own submission in
    the portal is workflow.portal.submit_organizer."""
    answers = [validation.text(a, "answers") for a in answers]
    async with change(scope) as unit:
        organizer, job = await unit.lock_item(Organizer, organizer_id)
        if organizer.status == OrganizerStatus.SUBMITTED:
            raise invalid("id", "the organizer is already submitted")
        if len(answers) != len(organizer.questions):
            raise invalid("answers", f"{len(organizer.questions)} answers are expected")
        organizer.status, organizer.answers = OrganizerStatus.SUBMITTED, answers
        organizer.submitted_at = datetime.now(UTC)
        organizer.next_reminder_at = None  # answered: no more reminders
        await organizer.save()
        unit.defer_sequences()  # an auto-move may write a rank after the event (workflow.unit)
        await unit.record(
            job.pipeline_id,
            EventType.ORGANIZER_CHANGED,
            job,
            changes={"organizer": organizer.id, "action": "submitted"},
        )
        await auto_move_if_done(unit, job)
    return organizer


def check_message(subject: str, body: str) -> tuple[str, str]:
    """A message as staff write it (sendMessage): the subject a name of at most
    MESSAGE_SUBJECT_MAX characters, the body non-empty text of at most MESSAGE_BODY_MAX, both
    with only the placeholders `render` knows."""
    subject = validation.name(subject, "subject", MESSAGE_SUBJECT_MAX)
    body = validation.text(body, "body", MESSAGE_BODY_MAX)
    if not body.strip():
        raise invalid("body", "body must not be empty")
    return check_template(subject, "subject"), check_template(body, "body")


async def send_message(
    scope: Scope, job_id: int, subject: str, body: str, *, refuse_archived: bool = False
) -> Message:
    """Send the client a message (subject and body templates rendered for the job), emailed
    to every contact."""
    async with change(scope) as unit:
        job = await unit.lock_job(job_id)
        if refuse_archived and job.status == JobStatus.ARCHIVED:
            raise DomainError(ErrorCode.JOB_ARCHIVED, "the job is archived", "jobId")
        client = await scope.get(Client, job.client_id)
        message = await Message.create(
            firm_id=scope.firm_id,
            job_id=job.id,
            client_id=client.id,
            subject=render(subject, job, client)[:MESSAGE_SUBJECT_MAX],
            body=render(body, job, client),
        )
        content = email_content.message_email(await sender_of(scope, job, client), message)
        await emails.queue(
            client.id,
            job,
            EmailKind.MESSAGE,
            content,
            firm_id=scope.firm_id,
            message_id=message.id,
        )
        await unit.record(
            job.pipeline_id, EventType.MESSAGE_SENT, job, changes={"message": message.id}
        )
    return message


async def write_message(scope: Scope, job_id: int, subject: str, body: str) -> Message:
    """A message staff write to the job's client (sendMessage): checked before anything is
    written; an archived job takes none."""
    subject, body = check_message(subject, body)
    return await send_message(scope, job_id, subject, body, refuse_archived=True)


async def create_invoice(
    scope: Scope,
    job_id: int,
    currency: str,
    line_items: list[dict[str, Any]],
    remind_every_days: int | None = None,
    max_reminders: int | None = None,
) -> Invoice:
    """Invoice the client, emailed to every contact; with remind_every_days and
    max_reminders, reminded until it is paid."""
    total = invoice_total(line_items)  # settings saved before the limit are checked here too
    schedule = check_reminders(remind_every_days, max_reminders)
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
            **_reminders(schedule),
        )
        content = email_content.invoice_email(await sender_of(scope, job), invoice)
        await emails.queue(
            job.client_id,
            job,
            EmailKind.INVOICE,
            content,
            firm_id=scope.firm_id,
            invoice_id=invoice.id,
        )
        await unit.record(
            job.pipeline_id,
            EventType.INVOICE_CHANGED,
            job,
            changes={"invoice": invoice.id, "action": "created"},
        )
    return invoice


async def pay_invoice(scope: Scope, invoice_id: int) -> Invoice:
    """Mark an invoice paid (INVOICE_PAID), which stops its reminders; may complete the
    stage's work (auto-move)."""
    async with change(scope) as unit:
        invoice, job = await unit.lock_item(Invoice, invoice_id)
        if invoice.status == InvoiceStatus.PAID:
            raise invalid("id", "the invoice is already paid")
        invoice.status, invoice.paid_at = InvoiceStatus.PAID, datetime.now(UTC)
        invoice.next_reminder_at = None  # paid: no more reminders
        await invoice.save()
        unit.defer_sequences()  # an auto-move may write a rank after the event (workflow.unit)
        await unit.record(
            job.pipeline_id, EventType.INVOICE_PAID, job, changes={"invoice": invoice.id}
        )
        await auto_move_if_done(unit, job)
    return invoice
