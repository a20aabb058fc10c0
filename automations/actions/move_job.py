"""MOVE_JOB: move the job on to another stage of its pipeline."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Stage
from workflow import jobs
from workflow.errors import invalid
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for MOVE_JOB, as `check` leaves them."""

    stageId: int


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "MOVE_JOB", typed.keys(Settings))
    target = await typed.record(scope, settings, "stageId", Stage)
    if target.pipeline_id != stage.pipeline_id or target.id == stage.id:
        raise invalid("settings.stageId", "the target must be another stage of this pipeline")
    return {"stageId": target.id}


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    moved = await jobs.move_job(scope, job.id, settings["stageId"])
    return {"stageId": moved.stage_id}
