"""ARCHIVE_JOB: archive the job."""

from __future__ import annotations

from typing import Any

from automations import settings as typed
from models import Job, Stage
from workflow import jobs
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    typed.only(settings, "ARCHIVE_JOB", ())
    return {}


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    await jobs.archive_job(scope, job.id)
    return {}
