"""ARCHIVE_JOB: archive the job."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Stage
from workflow import jobs
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for ARCHIVE_JOB, as `check` leaves them."""


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "ARCHIVE_JOB", typed.keys(Settings))
    return {}


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    await jobs.archive_job(scope, job.id)
    return {}
