"""Deadlines: a job's stage limit (Job.stage_due_at: it entered its stage + the stage's
timeLimitDays) and its due date, `Job.isOverdue`, `JobFilter.overdue`, and a JOB_OVERDUE event
once per crossing, announced by the scheduler (automations.scheduler runs
`announce_due_deadlines`).

The rules (docs/api.md, "Deadlines"):
- A due date (a DATE) passes at the end of that day in UTC (firms have no timezone yet): the
  deadline is the next midnight UTC. A stage limit passes at stage_due_at itself.
- Only ACTIVE jobs are overdue: a completed or archived job is not, and announces nothing
  (made active again past a deadline it never announced, it announces it then).
- A crossing is announced once: the stage limit once per stage entry, the due date once per
  due date. A deadline moved into the future (a later due date, a longer timeLimitDays, a new
  stage entry) is armed again, and passing it again is a new crossing; a deadline moved but
  still past stays announced. Moving a job re-arms its stage limit only, never its due date.

The schedule. Each job keeps its next unannounced crossing in `overdue_check_at` (indexed, null
when nothing is left to announce), recomputed by `reschedule` wherever a deadline, its
announcement or the job's status changes; so a tick reads what is due, not every job.

Exactly once. Like reminders (workflow.reminders): due jobs read in firm turns, each announced
in a change of its own, claimed with a transaction-level advisory lock on PostgreSQL
(pg_try_advisory_xact_lock, passed over when another scheduler holds it), then the job locked
(Change.lock_job) and checked again under that lock: the event and the announcement commit
together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.expressions import Q

from models import EventType, Job, JobStatus, sql, writes
from models.sql import IN_FIRM_TURNS
from workflow import clock, dated
from workflow.dated import Progress
from workflow.errors import DomainError, ErrorCode
from workflow.scope import Scope
from workflow.unit import Change, change

log = logging.getLogger(__name__)

ROUND = 50  # jobs read per round; a pass reads rounds until none is due (or its limit)
CLAIM_CLASS = 0x4F564552  # "OVER": the first key of pg_try_advisory_xact_lock(int, int)

STAGE_LIMIT = "STAGE_LIMIT"
DUE_DATE = "DUE_DATE"

# Due jobs, every firm's earliest first, then every firm's next, ... Reading locks nothing.
DUE = (
    'SELECT "id", "firm_id" FROM (SELECT "id", "firm_id", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "overdue_check_at", "id") AS "turn" FROM "job" '
    'WHERE "overdue_check_at" <= ?) AS "due" '
    f'{IN_FIRM_TURNS}, "id" LIMIT ?'
)

# The columns `reschedule` and `enter` may change.
FIELDS = ["stage_due_at", "overdue_check_at", "stage_overdue_announced", "due_overdue_announced"]


def due_date_passes(due: date | None) -> datetime | None:
    """When a due date passes: the end of that day, UTC."""
    if due is None:
        return None
    return datetime.combine(due + timedelta(days=1), time(), tzinfo=UTC)


def stage_due_at(entered_at: datetime, time_limit_days: int | None) -> datetime | None:
    return None if time_limit_days is None else entered_at + timedelta(days=time_limit_days)


def crossed(job: Job, now: datetime) -> list[tuple[str, datetime]]:
    """The job's deadlines that have passed by `now` (whether announced or not)."""
    if job.status != JobStatus.ACTIVE:
        return []
    deadlines = [(STAGE_LIMIT, job.stage_due_at), (DUE_DATE, due_date_passes(job.due_date))]
    return [(kind, at) for kind, at in deadlines if at is not None and at <= now]


def is_overdue(job: Job, now: datetime | None = None) -> bool:
    return bool(crossed(job, now or clock.now()))


def overdue_filter(now: datetime, overdue: bool) -> Q:
    """JobFilter.overdue in SQL, the rule of `is_overdue`: active and past its stage limit, or
    past its due date (due before today, UTC)."""
    today = now.astimezone(UTC).date()
    past = Q(status=JobStatus.ACTIVE) & (Q(stage_due_at__lte=now) | Q(due_date__lt=today))
    if overdue:
        return past
    return ~Q(status=JobStatus.ACTIVE) | (
        (Q(stage_due_at__isnull=True) | Q(stage_due_at__gt=now))
        & (Q(due_date__isnull=True) | Q(due_date__gte=today))
    )


