"""UPDATE_TAGS: add and remove tags on the job or on its client."""

from __future__ import annotations

from typing import Any

from models import Client, Job, Stage
from workflow import clients, jobs, validation
from workflow.errors import invalid
from workflow.scope import Scope


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> dict[str, Any]:
    if set(settings) - {"target", "add", "remove"}:
        raise invalid("settings", "UPDATE_TAGS takes target, add and remove")
    target = settings.get("target", "JOB")
    if target not in ("JOB", "CLIENT"):
        raise invalid("settings.target", "settings.target is JOB or CLIENT")
    add = validation.tags(_strings(settings.get("add", []), "add"), "settings.add")
    remove = validation.tags(_strings(settings.get("remove", []), "remove"), "settings.remove")
    if not add and not remove:
        raise invalid("settings.add", "say which tags to add or remove")
    return {"target": target, "add": add, "remove": remove}


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"settings.{key}", f"settings.{key} must be a list of tags")
    return value


def _apply(tags: list[str], settings: dict[str, Any]) -> list[str]:
    kept = [tag for tag in tags if tag not in settings["remove"]]
    return kept + [tag for tag in settings["add"] if tag not in kept]


async def run(scope: Scope, job: Job, settings: dict[str, Any]) -> dict[str, Any]:
    if settings["target"] == "CLIENT":
        client = await scope.get(Client, job.client_id)
        updated = await clients.update_client(scope, client.id, tags=_apply(client.tags, settings))
        return {"tags": updated.tags}
    changed = await jobs.update_job(scope, job.id, tags=_apply(job.tags, settings))
    return {"tags": changed.tags}
