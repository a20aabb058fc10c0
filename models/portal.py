"""The client portal's credentials: single-use sign-in links and the sessions they open.

Only the SHA-256 of each secret is stored (workflow.firms.hash_token); the secret itself is
shown once (a session token) or sent once by email (a link token, see models.email).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from models.contact import Contact
from models.firm import Firm


class PortalLink(Model):
    """A sign-in link token, valid until expires_at and only once."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="portal_links", on_delete=fields.CASCADE
    )
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="portal_links", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    contact_id: int

    class Meta:
        table = "portal_link"


class PortalSession(Model):
    """The bearer token of a signed-in contact, for /portal/graphql."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="portal_sessions", on_delete=fields.CASCADE
    )
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="portal_sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    contact_id: int

    class Meta:
        table = "portal_session"
