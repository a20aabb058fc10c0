"""Firms, their people and their API tokens; authentication of bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from models import ApiToken, Firm, Role, User
from workflow import validation
from workflow.errors import invalid
from workflow.scope import Scope

TOKEN_PREFIX = "wf_"
# last_used_at is refreshed at most this often, so authentication stays a read.
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewFirm:
    firm: Firm
    owner: User
    token: str  # the secret, shown once


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(user: User, name: str) -> str:
    """Create a token for a user and return its secret; only its hash is stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(
        firm_id=user.firm_id, user_id=user.id, name=validation.name(name, "name"),
        token_hash=hash_token(secret),
    )
    return secret


async def create_firm(name: str, owner_email: str, owner_name: str | None = None) -> NewFirm:
    firm_name = validation.name(name, "name")
    email = validation.email(owner_email, "ownerEmail")
    if email is None:
        raise invalid("ownerEmail", "ownerEmail is required")
    async with in_transaction():
        firm = await Firm.create(name=firm_name)
        owner = await User.create(
            firm_id=firm.id, email=email, name=owner_name or email.split("@")[0], role=Role.OWNER
        )
        token = await issue_token(owner, "owner")
    return NewFirm(firm, owner, token)


async def authenticate(secret: str) -> Scope | None:
    """The scope of a live token of an active user, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = await ApiToken.filter(
        token_hash=hash_token(secret), revoked_at__isnull=True, user__is_active=True
    ).first()
    if token is None:
        return None
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return Scope(firm_id=token.firm_id, user_id=token.user_id)
