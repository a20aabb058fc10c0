"""Occurrences: the recurring schedules' dated work (a kind of automations.scheduler's
DATED_WORK, of workflow.dated's shape): the jobs of every occurrence that is due, each
(schedule, client, period) exactly once.

An occurrence is due at its creation time (workflow.recurrence: local midnight `leadDays`
before its period starts). The scheduler reads the due schedules by their indexed
`next_run_at` in firm turns (models.sql.IN_FIRM_TURNS) and runs each in a change of its own:
claimed, its row locked, checked again under the lock (not paused, still due, the same
occurrence), then its clients read (the listed ones and, with a tag, every client that has it
now: a tag is evaluated at each occurrence), and a job made from the template for each client
that has none for this (schedule, period) yet, at most CHUNK per change. The change that
leaves none missing moves the schedule to its next occurrence. A failure rolls its change back
whole; the occurrence stays due and is retried (workflow.dated's back-off: 5 s, doubling, at
most an hour), whether it failed unexpectedly or a job could not be made (the template's
start stage at its WIP limit: WIP_LIMIT_REACHED, logged as a warning): later occurrences wait
for it, so none is skipped and they keep their order.

Exactly once. The claim is a transaction-level advisory lock on the schedule
(pg_try_advisory_xact_lock; a schedule another scheduler holds is passed over), the check under
the row lock sees what a scheduler that ran before committed, and a unique key on job
(recurring_schedule, client, period) refuses a second job for the same triple whatever
happens. SQLite has one writer: the check under the lock suffices.

Catch-up after downtime. Every occurrence whose time passed while no scheduler ran still gets
its jobs (each period is distinct work: nothing is skipped), oldest first, one occurrence
after the other, at most CATCH_UP_PER_PASS occurrences of one schedule per pass (a schedule
years behind does not hold up the others; the rest follow a pass later, a second later). A job
created more than LATE_AFTER after its occurrence's time says so in its history: its
JOB_CREATED event's changes hold `"late": true` beside the time it was due (`dueAt`).
Pausing is not downtime: see workflow.schedules for what resuming does.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from models import Client, Job, JobTemplate, RecurringSchedule, sql, writes
from models.sql import IN_FIRM_TURNS
from workflow import clock, dated
from workflow.dated import Progress
from workflow.errors import DomainError, ErrorCode
from workflow.periods import Period, parse
from workflow.schedules import rule_of
from workflow.scope import Scope
from workflow.templates import create_job_from_template
from workflow.unit import Change, change

log = logging.getLogger(__name__)

ROUND = 50  # schedules read per round
CHUNK = 50  # jobs created per change
CATCH_UP_PER_PASS = 12  # occurrences of one schedule per pass
LATE_AFTER = timedelta(minutes=15)
CLAIM_CLASS = 0x52454353  # the first key of the schedules' advisory locks

DUE = (
    'SELECT "id", "firm_id" FROM (SELECT "id", "firm_id", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "next_run_at", "id") AS "turn" '
    'FROM "recurring_schedule" WHERE "next_run_at" <= ?) AS "due" '
    f'{IN_FIRM_TURNS}, "id" LIMIT ?'
)


@dataclass(frozen=True)
class DueSchedule:
    id: int
    firm_id: int


@dataclass(frozen=True)
class Done:
    """What one change did: the jobs it created, and whether it finished its occurrence."""

    created: int
    finished: bool


class _NotDue(Exception):
    """Held by another scheduler, or no longer due: the change has nothing to do."""


async def _round(progress: Progress, skip: set[int], limit: int) -> list[DueSchedule]:
    passed_over = progress.holding() | skip
    rows = await sql.fetch(
        DUE, [clock.now().astimezone(UTC), progress.turns.last_firm, limit + len(passed_over)]
    )
    due = [DueSchedule(row["id"], row["firm_id"]) for row in rows]
    return [item for item in due if item.id not in passed_over][:limit]


async def clients_of(scope: Scope, schedule: RecurringSchedule) -> list[int]:
    """The schedule's clients now: those listed that still exist, and every client with its
    tag, in id order."""
    ids = await sql.ids_of(scope.query(Client).filter(id__in=schedule.client_ids))
    if schedule.client_tag:
        ids |= await sql.ids_of(sql.with_tag(scope.query(Client), schedule.client_tag))
    return sorted(ids)


async def _create_jobs(
    unit: Change, schedule: RecurringSchedule, period: Period, history: dict[str, Any]
) -> Done:
    scope = unit.scope
    targets = await clients_of(scope, schedule)
    done = await sql.ids_of(
        Job.filter(recurring_schedule_id=schedule.id, period=period.label), "client_id"
    )
    missing = [client_id for client_id in targets if client_id not in done]
    if not missing:
        return Done(0, True)
    template = await scope.get(JobTemplate, schedule.template_id)
    clients = {
        client.id: client for client in await scope.query(Client).filter(id__in=missing[:CHUNK])
    }
    created = 0
    unit.defer_sequences()  # a job's rank is written after the one before's event (workflow.unit)
    for client_id in missing[:CHUNK]:
        await create_job_from_template(
            unit,
            template,
            clients[client_id],
            period,
            recurring_schedule_id=schedule.id,
            history=history,
        )
        created += 1
    return Done(created, len(missing) <= CHUNK)


async def run_occurrence(due: DueSchedule) -> Done | None:
    """Create (part of) the due occurrence's jobs in a change of its own; None if it was not
    (or no longer) due, or another scheduler holds it."""
    try:
        async with change(Scope(due.firm_id, None)) as unit:
            if not await dated.claim(CLAIM_CLASS, due.id):
                raise _NotDue
            try:
                schedule = await unit.scope.get(RecurringSchedule, due.id, lock=True)
            except DomainError as error:
                if error.code == ErrorCode.NOT_FOUND:
                    raise _NotDue from None  # deleted meanwhile
                raise
            now = clock.now()
            if (
                schedule.paused
                or schedule.next_run_at is None
                or schedule.next_run_at > now
                or schedule.next_period is None
            ):
                raise _NotDue  # done by another scheduler, paused or changed meanwhile
            rule = rule_of(schedule)
            period = parse(schedule.next_period)
            due_at = rule.creates_at(period)
            history = {"due_at": due_at.isoformat(), "late": now - due_at > LATE_AFTER}
            done = await _create_jobs(unit, schedule, period, history)
            if done.finished:
                following = rule.after(period)
                schedule.next_period = following.period.label if following else None
                schedule.next_run_at = following.creates_at if following else None
                await schedule.save(update_fields=["next_period", "next_run_at", "updated_at"])
        return done
    except _NotDue:
        return None


async def create_due_jobs(limit: int = 1000, progress: Progress | None = None) -> int:
    """Create the jobs of the occurrences due by clock.now(), in firm turns, each chunk in its
    own change, until none is due (or `limit` changes were made); how many jobs were created.
    A schedule whose change fails is logged, rolled back and left due (retried after
    workflow.dated's back-off)."""
    progress = progress or Progress()
    handled = created = 0
    occurrences: Counter[int] = Counter()  # per schedule, this pass
    while handled < limit:
        progressed = 0
        skip = {key for key, count in occurrences.items() if count >= CATCH_UP_PER_PASS}
        for due in await _round(progress, skip, min(ROUND, limit - handled)):
            try:
                with writes.checked():
                    done = await run_occurrence(due)
            except DomainError as error:  # e.g. the template's stage at its WIP limit
                log.warning(
                    "recurring schedule %s: its occurrence stays due, a job could not be made: "
                    "%s (%s)", due.id, error.message, error.code,
                )  # fmt: skip
                progress.failed(due.id)
                continue
            except Exception:
                log.exception("recurring schedule %s failed; its occurrence stays due", due.id)
                progress.failed(due.id)
                continue
            progress.done(due.id)
            if done is None:
                continue
            progressed += 1
            progress.turns.served(due.firm_id)
            created += done.created
            if done.finished:
                occurrences[due.id] += 1
        handled += progressed
        if not progressed:
            break
    return created
