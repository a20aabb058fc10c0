"""Stored responses of mutation requests sent with an Idempotency-Key header."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm


class IdempotentRequest(Model):
    """A key claimed by a request. response is null while the request runs (or if it was
    interrupted): a retry then gets a conflict, never a second execution."""

    id = fields.BigIntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="idempotent_requests", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    status_code = fields.IntField(null=True)
    response = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int

    class Meta:
        table = "idempotent_request"
        unique_together = (("firm", "key"),)
        indexes = (("created_at",),)
