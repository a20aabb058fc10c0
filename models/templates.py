"""Job templates: what a job made from one starts with (title, tags, assignees, checklist,
due date), for one client and period at a time."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm, User
from models.job import Priority
from models.pipeline import Pipeline, Stage


class JobTemplate(Model):
    """A recipe for jobs of one pipeline (see workflow.templates for the rules it keeps).

    The checklist is a JSON list of task templates, each with title, description, assignee
    (null, the string JOB_ASSIGNEES, or an object with a user id) and due_in_days. The due date
    rule is at most one of due_days_after_period or the pair due_month and due_day.
    """

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="job_templates", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    pipeline: fields.ForeignKeyRelation[Pipeline] = fields.ForeignKeyField(
        "models.Pipeline", related_name="job_templates", on_delete=fields.RESTRICT
    )
    # Null: the pipeline's first stage (also after the stage is deleted).
    stage: fields.ForeignKeyNullableRelation[Stage] = fields.ForeignKeyField(
        "models.Stage", related_name="job_templates", null=True, on_delete=fields.SET_NULL
    )
    title_template = fields.CharField(max_length=200)
    tags: list[str] = fields.JSONField(default=list)
    priority = fields.CharEnumField(Priority, max_length=10, default=Priority.NORMAL)
    checklist: list[dict[str, object]] = fields.JSONField(default=list)
    due_days_after_period = fields.IntField(null=True)
    due_month = fields.IntField(null=True)
    due_day = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    assignees: fields.ManyToManyRelation[User] = fields.ManyToManyField(
        "models.User", related_name="job_templates", through="job_template_assignee"
    )

    firm_id: int
    pipeline_id: int
    stage_id: int | None

    class Meta:
        table = "job_template"
