"""Outbound email: one row per message to one recipient, written in the transaction of the
change that sends it (an organizer, a message, an invoice, a reminder, a portal link), then
delivered by the mailer (mail.mailer) with retries.

A portal link's sign-in token is a secret: it is not stored in the body, which holds the
placeholder LINK_TOKEN_PLACEHOLDER; the token is kept sealed (models.keys) in `sealed_secret`
until the email is sent, and dropped then.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.client import Client
from models.contact import Contact
from models.firm import Firm
from models.job import Job

LINK_TOKEN_PLACEHOLDER = "{{link_token}}"
LINK_TOKEN_PURPOSE = b"portal-link-token"  # what models.keys.seal binds a sealed_secret to


class EmailKind(StrEnum):
    ORGANIZER = "ORGANIZER"
    MESSAGE = "MESSAGE"
    INVOICE = "INVOICE"
    REMINDER = "REMINDER"
    PORTAL_LINK = "PORTAL_LINK"


class EmailStatus(StrEnum):
    QUEUED = "QUEUED"  # due at next_attempt_at (also while an attempt is in flight: its lease)
    SENT = "SENT"
    FAILED = "FAILED"  # refused for good (a bad address), or out of retries


def new_message_id() -> str:
    """The local part of the Message-ID header: random, so it tells nothing of other traffic."""
    return secrets.token_hex(16)


class Email(Model):
    id: int = fields.BigIntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="emails", on_delete=fields.CASCADE
    )
    job: fields.ForeignKeyNullableRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="emails", null=True, on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="emails", on_delete=fields.CASCADE
    )
    # The recipient; the address is kept as sent, should the contact change or go.
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="emails", null=True, on_delete=fields.SET_NULL
    )
    to_address = fields.CharField(max_length=254)
    kind = fields.CharEnumField(EmailKind, max_length=20)
    subject = fields.CharField(max_length=500)
    text_body = fields.TextField()
    html_body = fields.TextField()
    # What the email is about (at most one): for resending and for staff to follow.
    organizer_id = fields.IntField(null=True)
    invoice_id = fields.IntField(null=True)
    message_id = fields.IntField(null=True)  # the Message row, not the header
    header_message_id = fields.CharField(max_length=40, unique=True, default=new_message_id)
    sealed_secret = fields.CharField(max_length=200, null=True)
    status = fields.CharEnumField(EmailStatus, max_length=10, default=EmailStatus.QUEUED)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    last_error = fields.CharField(max_length=1000, null=True)
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    job_id: int | None
    client_id: int
    contact_id: int | None

    class Meta:
        table = "email"
        indexes = (("status", "next_attempt_at"), ("job_id", "id"))
