"""Jobs: one paid service for one client, moving through a pipeline's stages."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from models.client import Client
from models.firm import Firm, User
from models.pipeline import Pipeline, Stage

if TYPE_CHECKING:
    from models.schedules import RecurringSchedule
    from models.templates import JobTemplate


class JobStatus(StrEnum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"


class Priority(StrEnum):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"


class Job(Model):
    """A job on a board, ordered within its stage by rank (see workflow.ranking).

    The version grows by one on every change to the row, for optimistic locking (not when
    the scheduler announces a deadline: nothing the user edits changed).
    """

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="jobs", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="jobs", on_delete=fields.RESTRICT
    )
    pipeline: fields.ForeignKeyRelation[Pipeline] = fields.ForeignKeyField(
        "models.Pipeline", related_name="jobs", on_delete=fields.RESTRICT
    )
    stage: fields.ForeignKeyRelation[Stage] = fields.ForeignKeyField(
        "models.Stage", related_name="jobs", on_delete=fields.RESTRICT
    )
    title = fields.CharField(max_length=200)
    rank = fields.CharField(max_length=255)
    version = fields.IntField(default=1)
    status = fields.CharEnumField(JobStatus, max_length=10, default=JobStatus.ACTIVE)
    priority = fields.CharEnumField(Priority, max_length=10, default=Priority.NORMAL)
    start_date = fields.DateField(null=True)
    due_date = fields.DateField(null=True)
    tags: list[str] = fields.JSONField(default=list)
    # Values of the firm's JOB custom fields by key (workflow.custom_fields checks them).
    custom_fields: dict[str, object] = fields.JSONField(default=dict, db_default="{}")
    # What a recurring job is for, as its label (workflow.periods), and the template it came from.
    period = fields.CharField(max_length=10, null=True)
    template: fields.ForeignKeyNullableRelation[JobTemplate] = fields.ForeignKeyField(
        "models.JobTemplate",
        related_name="jobs",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,  # deleting a template clears its jobs' template_id
    )
    # The schedule that made it: one job per (schedule, client, period), a unique key below
    recurring_schedule: fields.ForeignKeyNullableRelation[RecurringSchedule] = (
        fields.ForeignKeyField(
            "models.RecurringSchedule", related_name="jobs", null=True, on_delete=fields.SET_NULL
        )
    )
    stage_entered_at = fields.DatetimeField()
    # Deadlines (workflow.deadlines): the stage limit, the next crossing not yet announced
    # (null when none is left), and which crossings were announced.
    stage_due_at = fields.DatetimeField(null=True)
    overdue_check_at = fields.DatetimeField(null=True)
    stage_overdue_announced = fields.BooleanField(default=False, db_default=False)
    due_overdue_announced = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    assignees: fields.ManyToManyRelation[User] = fields.ManyToManyField(
        "models.User", related_name="assigned_jobs", through="job_assignee"
    )

    firm_id: int
    client_id: int
    pipeline_id: int
    stage_id: int
    template_id: int | None
    recurring_schedule_id: int | None

    class Meta:
        table = "job"
        unique_together = (("stage", "rank"), ("recurring_schedule", "client", "period"))
        indexes = (("firm_id", "status"), ("pipeline_id", "status"), ("overdue_check_at",))
