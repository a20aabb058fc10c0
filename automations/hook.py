"""The stage-entry hook: the one place every stage entry passes through.

Domain operations call `on_stage_entry` inside the transaction of the change, after the entry's
JobEvent is written (createJob, moveJob to another stage, transferJob, jobs moved off a deleted
stage, moves made by automations). It records the stage's automation runs there, so they commit,
or roll back, with the entry that caused them; the runner executes them after commit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from models import Automation, AutomationRun, RunStatus

if TYPE_CHECKING:
    from models import Job, JobEvent, Stage
    from workflow.unit import Change

# Automations that move jobs on may chain; a chain this deep is a loop, and stops.
MAX_DEPTH = 10


async def on_stage_entry(unit: Change, job: Job, stage: Stage, event: JobEvent) -> None:
    """Record a run of each enabled automation of `stage` for `job`, in position order."""
    automations = await Automation.filter(stage_id=stage.id, enabled=True).order_by(
        "position", "id"
    )
    now = datetime.now(UTC)
    looping = unit.depth >= MAX_DEPTH
    for automation in automations:
        await AutomationRun.create(
            firm_id=job.firm_id, automation_id=automation.id, job_id=job.id, entry_id=event.id,
            stage_id=stage.id, action=automation.action, settings=automation.settings,
            depth=unit.depth, run_after=now,
            status=RunStatus.FAILED if looping else RunStatus.PENDING,
            error=(f"stopped: {MAX_DEPTH} automations in a row moved this job (a loop?)"
                   if looping else None),
            finished_at=now if looping else None,
        )
