"""MOVE_JOB: move the job on to another stage of its pipeline."""

from __future__ import annotations

from typing import Any

from automations import settings as typed
from models import Job, Stage
from workflow import jobs
from workflow.errors import invalid
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    typed.only(settings, "MOVE_JOB", ("stageId",))
    target = await typed.record(scope, settings, "stageId", Stage)
    if target.pipeline_id != stage.pipeline_id or target.id == stage.id:
        raise invalid("settings.stageId", "the target must be another stage of this pipeline")
    return {"stageId": target.id}


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    moved = await jobs.move_job(scope, job.id, settings["stageId"])
    return {"stageId": moved.stage_id}
