"""Conditions of an automation, checked when it is saved: which entering jobs it runs for. All
given ones must hold (workflow.stage_entry.unmet says which do not, at each entry).

customFields: {"KEY": [values], "client.KEY": [values]}: the job's (or, with client., its
client's) custom field KEY holds one of the values; checked against the firm's definitions when
saved (workflow.custom_fields.check_conditions). A definition deleted later leaves the condition
unmet (the value is gone with it)."""

from __future__ import annotations

from typing import Any

from automations.settings import strings
from models import Priority
from workflow import custom_fields, validation
from workflow.errors import invalid
from workflow.scope import Scope

TAG_LISTS = ("clientTagsAll", "clientTagsNone", "jobTagsAll")


async def check(scope: Scope, conditions: Any) -> dict[str, Any]:
    """The conditions, validated when the automation is saved: each a list of strings (null or
    empty: no condition), or customFields' lists of values, never coerced."""
    if not isinstance(conditions, dict):
        raise invalid("conditions", "conditions must be an object")
    if unknown := set(conditions) - {*TAG_LISTS, "priorities", "customFields"}:
        raise invalid("conditions", f"unknown conditions: {', '.join(sorted(unknown))}")
    checked: dict[str, Any] = {}
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
    if conditions.get("customFields") is not None:
        field = "conditions.customFields"
        if values := await custom_fields.check_conditions(scope, conditions["customFields"], field):
            checked["customFields"] = values
    return checked
