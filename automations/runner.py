"""The runner: executes recorded automation runs after commit, each exactly once.

A run is claimed (FOR UPDATE SKIP LOCKED on PostgreSQL, so any number of runners share the
work; SQLite has one writer) and executed in one change that also marks it done: its effects and
its completion commit together or not at all. A failure rolls all of it back, then is recorded
with exponential backoff, up to MAX_ATTEMPTS. A job that has left the stage (or was archived)
before its run executes skips the run: that stage's work no longer applies to it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from automations.actions import ACTIONS
from automations.background import BackgroundLoop
from models import AutomationRun, EventType, JobStatus, RunStatus
from models.db import is_postgres
from workflow.scope import NOBODY, Scope
from workflow.unit import RUNS, change

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


async def _claim() -> AutomationRun | None:
    due = AutomationRun.filter(
        status=RunStatus.PENDING, run_after__lte=datetime.now(UTC)
    ).order_by("id").limit(1)
    if is_postgres():
        due = due.select_for_update(skip_locked=True)
    runs = await due
    return runs[0] if runs else None


async def run_one() -> bool:
    """Execute the oldest due run; False when there is none."""
    run_id: int | None = None
    try:
        async with change(NOBODY) as unit:
            run = await _claim()
            if run is None:
                return False
            run_id = run.id
            unit.scope, unit.depth = Scope(run.firm_id, None), run.depth + 1
            job = await unit.lock_job(run.job_id)
            run.attempts += 1
            run.finished_at = datetime.now(UTC)
            if job.stage_id != run.stage_id or job.status == JobStatus.ARCHIVED:
                run.status, run.error = RunStatus.SKIPPED, "the job left the stage before this ran"
            else:
                run.result = await ACTIONS[run.action].run(unit.scope, job, run.settings)
                run.status = RunStatus.SUCCEEDED
            await run.save()
            job = await unit.lock_job(run.job_id)  # it may have moved, even to another pipeline
            await unit.record(
                job.pipeline_id, EventType.AUTOMATION_RAN, job,
                changes={"run": run.id, "action": run.action, "status": run.status},
            )
        return True
    except Exception as error:
        if run_id is None:
            raise
        await _failed(run_id, error)
        return True


async def _failed(run_id: int, error: Exception) -> None:
    """Record a failed attempt; retry later, or give up after MAX_ATTEMPTS."""
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    if not hasattr(error, "code"):
        log.exception("automation run %s failed", run_id, exc_info=error)
    run = await AutomationRun.get(id=run_id)
    async with change(Scope(run.firm_id, None)) as unit:
        job = await unit.lock_job(run.job_id)
        run = await AutomationRun.filter(id=run_id).select_for_update().get()
        run.attempts += 1
        run.error = message
        if run.attempts < MAX_ATTEMPTS:
            run.run_after = datetime.now(UTC) + backoff(run.attempts)
            await run.save()
            return
        run.status, run.finished_at = RunStatus.FAILED, datetime.now(UTC)
        await run.save()
        await unit.record(
            job.pipeline_id, EventType.AUTOMATION_RAN, job,
            changes={"run": run.id, "action": run.action, "status": run.status,
                     "error": message},
        )


async def run_due(limit: int = 1000) -> int:
    """Execute due runs until there are none (or `limit`); how many ran."""
    count = 0
    while count < limit and await run_one():
        count += 1
    return count


class Runner(BackgroundLoop):
    """Runs due automation runs in the background: woken after commits, and polling."""

    name = "automation-runner"
    owed_work = RUNS  # woken after commits that leave it this

    async def work(self) -> None:
        await run_due()
