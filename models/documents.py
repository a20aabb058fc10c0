"""What automations send the client for a job: organizers, messages, invoices.

Each stays linked to its job and client; organizers and invoices also remember the stage the
job was in, for the stage's auto-move (they must be submitted or paid before it moves on).
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.client import Client
from models.firm import Firm
from models.job import Job


class OrganizerStatus(StrEnum):
    SENT = "SENT"
    SUBMITTED = "SUBMITTED"


class InvoiceStatus(StrEnum):
    UNPAID = "UNPAID"
    PAID = "PAID"


class Organizer(Model):
    """A questionnaire sent to the client."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="organizers", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="organizers", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="organizers", on_delete=fields.CASCADE
    )
    stage_id = fields.IntField()
    title = fields.CharField(max_length=200)
    questions: list[str] = fields.JSONField(default=list)
    answers: list[str] = fields.JSONField(default=list)
    status = fields.CharEnumField(OrganizerStatus, max_length=10, default=OrganizerStatus.SENT)
    created_at = fields.DatetimeField(auto_now_add=True)
    submitted_at = fields.DatetimeField(null=True)

    firm_id: int
    job_id: int
    client_id: int

    class Meta:
        table = "organizer"


class Message(Model):
    """A message to the client about a job."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="messages", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="messages", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="messages", on_delete=fields.CASCADE
    )
    subject = fields.CharField(max_length=500)
    body = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    job_id: int
    client_id: int

    class Meta:
        table = "message"


class Invoice(Model):
    """An invoice to the client for a job, with amounts in cents."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="invoices", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="invoices", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="invoices", on_delete=fields.CASCADE
    )
    stage_id = fields.IntField()
    currency = fields.CharField(max_length=3)
    line_items: list[dict[str, object]] = fields.JSONField(default=list)
    total_cents: int = fields.BigIntField()
    status = fields.CharEnumField(InvoiceStatus, max_length=10, default=InvoiceStatus.UNPAID)
    created_at = fields.DatetimeField(auto_now_add=True)
    paid_at = fields.DatetimeField(null=True)

    firm_id: int
    job_id: int
    client_id: int

    class Meta:
        table = "invoice"
