"""Auto-move: a stage that says so sends the job on to the next stage once every item linked to
the job in this stage is done: its tasks completed, organizers submitted, invoices paid."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from tortoise.models import Model

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

JobInStage = tuple[int, int]  # (job id, stage id)

# Each kind of item that holds a job in its stage: its open filter, columns and description.
_OPEN: tuple[
    tuple[type[Model], dict[str, Any], tuple[str, ...], Callable[[dict[str, Any]], str]], ...
] = (
    (Task, {"done": False}, ("title",), lambda row: f"task {row['title']!r}"),
    (
        Organizer,
        {"status": OrganizerStatus.SENT},
        ("title",),
        lambda row: f"organizer {row['title']!r}",
    ),
    (Invoice, {"status": InvoiceStatus.UNPAID}, (), lambda row: f"invoice #{row['id']}"),
)


async def open_items(firm_id: int, jobs: Collection[JobInStage]) -> dict[JobInStage, list[str]]:
    """What is still open for each job in the given stage (whether or not the stage
    auto-moves): tasks, then organizers, then invoices, oldest first. One statement per kind
    of item whatever the number of jobs, so a board can ask it for every card."""
    found: dict[JobInStage, list[str]] = {key: [] for key in jobs}
    if not found:
        return found
    job_ids = sorted({job_id for job_id, _ in found})
    stage_ids = sorted({stage_id for _, stage_id in found})
    for model, open_filter, columns, describe in _OPEN:
        rows = (
            await model.filter(
                firm_id=firm_id, job_id__in=job_ids, stage_id__in=stage_ids, **open_filter
            )
            .order_by("id")
            .values("id", "job_id", "stage_id", *columns)
        )
        for row in rows:  # the IN lists pair every job with every stage: keep the asked pairs
            if (key := (row["job_id"], row["stage_id"])) in found:
                found[key].append(describe(row))
    return found


async def blockers(job: Job) -> list[str]:
    """What is still open for the job in its stage."""
    return (await open_items(job.firm_id, [(job.id, job.stage_id)]))[(job.id, job.stage_id)]


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
    following = (
        await Stage.filter(pipeline_id=stage.pipeline_id, position__gt=stage.position)
        .order_by("position")
        .first()
    )
    if following is None or not await _has_items(job) or await blockers(job):
        return
    # `following` is read without a lock (a share lock here, under the job's, could deadlock
    # with a change of the stages: workflow.unit): its WIP limit is counted under the
    # pipeline's lock.
    await enter_stage(unit, job, following)
