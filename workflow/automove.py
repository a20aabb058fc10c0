"""Auto-move: a stage that says so sends the job on to the next stage once every item linked to
the job in this stage is done: its tasks completed, organizers submitted, invoices paid."""

from __future__ import annotations

from models import (
    Invoice,
    InvoiceStatus,
    Job,
    JobStatus,
    Organizer,
    OrganizerStatus,
    Stage,
    Task,
)
from workflow.unit import Change


async def blockers(job: Job) -> list[str]:
    """What is still open for the job in its stage (whether or not the stage auto-moves)."""
    open_items = [f"task {t.title!r}" for t in await Task.filter(
        job_id=job.id, stage_id=job.stage_id, done=False).order_by("id")]
    open_items += [f"organizer {o.title!r}" for o in await Organizer.filter(
        job_id=job.id, stage_id=job.stage_id, status=OrganizerStatus.SENT).order_by("id")]
    open_items += [f"invoice #{i.id}" for i in await Invoice.filter(
        job_id=job.id, stage_id=job.stage_id, status=InvoiceStatus.UNPAID).order_by("id")]
    return open_items


async def _has_items(job: Job) -> bool:
    for model in (Task, Organizer, Invoice):
        if await model.filter(job_id=job.id, stage_id=job.stage_id).exists():
            return True
    return False


async def auto_move_if_done(unit: Change, job: Job) -> None:
    """Call after an item of a locked job was completed, in the same change."""
    from workflow.jobs import enter_stage  # jobs imports this module's siblings

    stage = await Stage.get(id=job.stage_id)
    if not stage.auto_move or job.status != JobStatus.ACTIVE:
        return
    following = await Stage.filter(
        pipeline_id=stage.pipeline_id, position__gt=stage.position
    ).order_by("position").first()
    if following is None or not await _has_items(job) or await blockers(job):
        return
    await enter_stage(unit, job, following)
