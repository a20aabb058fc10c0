"""The stage-entry hook: the one place every stage entry passes through.

Domain operations call `on_stage_entry` inside the transaction of the change, after the entry's
JobEvent is written (createJob, moveJob to another stage, transferJob, jobs moved off a deleted
stage). It is where the stage's automation runs will be recorded, so that they commit, or roll
back, with the move that caused them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models import Job, JobEvent, Stage
    from workflow.unit import Change


async def on_stage_entry(unit: Change, job: Job, stage: Stage, event: JobEvent) -> None:
    """Record the automation runs of `stage` for `job`. No automation kinds exist yet."""
    return None
