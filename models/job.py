"""Jobs: one paid service for one client, moving through a pipeline's stages."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.client import Client
from models.firm import Firm, User
from models.pipeline import Pipeline, Stage


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

    class Meta:
        table = "job"
        unique_together = (("stage", "rank"),)
        indexes = (("firm_id", "status"), ("pipeline_id", "status"), ("overdue_check_at",))
