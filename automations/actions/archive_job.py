"""ARCHIVE_JOB: archive the job."""

from __future__ import annotations

from typing import Any

from models import Job, Stage
from workflow import jobs
from workflow.errors import invalid
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    if settings:
        raise invalid("settings", "ARCHIVE_JOB takes no settings")
    return {}


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    await jobs.archive_job(scope, job.id)
    return {}
