"""TRANSFER_JOB: move the job into another pipeline (its first stage, or a named one)."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Pipeline, Stage
from workflow import jobs
from workflow.errors import invalid
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for TRANSFER_JOB, as `check` leaves them."""

    pipelineId: int
    stageId: int | None


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "TRANSFER_JOB", typed.keys(Settings))
    pipeline = await typed.record(scope, settings, "pipelineId", Pipeline)
    if pipeline.id == stage.pipeline_id:
        raise invalid("settings.pipelineId", "the target must be another pipeline: use MOVE_JOB")
    target_stage = await typed.optional_record(scope, settings, "stageId", Stage)
    if target_stage is not None and target_stage.pipeline_id != pipeline.id:
        raise invalid("settings.stageId", "the stage belongs to another pipeline")
    return {"pipelineId": pipeline.id, "stageId": target_stage.id if target_stage else None}


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    moved = await jobs.transfer_job(
        scope, job.id, settings["pipelineId"], stage_id=settings.get("stageId")
    )
    return {"pipelineId": moved.pipeline_id, "stageId": moved.stage_id}
