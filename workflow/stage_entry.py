"""The stage-entry hook: the one place every stage entry passes through. The domain owns it: it
records the runs the automations layer executes, and never imports that layer.

Domain operations call `on_stage_entry` inside the transaction of the change, after the entry's
JobEvent is written (createJob, moveJob to another stage, transferJob, jobs moved off a deleted
stage, moves made by automations). It records the stage's automation runs there, so they commit,
or roll back, with the entry that caused them; the runner executes them after commit.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from models import Automation, AutomationRun, Client, Job, RunStatus, sql
from workflow.unit import RUNS

if TYPE_CHECKING:
    from models import JobEvent, Stage
    from workflow.unit import Change

# Automations that move jobs on may chain; a chain this deep is a loop, and stops.
MAX_DEPTH = 10


def unmet(conditions: dict[str, list[str]], job: Job, client_tags: list[str]) -> str | None:
    """Why the automation does not apply to this job, or None if it does."""
    if missing := set(conditions.get("clientTagsAll", ())) - set(client_tags):
        return f"the client lacks tags {sorted(missing)}"
    if present := set(conditions.get("clientTagsNone", ())) & set(client_tags):
        return f"the client has tags {sorted(present)}"
    if missing := set(conditions.get("jobTagsAll", ())) - set(job.tags):
        return f"the job lacks tags {sorted(missing)}"
    if (priorities := conditions.get("priorities")) and job.priority not in priorities:
        return f"the job's priority is {job.priority}"
    return None


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
) -> None:
    """Record a run of each enabled automation of `stage` for `job`, in position order
    (`automations`: the stage's, read before its pipeline was locked, to keep the lock short).

    One that will not run says why, as a SKIPPED run (its conditions do not hold, or the person
    who moved the job chose to skip it) or a FAILED one (the loop guard).
    """
    if automations is None:
        automations = await stage_automations(stage.id)
    if not automations:
        return
    # flat=True: each client's tags, not the tuples tortoise's typing says
    tags: list[list[str]] = await Client.filter(id=job.client_id).values_list("tags", flat=True)  # type: ignore[assignment]
    client_tags = tags[0]
    now = datetime.now(UTC)
    for automation in automations:
        status, reason = RunStatus.PENDING, None
        if unit.depth >= MAX_DEPTH:
            status = RunStatus.FAILED
            reason = f"stopped: {MAX_DEPTH} automations in a row moved this job (a loop?)"
        elif automation.id in skip:
            status, reason = RunStatus.SKIPPED, "skipped for this move by the person who made it"
        elif why := unmet(automation.conditions, job, client_tags):
            status, reason = RunStatus.SKIPPED, f"conditions not met: {why}"
        await AutomationRun.create(
            firm_id=job.firm_id,
            automation_id=automation.id,
            job_id=job.id,
            entry_id=event.id,
            stage_id=stage.id,
            action=automation.action,
            settings=automation.settings,
            depth=unit.depth,
            run_after=now,
            status=status,
            error=reason,
            finished_at=None if status == RunStatus.PENDING else now,
        )
        if status == RunStatus.PENDING:
            unit.owed.add(RUNS)
