"""The stage-entry hook: the one place every stage entry passes through. The domain owns it: it
records the runs the automations layer executes, and never imports that layer.

Domain operations call `on_stage_entry` inside the transaction of the change, after the entry's
JobEvent is written (createJob, moveJob to another stage, transferJob, jobs moved off a deleted
stage, moves made by automations). It records the stage's automation runs there, so they commit,
or roll back, with the entry that caused them; the runner executes them after commit.

Date-triggered automations (AutomationTrigger other than STAGE_ENTRY) are runs dated in the
future (`fire_at`): recorded PENDING at entry with that run_after, their conditions checked when
they fire (automations.runner). Their other moments are here too, each in the change that makes
it: leaving the stage or archiving the job skips the still-PENDING ones (`cancel_dated_runs`),
and a due date set, moved or cleared reschedules, records or skips the due-relative ones
(`due_date_changed`). Each fires at most once per (automation, stage entry, due date).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from models import (
    DUE_TRIGGERS,
    Automation,
    AutomationRun,
    AutomationTrigger,
    EventType,
    Job,
    JobStatus,
    RunStatus,
    sql,
)
from models.db import is_postgres
from workflow import clock, custom_fields
from workflow.unit import RUNS

if TYPE_CHECKING:
    from models import JobEvent, Stage
    from workflow.unit import Change

# Automations that move jobs on may chain; a chain this deep is a loop, and stops.
MAX_DEPTH = 10


SKIPPED_BY_MOVER = "skipped for this move by the person who made it"
LEFT_STAGE = "the job left the stage before this ran"
ARCHIVED = "the job was archived before this ran"
DUE_CLEARED = "the due date of the job was cleared before this ran"
ALREADY_RAN = "this automation already ran for this due date in this stage"
DUE_MOVED = "the due date of the job moved before this ran"


def fire_at(
    trigger: AutomationTrigger, days: int | None, entered_at: datetime, due_date: date | None
) -> datetime | None:
    """When a run of this trigger falls due: the entry itself, whole days of 24 hours after it,
    or the start (00:00 UTC) of the due date, days before or after it. None: a due-relative
    trigger and no due date, so no run until one is set. A moment already past falls due at
    once (the job reached it while in the stage)."""
    if trigger == AutomationTrigger.STAGE_ENTRY:
        return entered_at
    if trigger == AutomationTrigger.DAYS_IN_STAGE:
        return entered_at + timedelta(days=days or 0)
    if due_date is None:
        return None
    offset = {
        AutomationTrigger.DAYS_BEFORE_DUE: -(days or 0),
        AutomationTrigger.ON_DUE_DATE: 0,
        AutomationTrigger.DAYS_AFTER_DUE: days or 0,
    }[trigger]
    return datetime.combine(due_date, time(), UTC) + timedelta(days=offset)


def unmet(
    conditions: dict[str, Any],
    job: Job,
    client_tags: list[str],
    client_values: dict[str, Any] | None = None,
) -> str | None:
    """Why the automation does not apply to this job, or None if it does (`client_values`:
    the client's custom field values)."""
    if missing := set(conditions.get("clientTagsAll", ())) - set(client_tags):
        return f"the client lacks tags {sorted(missing)}"
    if present := set(conditions.get("clientTagsNone", ())) & set(client_tags):
        return f"the client has tags {sorted(present)}"
    if missing := set(conditions.get("jobTagsAll", ())) - set(job.tags):
        return f"the job lacks tags {sorted(missing)}"
    if (priorities := conditions.get("priorities")) and job.priority not in priorities:
        return f"the job's priority is {job.priority}"
    if wanted := conditions.get("customFields"):
        return custom_fields.unmet_condition(wanted, job.custom_fields, client_values or {})
    return None


# A client's tags and custom field values: what conditions read of it.
ClientFacts = tuple[list[str], dict[str, Any]]


async def client_facts(client_id: int) -> ClientFacts:
    """A client's tags and custom field values: what conditions read of it (one statement)."""
    rows = await sql.fetch(
        'SELECT "tags", "custom_fields" FROM "client" WHERE "id" = ?', [client_id]
    )
    tags, values = rows[0]["tags"], rows[0]["custom_fields"]
    # raw rows: JSON arrives as text on SQLite (and on PostgreSQL without a codec)
    return (
        orjson.loads(tags) if isinstance(tags, str | bytes) else tags,
        orjson.loads(values) if isinstance(values, str | bytes) else values,
    )


async def stage_automations(stage_id: int) -> list[Automation]:
    """The enabled automations of a stage, in the order they run."""
    rows = await sql.fetch(  # by hand: every stage entry runs it
        'SELECT * FROM "automation" WHERE "stage_id" = ? AND "enabled" = ? '
        'ORDER BY "position", "id"',
        [stage_id, True],
    )
    return [Automation._init_from_db(**row) for row in rows]


async def on_stage_entry(
    unit: Change,
    job: Job,
    stage: Stage,
    event: JobEvent,
    skip: Collection[int] = (),
    automations: list[Automation] | None = None,
    *,
    client: ClientFacts | None = None,
) -> None:
    """Record a run of each enabled automation of `stage` for `job`, in position order
    (`automations`: the stage's, read before its pipeline was locked, to keep the lock short).

    One that will not run says why, as a SKIPPED run (its conditions do not hold, or the person
    who moved the job chose to skip it) or a FAILED one (the loop guard). A dated one is
    PENDING until its date, its conditions checked then; a due-relative one on a job without a
    due date is recorded when a due date is set (`due_date_changed`). `client`: the job's
    client's facts, when the caller has them (a bulk call reads them once for all its jobs).
    """
    if automations is None:
        automations = await stage_automations(stage.id)
    if not automations:
        return
    tags, values = client if client is not None else await client_facts(job.client_id)
    now = clock.now()
    for automation in automations:
        run_after = fire_at(
            automation.trigger, automation.trigger_days, job.stage_entered_at, job.due_date
        )
        status, reason = RunStatus.PENDING, None
        if unit.depth >= MAX_DEPTH:
            status = RunStatus.FAILED
            reason = f"stopped: {MAX_DEPTH} automations in a row moved this job (a loop?)"
        elif automation.id in skip:
            status, reason = RunStatus.SKIPPED, SKIPPED_BY_MOVER
        elif run_after is None:
            continue  # due-relative, no due date yet
        elif automation.trigger == AutomationTrigger.STAGE_ENTRY and (
            why := unmet(automation.conditions, job, tags, values)
        ):
            status, reason = RunStatus.SKIPPED, f"conditions not met: {why}"
        await _record(unit, job, automation, event.id, run_after or now, status, reason)


async def _record(
    unit: Change,
    job: Job,
    automation: Automation,
    entry_id: int,
    run_after: datetime,
    status: RunStatus = RunStatus.PENDING,
    reason: str | None = None,
) -> None:
    await AutomationRun.create(
        firm_id=job.firm_id,
        automation_id=automation.id,
        job_id=job.id,
        entry_id=entry_id,
        stage_id=automation.stage_id,
        action=automation.action,
        settings=automation.settings,
        trigger=automation.trigger,
        trigger_days=automation.trigger_days,
        due_date=job.due_date if automation.trigger in DUE_TRIGGERS else None,
        depth=unit.depth,
        run_after=run_after,
        status=status,
        error=reason,
        finished_at=None if status == RunStatus.PENDING else clock.now(),
    )
    if status == RunStatus.PENDING:
        unit.owed.add(RUNS)


async def _waiting(job: Job, triggers: Collection[AutomationTrigger]) -> list[AutomationRun]:
    """The job's PENDING runs of these triggers, locked, less those a runner holds: that one
    is firing, and checks the job again once it has the job's lock, which the caller holds
    (waiting for its run instead would deadlock: the runner locks the run, then the job)."""
    query = AutomationRun.filter(job_id=job.id, status=RunStatus.PENDING, trigger__in=triggers)
    if is_postgres():
        query = query.select_for_update(skip_locked=True)
    return list(await query)


async def cancel_dated_runs(job: Job, reason: str) -> None:
    """Skip the job's dated runs still waiting for their date, in one statement: in the change
    that moves the job out of their stage (enter_stage, transfer_job) or archives it. Runs due
    at entry are left to the runner, which skips them as before; so is one a runner holds (see
    _waiting)."""
    if is_postgres():
        await sql.execute(
            'UPDATE "automation_run" SET "status" = ?, "error" = ?, "finished_at" = ? '
            'WHERE "id" IN (SELECT "id" FROM "automation_run" WHERE "job_id" = ? '
            'AND "status" = ? AND "trigger" <> ? FOR UPDATE SKIP LOCKED)',
            [
                RunStatus.SKIPPED.value,
                reason,
                clock.now(),
                job.id,
                RunStatus.PENDING.value,
                AutomationTrigger.STAGE_ENTRY.value,
            ],
        )
        return
    await AutomationRun.filter(  # SQLite: one writer, nothing held
        job_id=job.id, status=RunStatus.PENDING, trigger__not=AutomationTrigger.STAGE_ENTRY
    ).update(status=RunStatus.SKIPPED, error=reason, finished_at=clock.now())


async def _current_entry(job: Job) -> int | None:
    """The event by which the job entered its stage (None if it is not in the log)."""
    rows = await sql.fetch(
        'SELECT "id" FROM "job_event" WHERE "job_id" = ? AND "to_stage_id" = ? AND ('
        '"type" IN (?, ?) OR ("type" = ? AND ("from_stage_id" IS NULL OR "from_stage_id" <> ?))) '
        'ORDER BY "id" DESC LIMIT 1',
        [
            job.id,
            job.stage_id,
            EventType.JOB_CREATED.value,
            EventType.JOB_TRANSFERRED_IN.value,
            EventType.JOB_MOVED.value,
            job.stage_id,
        ],
    )
    return int(rows[0]["id"]) if rows else None


async def due_date_changed(unit: Change, job: Job) -> None:
    """In the change that set, moved or cleared a locked job's due date: its PENDING
    due-relative runs move to the new date (or are skipped if it was cleared, or if the
    automation already ran for that date in this entry), and the stage's due-relative
    automations without one get one, for the current stage entry."""
    now = clock.now()
    pending = await _waiting(job, DUE_TRIGGERS)
    if job.due_date is None:
        if pending:
            await AutomationRun.filter(id__in=[run.id for run in pending]).update(
                status=RunStatus.SKIPPED, error=DUE_CLEARED, finished_at=now
            )
        return
    entry_id = await _current_entry(job)
    earlier = await AutomationRun.filter(
        job_id=job.id, entry_id=entry_id or 0, trigger__in=list(DUE_TRIGGERS)
    ).exclude(status=RunStatus.PENDING)
    # The dates each automation fired for (the runner took it, attempts > 0), in this entry:
    # a run skipped before its date (due date cleared or moved) fired for none.
    ran_for = {
        (run.automation_id, run.due_date)
        for run in earlier
        if run.attempts and run.error != DUE_MOVED
    }
    skipped = {run.automation_id for run in earlier if run.error == SKIPPED_BY_MOVER}
    waiting: set[int | None] = set()
    for run in pending:
        if (run.automation_id, job.due_date) in ran_for:
            run.status, run.error, run.finished_at = RunStatus.SKIPPED, ALREADY_RAN, now
        else:
            waiting.add(run.automation_id)
            run.due_date = job.due_date
            run.run_after = fire_at(run.trigger, run.trigger_days, now, job.due_date) or now
            unit.owed.add(RUNS)
        await run.save(update_fields=["status", "error", "finished_at", "due_date", "run_after"])
    if entry_id is None or job.status == JobStatus.ARCHIVED:
        return  # an archived job runs nothing (updateJob refuses it a due date anyway)
    for automation in await stage_automations(job.stage_id):
        if (
            automation.trigger in DUE_TRIGGERS
            and automation.id not in waiting
            and automation.id not in skipped
            and (automation.id, job.due_date) not in ran_for
        ):
            run_after = fire_at(automation.trigger, automation.trigger_days, now, job.due_date)
            await _record(unit, job, automation, entry_id, run_after or now)
