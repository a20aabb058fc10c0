"""The tenant and its people: firms, users and API tokens."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    STAFF = "STAFF"


class Permission(StrEnum):
    """What a caller may do. A token carries scopes (a subset), a user's role caps them."""

    READ = "READ"  # read the firm's boards, jobs, clients and people
    WRITE = "WRITE"  # work jobs, tasks, clients and documents
    ADMIN = "ADMIN"  # shape pipelines, stages, automations; manage people, tokens, webhooks


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(Permission),
    Role.STAFF: frozenset({Permission.READ, Permission.WRITE}),
}


class Firm(Model):
    """A tenant: everything else belongs to exactly one firm and is invisible to the others."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    # Grows with every change that writes no pipeline event (clients, people, automations,
    # pipeline names): with the pipelines' event_seq it versions all the firm's board data.
    catalog_version: int = fields.BigIntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "firm"


class User(Model):
    """A team member of one firm."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="users", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=254)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=10, default=Role.STAFF)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int

    class Meta:
        table = "app_user"
        unique_together = (("firm", "email"),)


class ApiToken(Model):
    """A bearer token. Only the SHA-256 of its secret is stored: the secret is shown once."""

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="tokens", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    token_hash = fields.CharField(max_length=64, unique=True)
    scopes: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    firm_id: int
    user_id: int

    class Meta:
        table = "api_token"
