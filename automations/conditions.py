"""Conditions of an automation: which entering jobs it runs for. All given ones must hold."""

from __future__ import annotations

from typing import Any

from models import Job, Priority
from workflow import validation
from workflow.errors import invalid

TAG_LISTS = ("clientTagsAll", "clientTagsNone", "jobTagsAll")


def check(conditions: dict[str, Any]) -> dict[str, list[str]]:
    """The conditions, validated when the automation is saved."""
    if unknown := set(conditions) - {*TAG_LISTS, "priorities"}:
        raise invalid("conditions", f"unknown conditions: {', '.join(sorted(unknown))}")
    checked: dict[str, list[str]] = {}
    for key in TAG_LISTS:
        if conditions.get(key):
            checked[key] = validation.tags(_strings(conditions[key], key), f"conditions.{key}")
    if conditions.get("priorities"):
        priorities = _strings(conditions["priorities"], "priorities")
        if bad := set(priorities) - set(Priority):
            raise invalid("conditions.priorities", f"not a priority: {', '.join(sorted(bad))}")
        checked["priorities"] = sorted(set(priorities))
    return checked


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"conditions.{key}", f"conditions.{key} must be a list of strings")
    return value


def unmet(conditions: dict[str, list[str]], job: Job, client_tags: list[str]) -> str | None:
    """Why the automation does not apply to this job, or None if it does."""
    if missing := set(conditions.get("clientTagsAll", ())) - set(client_tags):
        return f"the client lacks tags {sorted(missing)}"
    if present := set(conditions.get("clientTagsNone", ())) & set(client_tags):
        return f"the client has tags {sorted(present)}"
    if missing := set(conditions.get("jobTagsAll", ())) - set(job.tags):
        return f"the job lacks tags {sorted(missing)}"
    if (priorities := conditions.get("priorities")) and job.priority not in priorities:
        return f"the job's priority is {job.priority}"
    return None
