"""Conditions of an automation, checked when it is saved: which entering jobs it runs for. All
given ones must hold (workflow.stage_entry.unmet says which do not, at each entry)."""

from __future__ import annotations

from typing import Any

from automations.settings import strings
from models import Priority
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
