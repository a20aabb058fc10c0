"""Tasks: to-do items of a job, each assigned to a team member."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm, User
from models.job import Job


class Task(Model):
    """A to-do item linked to one job."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="tasks", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="tasks", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tasks", null=True, on_delete=fields.SET_NULL
    )
    due_date = fields.DateField(null=True)
    stage_id = fields.IntField(null=True)  # the job's stage when the task was made (auto-move)
    done = fields.BooleanField(default=False)
    done_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int
    job_id: int
    assignee_id: int | None

    class Meta:
        table = "task"
        # index on (job_id, id): idx_task_job_id, made by migration 0007
