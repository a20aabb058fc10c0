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


class MessageDirection(StrEnum):
    OUTBOUND = "OUTBOUND"  # from the firm to the client
    INBOUND = "INBOUND"  # a client's reply, written in the portal


class Reminded(Model):
    """What is sent to the client until it acts: a reminder email every remind_every_days,
    at most max_reminders times, while the organizer is unanswered or the invoice unpaid.
    next_reminder_at is when the next one is due (None: no more)."""

    remind_every_days = fields.IntField(null=True)
    max_reminders = fields.IntField(default=0)
    reminders_sent = fields.IntField(default=0)
    next_reminder_at = fields.DatetimeField(null=True, db_index=True)

    class Meta:
        abstract = True


class Organizer(Reminded):
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
    """A message about a job: to the client (OUTBOUND) or a reply from the client (INBOUND)."""

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
    direction = fields.CharEnumField(
        MessageDirection, max_length=10, default=MessageDirection.OUTBOUND
    )
    # An INBOUND message's author, and the message it answers.
    contact_id = fields.IntField(null=True)
    in_reply_to_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    job_id: int
    client_id: int

    class Meta:
        table = "message"


class Invoice(Reminded):
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
