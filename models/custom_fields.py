"""Custom fields: the facts a firm tracks on its jobs and clients that the product does not
know (EIN, filing status, fiscal year end). The values live on the job and client rows, in
their custom_fields JSON column, keyed by each definition's key (workflow.custom_fields)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm


class CustomFieldEntity(StrEnum):
    JOB = "JOB"
    CLIENT = "CLIENT"


class CustomFieldType(StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOLEAN = "BOOLEAN"
    SELECT = "SELECT"


class CustomField(Model):
    """A custom field of the jobs or the clients of one firm.

    The key is the immutable name values are stored under, the label what people read, the
    options the allowed values of a SELECT field (an empty list for the other types).
    """

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="custom_fields", on_delete=fields.CASCADE
    )
    entity = fields.CharEnumField(CustomFieldEntity, max_length=10)
    key = fields.CharField(max_length=40)
    label = fields.CharField(max_length=200)
    type = fields.CharEnumField(CustomFieldType, max_length=10)
    options: list[str] = fields.JSONField(default=list)
    required = fields.BooleanField(default=False)
    position = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int

    class Meta:
        table = "custom_field"
        unique_together = (("firm", "entity", "key"),)
