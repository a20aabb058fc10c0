"""Stage automations and their runs."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.event import JobEvent
from models.firm import Firm
from models.job import Job
from models.pipeline import Stage


class ActionType(StrEnum):
    CREATE_TASK = "CREATE_TASK"
    MOVE_JOB = "MOVE_JOB"
    ARCHIVE_JOB = "ARCHIVE_JOB"
    SEND_ORGANIZER = "SEND_ORGANIZER"
    SEND_MESSAGE = "SEND_MESSAGE"
    CREATE_INVOICE = "CREATE_INVOICE"
    TRANSFER_JOB = "TRANSFER_JOB"
    UPDATE_TAGS = "UPDATE_TAGS"
    CALL_WEBHOOK = "CALL_WEBHOOK"


class RunStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


class AutomationTrigger(StrEnum):
    """When an automation runs for a job in its stage: at entry, or on a date (see
    workflow.stage_entry.fire_at)."""

    STAGE_ENTRY = "STAGE_ENTRY"
    DAYS_IN_STAGE = "DAYS_IN_STAGE"
    DAYS_BEFORE_DUE = "DAYS_BEFORE_DUE"
    ON_DUE_DATE = "ON_DUE_DATE"
    DAYS_AFTER_DUE = "DAYS_AFTER_DUE"


# The triggers that fire relative to the job due date (none fire for a job without one).
DUE_TRIGGERS = frozenset(
    {
        AutomationTrigger.DAYS_BEFORE_DUE,
        AutomationTrigger.ON_DUE_DATE,
        AutomationTrigger.DAYS_AFTER_DUE,
    }
)


class Automation(Model):
    """An action a stage runs for each job that enters it, at entry or on a date, in order.

    A dated one (trigger and trigger_days) fires a number of days after the entry, or relative
    to the job due date, if the job is still in the stage then.
    """

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="automations", on_delete=fields.CASCADE
    )
    stage: fields.ForeignKeyRelation[Stage] = fields.ForeignKeyField(
        "models.Stage", related_name="automations", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    action = fields.CharEnumField(ActionType, max_length=30)
    settings: dict[str, object] = fields.JSONField(default=dict)
    conditions: dict[str, Any] = fields.JSONField(default=dict)
    enabled = fields.BooleanField(default=True)
    trigger = fields.CharEnumField(
        AutomationTrigger, max_length=20, default=AutomationTrigger.STAGE_ENTRY
    )
    trigger_days = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int
    stage_id: int

    class Meta:
        table = "automation"
        indexes = (("stage_id", "position"),)


class AutomationRun(Model):
    """One automation for one stage entry, recorded in the transaction of the entry.

    The runner executes it after commit (a dated one from run_after on), in a transaction
    that also marks it done, so its effects happen once. It keeps a copy of the action,
    settings, trigger and days as they were at entry, and a due-relative one the due date it
    was scheduled for.
    """

    id: int = fields.BigIntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="automation_runs", on_delete=fields.CASCADE
    )
    automation: fields.ForeignKeyNullableRelation[Automation] = fields.ForeignKeyField(
        "models.Automation", related_name="runs", null=True, on_delete=fields.SET_NULL
    )
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="automation_runs", on_delete=fields.CASCADE
    )
    entry: fields.ForeignKeyRelation[JobEvent] = fields.ForeignKeyField(
        "models.JobEvent", related_name="automation_runs", on_delete=fields.CASCADE
    )
    stage_id = fields.IntField()
    action = fields.CharEnumField(ActionType, max_length=30)
    settings: dict[str, object] = fields.JSONField(default=dict)
    status = fields.CharEnumField(RunStatus, max_length=10, default=RunStatus.PENDING)
    depth = fields.IntField(default=0)
    attempts = fields.IntField(default=0)
    run_after = fields.DatetimeField()
    trigger = fields.CharEnumField(
        AutomationTrigger, max_length=20, default=AutomationTrigger.STAGE_ENTRY
    )
    trigger_days = fields.IntField(null=True)
    due_date = fields.DateField(null=True)
    error = fields.TextField(null=True)
    result: dict[str, object] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    firm_id: int
    automation_id: int | None
    job_id: int
    entry_id: int

    class Meta:
        table = "automation_run"
        indexes = (("status", "run_after"), ("job_id", "id"))
