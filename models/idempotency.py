"""Stored responses of mutation requests sent with an Idempotency-Key header."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.firm import ApiToken, Firm


class IdempotentRequest(Model):
    """A key claimed by a request. response is null while the request runs, or if the server
    stopped under it. `changed` is set in the transaction of any change the request made, so
    after the claim's lease a retry knows whether it may run again (nothing was changed) or
    must not (the change committed, its response was lost)."""

    id: int = fields.BigIntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="idempotent_requests", on_delete=fields.CASCADE
    )
    # Keys belong to the token that sent them: another caller's key is another key. Null
    # only on rows written before that (they expire within a day).
    token: fields.ForeignKeyNullableRelation[ApiToken] = fields.ForeignKeyField(
        "models.ApiToken",
        related_name="idempotent_requests",
        null=True,
        on_delete=fields.CASCADE,
    )
    key = fields.CharField(max_length=255)
    request_hash = fields.CharField(max_length=64)
    status_code = fields.IntField(null=True)
    response = fields.TextField(null=True)
    changed = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    token_id: int | None

    class Meta:
        table = "idempotent_request"
        unique_together = (("token", "key"),)
        indexes = (("created_at",),)
