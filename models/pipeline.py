"""Pipelines and their ordered stages."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm


class Pipeline(Model):
    """The work process for one service. event_seq numbers its board events (see JobEvent)."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="pipelines", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    event_seq: int = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int
    stages: fields.ReverseRelation[Stage]

    class Meta:
        table = "pipeline"


class Stage(Model):
    """One step of a pipeline, ordered by position (from 0) within it."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="stages", on_delete=fields.CASCADE
    )
    pipeline: fields.ForeignKeyRelation[Pipeline] = fields.ForeignKeyField(
        "models.Pipeline", related_name="stages", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    # What clients see in the portal for a job in this stage (None: the stage's name).
    portal_name = fields.CharField(max_length=200, null=True)
    position = fields.IntField()
    wip_limit = fields.IntField(null=True)
    time_limit_days = fields.IntField(null=True)
    auto_move = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int
    pipeline_id: int

    class Meta:
        table = "stage"
        indexes = (("pipeline_id", "position"),)
