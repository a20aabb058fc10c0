"""Clients of a firm: the people and businesses jobs are done for."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm


class Client(Model):
    """A client of one firm, with free-form tags."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="clients", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254, null=True)
    tags: list[str] = fields.JSONField(default=list)
    # Values of the firm's CLIENT custom fields by key (workflow.custom_fields checks them).
    custom_fields: dict[str, object] = fields.JSONField(default=dict, db_default="{}")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int

    class Meta:
        table = "client"
