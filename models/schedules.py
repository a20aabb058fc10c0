"""Recurring schedules: a job template run for a set of clients every period (the rules are in
workflow.recurrence, the scheduler's side in workflow.occurrences)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm

if TYPE_CHECKING:
    from models.templates import JobTemplate


class RecurringSchedule(Model):
    """A job template run for its clients once per period.

    Its periods run from the one holding starts_on to the one holding ends_on. The clients are
    client_ids and, when client_tag is set, every client of the firm with that tag when an
    occurrence runs. frequency is a workflow.periods Frequency. next_period is the
    label of the next occurrence whose jobs are still to create (null: none left), next_run_at
    when that is due (null: paused or none left), which the scheduler reads by its index.
    """

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="recurring_schedules", on_delete=fields.CASCADE
    )
    # RESTRICT: a template that schedules use is not deleted (workflow.templates refuses it)
    template: fields.ForeignKeyRelation[JobTemplate] = fields.ForeignKeyField(
        "models.JobTemplate", related_name="recurring_schedules", on_delete=fields.RESTRICT
    )
    client_ids: list[int] = fields.JSONField(default=list)
    client_tag = fields.CharField(max_length=50, null=True)
    frequency = fields.CharField(max_length=10)
    interval = fields.IntField(default=1)
    starts_on = fields.DateField()
    ends_on = fields.DateField(null=True)
    timezone = fields.CharField(max_length=64)
    lead_days = fields.IntField(default=0)
    paused = fields.BooleanField(default=False)
    next_period = fields.CharField(max_length=10, null=True)
    next_run_at = fields.DatetimeField(null=True, db_index=True)
    # The periods the last resume skipped (they ended while the schedule was paused)
    skipped_while_paused: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int
    template_id: int

    class Meta:
        table = "recurring_schedule"
