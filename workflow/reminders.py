"""Reminders: an organizer still unanswered, or an invoice still unpaid, that was sent with a
schedule (remind_every_days N, max_reminders M) gets a REMINDER email every N days, at most M
times; submitting or paying it stops them (workflow.documents clears next_reminder_at), and so
does archiving its job, or giving it to another client (the next due reminder is dropped, not
sent: the document left both clients' portals, as workflow.portal says).

The schedule. The first reminder is due N days after the document was sent; each next one N
days after the one before was *due* (not sent), so reminders do not drift later with the
scheduler's delay. After downtime that let whole periods pass, the scheduler does not catch up
with a flood: the missed reminder goes out once, when it is back, and the next one is due N
days from then. So every reminder is sent (M in all, one at a time, none skipped), late by the
downtime, never more than one per document per pass.

Exactly once. `send_due_reminders` reads what is due in firm turns (models.sql.IN_FIRM_TURNS),
then reminds each document in a change of its own: claimed by id, then its job locked
(Change.lock_item), then checked again (still waiting, still due) under that lock, and only
then the emails queued, reminders_sent counted, next_reminder_at moved and an
ORGANIZER_CHANGED / INVOICE_CHANGED event recorded ({"action": "reminded", "reminder": n}), all
in one transaction: a failure rolls all of it back and the reminder stays due.

The claim is non-blocking, so any number of schedulers share the due documents: on PostgreSQL
a transaction-level advisory lock on the document (pg_try_advisory_xact_lock), passed over when
another scheduler holds it. Not FOR UPDATE SKIP LOCKED on the document's row, as automation
runs are claimed: a staff or portal change locks the job and then the document (workflow.unit's
lock order), and a reminder holding the document's row while it waits for the job would
deadlock with it. SQLite has one writer: the check under the lock suffices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from models import (
    EmailKind,
    EventType,
    Invoice,
    InvoiceStatus,
    JobStatus,
    Organizer,
    OrganizerStatus,
    sql,
    writes,
)
from models.sql import IN_FIRM_TURNS
from workflow import clock, dated, email_content, emails
from workflow.dated import Progress
from workflow.documents import sender_of
from workflow.errors import DomainError, ErrorCode
from workflow.scope import Scope
from workflow.unit import change

log = logging.getLogger(__name__)

ROUND = 50  # documents read per round; a pass reads rounds until none is due (or its limit)

# What is reminded: the model, the status it waits in, its event type, and its advisory-lock
# class (the first key of pg_try_advisory_xact_lock(int, int); the second is the row id).
KINDS: dict[str, tuple[type[Organizer] | type[Invoice], str, EventType, int]] = {
    "organizer": (Organizer, OrganizerStatus.SENT, EventType.ORGANIZER_CHANGED, 0x52454D4F),
    "invoice": (Invoice, InvoiceStatus.UNPAID, EventType.INVOICE_CHANGED, 0x52454D49),
}

# Due documents of both kinds, every firm's earliest first, then every firm's next, ...
# (hand-written: tortoise has no window functions or UNION). Reading them locks nothing.
DUE = (
    'SELECT "kind", "id", "firm_id" FROM (SELECT "kind", "id", "firm_id", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "next_reminder_at", "kind", "id") AS "turn" FROM ('
    'SELECT \'organizer\' AS "kind", "id", "firm_id", "next_reminder_at" FROM "organizer" '
    'WHERE "next_reminder_at" <= ? AND "status" = ? UNION ALL '
    'SELECT \'invoice\' AS "kind", "id", "firm_id", "next_reminder_at" FROM "invoice" '
    'WHERE "next_reminder_at" <= ? AND "status" = ?) AS "reminded") AS "due" '
    f'{IN_FIRM_TURNS}, "kind", "id" LIMIT ?'
)


@dataclass(frozen=True)
class DueReminder:
    kind: str  # "organizer" or "invoice"
    id: int
    firm_id: int


class Outcome(Enum):
    REMINDED = "reminded"  # emails queued, counted, next one scheduled
    STOPPED = "stopped"  # no longer waiting (or its job archived): no reminder, none after


class _NotDue(Exception):
    """Held by another scheduler, or no longer due: the change has nothing to do."""


def next_reminder_at(due_at: datetime, every_days: int, now: datetime) -> datetime:
    """When the reminder after one due at `due_at` and sent at `now` is due: a period after
    `due_at`, or after `now` when downtime let that moment pass too (see the module's rule)."""
    period = timedelta(days=every_days)
    following = due_at + period
    return following if following > now else now + period


async def _round(progress: Progress, limit: int) -> list[DueReminder]:
    holding = progress.holding()
    now = clock.now().astimezone(UTC)
    rows = await sql.fetch(
        DUE,
        [
            now,
            OrganizerStatus.SENT.value,
            now,
            InvoiceStatus.UNPAID.value,
            progress.turns.last_firm,
            limit + len(holding),
        ],
    )
    due = [DueReminder(row["kind"], row["id"], row["firm_id"]) for row in rows]
    return [item for item in due if (item.kind, item.id) not in holding][:limit]


async def remind(due: DueReminder) -> Outcome | None:
    """Send this document's due reminder, in a change of its own; None if it was not (or no
    longer) due, or another scheduler holds it."""
    model, waiting, event_type, _ = KINDS[due.kind]
    try:
        async with change(Scope(due.firm_id, None)) as unit:
            if not await dated.claim(KINDS[due.kind][3], due.id):
                raise _NotDue
            document: Organizer | Invoice
            if model is Organizer:
                document, job = await unit.lock_item(Organizer, due.id)
            else:
                document, job = await unit.lock_item(Invoice, due.id)
            now = clock.now()
            due_at = document.next_reminder_at
            if due_at is None or due_at > now:
                raise _NotDue  # another scheduler sent it, or it was stopped, meanwhile
            if (
                document.status != waiting
                or job.status == JobStatus.ARCHIVED
                or job.client_id != document.client_id  # the job was given to another client
                or not document.remind_every_days
                or document.reminders_sent >= document.max_reminders
            ):
                document.next_reminder_at = None
                await document.save(update_fields=["next_reminder_at"])
                return Outcome.STOPPED
            number = document.reminders_sent + 1
            content = email_content.reminder_email(await sender_of(unit.scope, job), document)
            await emails.queue(
                document.client_id,
                job,
                EmailKind.REMINDER,
                content,
                firm_id=due.firm_id,
                organizer_id=document.id if due.kind == "organizer" else None,
                invoice_id=document.id if due.kind == "invoice" else None,
            )
            document.reminders_sent = number
            document.next_reminder_at = (
                None
                if number >= document.max_reminders
                else next_reminder_at(due_at, document.remind_every_days, now)
            )
            await document.save(update_fields=["reminders_sent", "next_reminder_at"])
            await unit.record(
                job.pipeline_id,
                event_type,
                job,
                changes={due.kind: document.id, "action": "reminded", "reminder": number},
            )
        return Outcome.REMINDED
    except _NotDue:
        return None
    except DomainError as error:
        if error.code == ErrorCode.NOT_FOUND:
            return None  # gone with its job
        raise


async def send_due_reminders(limit: int = 1000, progress: Progress | None = None) -> int:
    """Send the reminders due by clock.now(), in firm turns, each in its own change, until
    none is due (or `limit` documents were handled); how many reminders were sent. `progress`
    carries the round robin (and the documents held back after a failure) from one pass to the
    next. A document whose change fails is logged, rolled back and left due."""
    progress = progress or Progress()
    handled = sent = 0
    while handled < limit:
        progressed = 0
        for due in await _round(progress, min(ROUND, limit - handled)):
            key = (due.kind, due.id)
            try:
                with writes.checked():  # what a reminder writes is checked even in the tests
                    outcome = await remind(due)
            except Exception:
                log.exception("reminder of %s %s failed; it stays due", due.kind, due.id)
                progress.failed(key)
                continue
            progress.done(key)
            if outcome is None:
                continue
            progressed += 1
            progress.turns.served(due.firm_id)
            if outcome is Outcome.REMINDED:
                sent += 1
        handled += progressed
        if not progressed:  # none due, or all held by other schedulers (they send them)
            break
    return sent
