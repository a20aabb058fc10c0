"""Conditions of an automation: which entering jobs it runs for. All given ones must hold."""

from __future__ import annotations

from typing import Any

from automations.settings import strings
from models import Job, Priority
from workflow import validation
from workflow.errors import invalid

TAG_LISTS = ("clientTagsAll", "clientTagsNone", "jobTagsAll")


def check(conditions: Any) -> dict[str, list[str]]:
    """The conditions, validated when the automation is saved: each a list of strings (null or
    empty: no condition), never coerced."""
    if not isinstance(conditions, dict):
        raise invalid("conditions", "conditions must be an object")
    if unknown := set(conditions) - {*TAG_LISTS, "priorities"}:
        raise invalid("conditions", f"unknown conditions: {', '.join(sorted(unknown))}")
    checked: dict[str, list[str]] = {}
    for key in TAG_LISTS:
        if conditions.get(key) is not None:
            field = f"conditions.{key}"
            if tags := validation.tags(strings(conditions[key], field, validation.TAGS_MAX), field):
                checked[key] = tags
    if conditions.get("priorities") is not None:
        priorities = strings(conditions["priorities"], "conditions.priorities", validation.TAGS_MAX)
        if bad := set(priorities) - set(Priority):
            raise invalid("conditions.priorities", f"not a priority: {', '.join(sorted(bad))}")
        if priorities:
            checked["priorities"] = sorted(set(priorities))
    return checked


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
