"""The people of a client (a household or a company) who hear from the firm and, with portal
access, sign in to the client portal."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.client import Client
from models.firm import Firm


class Contact(Model):
    """One person of one client, whose email is unique within the client (stored lower-case)."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="contacts", on_delete=fields.CASCADE
    )
    client: fields.ForeignKeyRelation[Client] = fields.ForeignKeyField(
        "models.Client", related_name="contacts", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    portal_access = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    firm_id: int
    client_id: int

    class Meta:
        table = "contact"
        unique_together = (("client", "email"),)
        indexes = (("email",),)  # a portal link request looks an address up in every firm
