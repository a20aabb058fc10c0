"""Outbound webhooks: the endpoints a firm registers and every delivery made to them."""

from __future__ import annotations

import secrets
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm
from models.pipeline import Pipeline


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # due at next_attempt_at (also while an attempt is in flight)
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # gave up after the last retry, or the endpoint was disabled


class WebhookEndpoint(Model):
    """A URL the firm wants events posted to, signed with its secret (Standard Webhooks)."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=200, default="")
    event_types: list[str] = fields.JSONField(default=list)
    pipeline: fields.ForeignKeyNullableRelation[Pipeline] = fields.ForeignKeyField(
        "models.Pipeline", related_name="webhook_endpoints", null=True, on_delete=fields.CASCADE
    )
    # The signing secret, encrypted with the deployment's key (models.keys): shown once.
    encrypted_secret = fields.CharField(max_length=100)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=500, null=True)
    consecutive_failures = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    pipeline_id: int | None

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One message for one endpoint, written in the transaction of the change it reports.

    Its message_id (the webhook-id header, random so that it says nothing of other firms'
    traffic) is reused by every attempt and redelivery, so a receiver deduplicates by it.
    next_attempt_at doubles as the lease of an attempt in flight.
    """

    id: int = fields.BigIntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    # Nullable only because SQLite cannot add a NOT NULL column: every row has one.
    message_id = fields.CharField(max_length=40, null=True, unique=True, default=new_message_id)
    event_type = fields.CharField(max_length=50)
    payload: dict[str, object] = fields.JSONField()
    status = fields.CharEnumField(DeliveryStatus, max_length=10, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_status_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    endpoint_id: int

    class Meta:
        table = "webhook_delivery"
        indexes = (("status", "next_attempt_at"), ("endpoint_id", "id"))
