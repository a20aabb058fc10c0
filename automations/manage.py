"""Automations of a stage: create, change, delete. Settings are checked when saved."""

from __future__ import annotations

from typing import Any

from automations import conditions as automation_conditions
from automations.actions import ACTIONS
from models import (
    ActionType,
    Automation,
    AutomationRun,
    AutomationTrigger,
    RunStatus,
    Stage,
    sql,
)
from models.db import is_postgres
from workflow import clock
from workflow.errors import invalid, not_found
from workflow.scope import Scope
from workflow.unit import RUNS, change, owe

# Every entry into a stage records a run of each of its automations in the move's transaction:
# this bounds what one move (and one chain of automated moves) can set off.
MAX_AUTOMATIONS_PER_STAGE = 20
# A date trigger at most this many days from its entry or due date (ten years).
MAX_TRIGGER_DAYS = 3650
# The triggers that take a number of days (ON_DUE_DATE and STAGE_ENTRY take none).
COUNTED = frozenset(
    {
        AutomationTrigger.DAYS_IN_STAGE,
        AutomationTrigger.DAYS_BEFORE_DUE,
        AutomationTrigger.DAYS_AFTER_DUE,
    }
)


def check_trigger(trigger: AutomationTrigger, days: int | None) -> int | None:
    """The days a trigger keeps: 1 to MAX_TRIGGER_DAYS for the DAYS_* triggers, none (null or
    0) for the others."""
    if trigger in COUNTED:
        if days is None:
            raise invalid("triggerDays", f"{trigger} needs triggerDays")
        if not 1 <= days <= MAX_TRIGGER_DAYS:
            raise invalid("triggerDays", f"triggerDays must be 1 to {MAX_TRIGGER_DAYS}")
        return days
    if days:
        raise invalid("triggerDays", f"{trigger} takes no triggerDays")
    return None


async def _check(
    scope: Scope, stage: Stage, action: ActionType, settings: dict[str, Any]
) -> dict[str, Any]:
    """The action's settings, typed (see automations.settings): refused, never coerced."""
    if not isinstance(settings, dict):
        raise invalid("settings", "settings must be an object")
    checked: dict[str, Any] = await ACTIONS[action].check(scope, stage, settings)
    return checked


async def create_automation(
    scope: Scope,
    stage_id: int,
    action: ActionType,
    settings: dict[str, Any],
    enabled: bool = True,
    conditions: dict[str, Any] | None = None,
    trigger: AutomationTrigger = AutomationTrigger.STAGE_ENTRY,
    trigger_days: int | None = None,
) -> Automation:
    """Add an automation last among its stage's automations."""
    days = check_trigger(trigger, trigger_days)
    stage = await scope.get(Stage, stage_id, field="stageId")
    checked = await _check(scope, stage, action, settings)
    checked_conditions = await automation_conditions.check(scope, conditions or {})
    async with change(scope):
        # Positions, one at a time. FOR NO KEY UPDATE: a job or template may still be written
        # into the stage (their foreign keys take KEY SHARE), and a change holding the firm's
        # row while it writes one must not wait for this change, which bumps that row next.
        if not await sql.fetch(
            'SELECT "id" FROM "stage" WHERE "firm_id" = ? AND "id" = ?'
            + (" FOR NO KEY UPDATE" if is_postgres() else ""),
            [scope.firm_id, stage_id],
        ):
            raise not_found("Stage", "stageId")
        position = await Automation.filter(stage_id=stage_id).count()
        if position >= MAX_AUTOMATIONS_PER_STAGE:
            raise invalid(
                "stageId",
                f"a stage has at most {MAX_AUTOMATIONS_PER_STAGE} "
                "automations: delete one, or combine their work, first",
            )
        return await Automation.create(
            firm_id=scope.firm_id,
            stage_id=stage_id,
            position=position,
            action=action,
            settings=checked,
            enabled=enabled,
            conditions=checked_conditions,
            trigger=trigger,
            trigger_days=days,
        )


async def update_automation(
    scope: Scope,
    automation_id: int,
    settings: dict[str, Any] | None = None,
    enabled: bool | None = None,
    conditions: dict[str, Any] | None = None,
    trigger: AutomationTrigger | None = None,
    trigger_days: int | None = None,
) -> Automation:
    """Change what is given. A new trigger keeps the days it had if it takes days; runs
    already recorded keep the trigger and days they were recorded with."""
    automation = await scope.get(Automation, automation_id, field="id")
    if trigger is not None or trigger_days is not None:
        new_trigger = trigger or automation.trigger
        if trigger_days is None and new_trigger in COUNTED:
            trigger_days = automation.trigger_days
        automation.trigger_days = check_trigger(new_trigger, trigger_days)
        automation.trigger = new_trigger
    if conditions is not None:
        automation.conditions = await automation_conditions.check(scope, conditions)
    if settings is not None:
        stage = await scope.get(Stage, automation.stage_id)
        automation.settings = await _check(scope, stage, automation.action, settings)
    if enabled is not None:
        automation.enabled = enabled
    async with change(scope):
        await automation.save(
            update_fields=[
                "settings",
                "enabled",
                "conditions",
                "trigger",
                "trigger_days",
                "updated_at",
            ]
        )
    return automation


async def delete_automation(scope: Scope, automation_id: int) -> None:
    """Delete an automation; runs already recorded keep their copy of it."""
    automation = await scope.get(Automation, automation_id, field="id")
    async with change(scope):
        await automation.delete()


async def retry_run(scope: Scope, run_id: int) -> AutomationRun:
    """Run a FAILED run again, as soon as a runner is free."""
    run = await scope.get(AutomationRun, run_id, field="id")
    if run.status != RunStatus.FAILED:
        raise invalid("id", f"only a FAILED run can be retried; this one is {run.status}")
    async with change(scope):
        updated = await AutomationRun.filter(id=run.id, status=RunStatus.FAILED).update(
            status=RunStatus.PENDING, run_after=clock.now(), attempts=0, finished_at=None
        )
        if not updated:
            raise invalid("id", "the run changed meanwhile: reload it")
        owe(RUNS)  # a runner of this process is woken after the commit
    await run.refresh_from_db()
    return run
