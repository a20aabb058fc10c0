"""UPDATE_TAGS: add and remove tags on the job or on its client."""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Client, Job, Stage
from workflow import clients, jobs
from workflow.errors import invalid
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for UPDATE_TAGS, as `check` leaves them."""

    target: str
    add: list[str]
    remove: list[str]


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "UPDATE_TAGS", typed.keys(Settings))
    target = typed.choice(settings, "target", ("JOB", "CLIENT"), "JOB")
    add, remove = typed.tags(settings, "add"), typed.tags(settings, "remove")
    if not add and not remove:
        raise invalid("settings.add", "say which tags to add or remove")
    return {"target": target, "add": add, "remove": remove}


def _apply(tags: list[str], settings: Settings) -> list[str]:
    kept = [tag for tag in tags if tag not in settings["remove"]]
    return kept + [tag for tag in settings["add"] if tag not in kept]


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    if settings["target"] == "CLIENT":
        client = await scope.get(Client, job.client_id)
        updated = await clients.update_client(scope, client.id, tags=_apply(client.tags, settings))
        return {"tags": updated.tags}
    changed = await jobs.update_job(scope, job.id, tags=_apply(job.tags, settings))
    return {"tags": changed.tags}