def reschedule(job: Job, now: datetime) -> None:
    """Re-arm the deadlines moved into the future, and set overdue_check_at to the next
    unannounced crossing (none unless the job is active). Call after changing a deadline or
    the status; save FIELDS."""
    if job.stage_due_at is None or job.stage_due_at > now:
        job.stage_overdue_announced = False
    passes = due_date_passes(job.due_date)
    if passes is None or passes > now:
        job.due_overdue_announced = False
    pending = [
        at
        for at, announced in (
            (job.stage_due_at, job.stage_overdue_announced),
            (passes, job.due_overdue_announced),
        )
        if at is not None and not announced
    ]
    job.overdue_check_at = min(pending) if pending and job.status == JobStatus.ACTIVE else None


def enter(job: Job, time_limit_days: int | None, now: datetime) -> None:
    """A stage entry at `now`: the new stage's limit, armed (save FIELDS and stage_entered_at)."""
    job.stage_entered_at = now
    job.stage_due_at = stage_due_at(now, time_limit_days)
    job.stage_overdue_announced = False
    reschedule(job, now)


async def stage_limit_changed(jobs: list[Job], time_limit_days: int | None) -> None:
    """A stage's timeLimitDays changed: its jobs' stage_due_at follow (`jobs`: the stage's,
    locked by the caller)."""
    now = clock.now()
    for job in jobs:
        job.stage_due_at = stage_due_at(job.stage_entered_at, time_limit_days)
        reschedule(job, now)
    if jobs:
        await Job.bulk_update(jobs, fields=FIELDS, batch_size=500)


@dataclass(frozen=True)
class DueJob:
    id: int
    firm_id: int


class _NotDue(Exception):
    """Held by another scheduler, or no longer due: the change has nothing to do."""


async def _round(progress: Progress, limit: int) -> list[DueJob]:
    holding = progress.holding()
    now = clock.now().astimezone(UTC)
    rows = await sql.fetch(DUE, [now, progress.turns.last_firm, limit + len(holding)])
    due = [DueJob(row["id"], row["firm_id"]) for row in rows]
    return [item for item in due if item.id not in holding][:limit]


async def _announce_in(unit: Change, job: Job, now: datetime) -> int:
    """Record JOB_OVERDUE for each unannounced crossing of a locked job; how many."""
    announced = 0
    for kind, at in crossed(job, now):
        flag = "stage_overdue_announced" if kind == STAGE_LIMIT else "due_overdue_announced"
        if getattr(job, flag):
            continue
        setattr(job, flag, True)
        await unit.record(
            job.pipeline_id,
            EventType.JOB_OVERDUE,
            job,
            changes={"deadline": kind, "dueAt": at.isoformat()},
        )
        announced += 1
    return announced


async def announce(due: DueJob) -> int | None:
    """Announce a due job's crossings, in a change of its own: how many (0: none was left,
    its schedule is corrected); None if it was not due, or another scheduler holds it."""
    try:
        async with change(Scope(due.firm_id, None)) as unit:
            if not await dated.claim(CLAIM_CLASS, due.id):
                raise _NotDue
            job = await unit.lock_job(due.id)
            now = clock.now()
            if job.overdue_check_at is None or job.overdue_check_at > now:
                raise _NotDue  # another scheduler announced it, or it moved, meanwhile
            announced = await _announce_in(unit, job, now)
            reschedule(job, now)
            await job.save(update_fields=FIELDS)
        return announced
    except _NotDue:
        return None
    except DomainError as error:
        if error.code == ErrorCode.NOT_FOUND:
            return None  # deleted meanwhile
        raise


async def announce_due_deadlines(limit: int = 1000, progress: Progress | None = None) -> int:
    """Announce the deadlines passed by clock.now(), in firm turns, each job in its own
    change, until none is due (or `limit` jobs were handled); how many JOB_OVERDUE events were
    recorded. A job whose change fails is logged, rolled back, held back and left due."""
    progress = progress or Progress()
    handled = events = 0
    while handled < limit:
        progressed = 0
        for due in await _round(progress, min(ROUND, limit - handled)):
            try:
                with writes.checked():
                    outcome = await announce(due)
            except Exception:
                log.exception("deadline of job %s failed; it stays due", due.id)
                progress.failed(due.id)
                continue
            progress.done(due.id)
            if outcome is None:
                continue
            progressed += 1
            progress.turns.served(due.firm_id)
            events += outcome
        handled += progressed
        if not progressed:
            break
    return events
