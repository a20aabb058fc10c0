"""The runner: executes recorded automation runs after commit, each exactly once.

Due runs are taken round robin between firms (realtime.background.IN_FIRM_TURNS), a round of at
most ROUND runs at a time, so one firm's backlog does not queue another firm's runs behind it.
Each run of a round is then claimed by its id (FOR UPDATE SKIP LOCKED on PostgreSQL, so any
number of runners share the work: one that another runner holds, or that is no longer due, is
passed over; SQLite has one writer) and executed in one change that also marks it done: its
effects and its completion commit together or not at all. A failure rolls all of it back, then
is recorded with exponential backoff, up to MAX_ATTEMPTS. A job that has left the stage (or was
archived) before its run executes skips the run: that stage's work no longer applies to it.

A run is due from its run_after on, by workflow.clock (which tests move): a date-triggered one
(workflow.stage_entry.fire_at) days after it was recorded. That one is checked when it fires,
since the job may have changed meanwhile: its automation must still exist and be enabled, and
its conditions must hold then; if not, it is SKIPPED with the reason. The DUE query reads the
index on (status, run_after): a round costs what is due, not the runs waiting for a date.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from automations.actions import ACTIONS
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
    writes,
)
from models.db import is_postgres
from realtime.background import IN_FIRM_TURNS, BackgroundLoop, FirmTurns
from workflow import clock
from workflow.scope import Scope
from workflow.stage_entry import DUE_MOVED, LEFT_STAGE, client_facts, unmet
from workflow.unit import RUNS, change

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Runs chosen per round. A run due while a round is under way waits for at most that round;
# a runner woken meanwhile (a commit in its process left runs) ends the round at once.
ROUND = 20

# The round: due runs, every firm's oldest first, then every firm's next, ... (hand-written:
# tortoise has no window functions). Reading them locks nothing: each is claimed by id.
DUE = (
    'SELECT "id", "firm_id", "depth" FROM (SELECT "id", "firm_id", "depth", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "id") AS "turn" FROM "automation_run" '
    'WHERE "status" = ? AND "run_after" <= ?) AS "due" '
    f'{IN_FIRM_TURNS}, "id" LIMIT ?'
)


def _now() -> datetime:
    """The clock in UTC: SQLite compares the stored times as text."""
    return clock.now().astimezone(UTC)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


@dataclass(frozen=True)
class DueRun:
    """A run of a round, as read before it is claimed (its firm and depth never change)."""

    id: int
    firm_id: int
    depth: int


class _NotDue(Exception):
    """The run is held by another runner, or no longer due: its change has nothing to do."""


async def _round(turns: FirmTurns, limit: int) -> list[DueRun]:
    """The next `limit` due runs in firm turns."""
    rows = await sql.fetch(DUE, [RunStatus.PENDING.value, _now(), turns.last_firm, limit])
    return [DueRun(row["id"], row["firm_id"], row["depth"]) for row in rows]


async def _claim(run_id: int) -> AutomationRun | None:
    """The run, locked, if it is still due and no other runner holds it."""
    due = AutomationRun.filter(id=run_id, status=RunStatus.PENDING, run_after__lte=_now())
    if is_postgres():
        due = due.select_for_update(skip_locked=True)
    return await due.first()


async def run_one(due: DueRun) -> bool:
    """Execute this run if it is still due and free; whether it was (run, or its failure
    recorded)."""
    claimed = False
    try:
        # The change is the run's firm's from its start (its version is the one bumped), and
        # what the run's actions move is one automation further down the chain.
        async with change(Scope(due.firm_id, None), due.depth + 1) as unit:
            run = await _claim(due.id)
            if run is None:
                raise _NotDue  # rolls back: the firm's version stays as it was
            claimed = True
            job = await unit.lock_job(run.job_id)
            run.attempts += 1
            run.finished_at = clock.now()
            if job.stage_id != run.stage_id or job.status == JobStatus.ARCHIVED:
                run.status, run.error = RunStatus.SKIPPED, LEFT_STAGE
            elif why := await _not_now(run, job):
                run.status, run.error = RunStatus.SKIPPED, why
            else:
                run.result = await ACTIONS[run.action].run(unit.scope, job, run.settings)
                run.status = RunStatus.SUCCEEDED
            await run.save()
            job = await unit.lock_job(run.job_id)  # it may have moved, even to another pipeline
            await unit.record(
                job.pipeline_id,
                EventType.AUTOMATION_RAN,
                job,
                changes={"run": run.id, "action": run.action, "status": run.status},
            )
        return True
    except _NotDue:
        return False
    except Exception as error:
        if not claimed:
            raise
        await _failed(due, error)
        return True


async def _not_now(run: AutomationRun, job: Job) -> str | None:
    """Why a dated run does not apply any more, when it fires; None if it does (or if it is
    a run of a stage entry, whose conditions were checked at entry)."""
    if run.trigger == AutomationTrigger.STAGE_ENTRY:
        return None
    if run.trigger in DUE_TRIGGERS and run.due_date != job.due_date:
        return DUE_MOVED  # while this runner held the run (the change recorded a new one)
    automation = await Automation.filter(id=run.automation_id or 0).first()
    if automation is None:
        return "the automation was deleted before this ran"
    if not automation.enabled:
        return "the automation was disabled before this ran"
    tags, values = await client_facts(job.client_id)
    if why := unmet(automation.conditions, job, tags, values):
        return f"conditions not met: {why}"
    return None


async def _failed(due: DueRun, error: Exception) -> None:
    """Record a failed attempt; retry later, or give up after MAX_ATTEMPTS."""
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    if not hasattr(error, "code"):
        log.exception("automation run %s failed", due.id, exc_info=error)
    async with change(Scope(due.firm_id, None)) as unit:
        # The run first, then its job, as a runner claims it: the other way round, this would
        # wait for the run while holding the job that a runner which claimed the run waits for.
        run = await AutomationRun.filter(id=due.id).select_for_update().get()
        job = await unit.lock_job(run.job_id)
        run.attempts += 1
        run.error = message
        if run.attempts < MAX_ATTEMPTS:
            run.run_after = clock.now() + backoff(run.attempts)
            await run.save()
            return
        run.status, run.finished_at = RunStatus.FAILED, clock.now()
        await run.save()
        await unit.record(
            job.pipeline_id,
            EventType.AUTOMATION_RAN,
            job,
            changes={"run": run.id, "action": run.action, "status": run.status, "error": message},
        )


async def run_due(
    limit: int = 1000, turns: FirmTurns | None = None, woken: asyncio.Event | None = None
) -> int:
    """Execute due runs in firm turns until there are none (or `limit`); how many ran.
    `turns` carries the round robin over from one call to the next; `woken` set during a
    round ends it, so that runs just committed (of any firm) take their turn in the next."""
    turns = turns or FirmTurns()
    count = 0
    while count < limit:
        if woken is not None:
            woken.clear()  # the round below reads every run committed before this
        ran = 0
        for due in await _round(turns, min(ROUND, limit - count)):
            with writes.checked():  # what a run writes is checked even in the test suite
                if await run_one(due):
                    ran += 1
                    turns.served(due.firm_id)
            if woken is not None and woken.is_set():
                break
        count += ran
        if not ran:  # none due, or all held by other runners (they finish them)
            break
    return count


class Runner(BackgroundLoop):
    """Runs due automation runs in the background: woken after commits, and polling."""

    name = "automation-runner"
    owed_work = RUNS  # woken after commits that leave it this

    def __init__(self) -> None:
        super().__init__()
        self.turns = FirmTurns()

    async def work(self) -> None:
        await run_due(turns=self.turns, woken=self._wake)
