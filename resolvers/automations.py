"""Automations: mutations (they are read through Stage.automations and Job.automationRuns)."""

from __future__ import annotations

from typing import Any

import strawberry

from automations import manage
from resolvers.common import delete, mutate, payload
from schema.context import Info
from schema.inputs import (
    CreateAutomationInput,
    DeleteAutomationInput,
    RetryAutomationRunInput,
    UpdateAutomationInput,
)
from schema.payloads import AutomationPayload, AutomationRunPayload, DeletePayload
from schema.types import ID_SETTINGS, AutomationRunType, AutomationType
from workflow.errors import DomainError, ErrorCode, invalid
from workflow.global_ids import decode_id


def settings_in(settings: Any) -> dict[str, Any]:
    """Settings as the domain keeps them: references as row ids, decoded from global ids like
    every other id (a number, or anything but a valid id of its type, is INVALID_ID)."""
    if not isinstance(settings, dict):
        raise invalid("settings", "settings must be an object")
    return {
        key: _reference(key, value) if key in ID_SETTINGS else value
        for key, value in settings.items()
    }


def _reference(key: str, value: Any) -> int | None:
    field = f"settings.{key}"
    if value is None:  # an optional reference left out (settings read back carry nulls)
        return None
    if not isinstance(value, str):
        raise DomainError(ErrorCode.INVALID_ID, f"{field} is not a valid id", field)
    return decode_id(value, ID_SETTINGS[key], field)


def conditions_in(conditions: Any) -> dict[str, Any] | None:
    if conditions is not None and not isinstance(conditions, dict):
        raise invalid("conditions", "conditions must be an object")
    return conditions


_automation = payload(AutomationPayload, "automation", AutomationType.from_model)
_run = payload(AutomationRunPayload, "automation_run", AutomationRunType.from_model)


@strawberry.type
class AutomationMutations:
    @strawberry.mutation(description="Add an automation, last among its stage's automations.")
    async def create_automation(
        self, info: Info, input: CreateAutomationInput
    ) -> AutomationPayload:
        return await mutate(
            info,
            _automation,
            lambda scope: manage.create_automation(
                scope,
                decode_id(input.stage_id, "Stage", "stageId"),
                input.action,
                settings_in(input.settings),
                input.enabled,
                conditions_in(input.conditions),
                input.trigger,
                input.trigger_days,
            ),
        )

    @strawberry.mutation
    async def update_automation(
        self, info: Info, input: UpdateAutomationInput
    ) -> AutomationPayload:
        return await mutate(
            info,
            _automation,
            lambda scope: manage.update_automation(
                scope,
                decode_id(input.id, "Automation", "id"),
                None if input.settings is None else settings_in(input.settings),
                input.enabled,
                conditions_in(input.conditions),
                input.trigger,
                input.trigger_days,
            ),
        )

    @strawberry.mutation
    async def delete_automation(self, info: Info, input: DeleteAutomationInput) -> DeletePayload:
        return await delete(info, input.id, "Automation", manage.delete_automation)

    @strawberry.mutation(description="Run a FAILED automation run again.")
    async def retry_automation_run(
        self, info: Info, input: RetryAutomationRunInput
    ) -> AutomationRunPayload:
        return await mutate(
            info,
            _run,
            lambda scope: manage.retry_run(scope, decode_id(input.id, "AutomationRun", "id")),
        )
