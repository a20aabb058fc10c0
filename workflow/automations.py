"""Automations of a stage: create, change, delete. Settings are checked when saved."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from automations.actions import ACTIONS
from models import ActionType, Automation, Stage
from workflow.scope import Scope


async def create_automation(
    scope: Scope, stage_id: int, action: ActionType, settings: dict[str, Any],
    enabled: bool = True,
) -> Automation:
    """Add an automation last among its stage's automations."""
    stage = await scope.get(Stage, stage_id, field="stageId")
    checked = await ACTIONS[action].check(scope, stage, settings)
    async with in_transaction():
        await scope.get(Stage, stage_id, field="stageId", lock=True)  # positions, one at a time
        position = await Automation.filter(stage_id=stage_id).count()
        return await Automation.create(
            firm_id=scope.firm_id, stage_id=stage_id, position=position, action=action,
            settings=checked, enabled=enabled,
        )


async def update_automation(
    scope: Scope, automation_id: int, settings: dict[str, Any] | None = None,
    enabled: bool | None = None,
) -> Automation:
    automation = await scope.get(Automation, automation_id, field="id")
    if settings is not None:
        stage = await scope.get(Stage, automation.stage_id)
        automation.settings = await ACTIONS[automation.action].check(scope, stage, settings)
    if enabled is not None:
        automation.enabled = enabled
    await automation.save(update_fields=["settings", "enabled", "updated_at"])
    return automation


async def delete_automation(scope: Scope, automation_id: int) -> None:
    """Delete an automation; runs already recorded keep their copy of it."""
    automation = await scope.get(Automation, automation_id, field="id")
    await automation.delete()
