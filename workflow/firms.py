"""Firms, their API tokens and the authentication of bearer tokens.

A token's permissions are its scopes capped by its user's role, decided afresh on every request
and websocket check, so a revoked token, a deactivated user or a lowered role takes effect at
once. Revocations are announced after commit (`on_revoked`) so open websockets close too.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from models import ROLE_PERMISSIONS, ApiToken, Firm, Permission, Role, User, sql
from workflow import shown_once, validation
from workflow.errors import DomainError, ErrorCode, forbidden, invalid
from workflow.scope import NOBODY, Scope
from workflow.unit import change

log = logging.getLogger(__name__)

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


async def issue_token(
    user: User, name: str, scopes: Iterable[Permission] = tuple(Permission)
) -> tuple[ApiToken, str]:
    """Create a token for a user; returns it with its secret, of which only the hash is kept."""
    secret = shown_once.note(TOKEN_PREFIX + secrets.token_urlsafe(32))
    token = await ApiToken.create(
        firm_id=user.firm_id,
        user_id=user.id,
        name=validation.name(name, "name"),
        token_hash=hash_token(secret),
        scopes=sorted(set(scopes)),
    )
    return token, secret


async def _caller_role(scope: Scope) -> Role | None:
    """The calling user's role; None for the system (no user)."""
    if scope.user_id is None:
        return None
    return (await scope.get(User, scope.user_id, field="userId")).role


async def create_api_token(
    scope: Scope, name: str, scopes: Iterable[Permission]
) -> tuple[ApiToken, str]:
    """A token for the caller, with no more rights than the caller has."""
    wanted = set(scopes)
    if not wanted:
        raise invalid("scopes", "give at least one scope")
    if not wanted <= scope.permissions:
        raise forbidden("a token cannot have a scope its creator lacks", "scopes")
    user = await scope.get(User, scope.user_id or 0, field="userId")
    async with change(scope):
        return await issue_token(user, name, wanted)


async def revoke_api_token(scope: Scope, token_id: int) -> ApiToken:
    """Only an owner may revoke an owner's token, so no admin can lock the owners out."""
    token = await scope.get(ApiToken, token_id, field="id")
    if token.user_id != scope.user_id:
        holder = await scope.get(User, token.user_id, field="id")
        if holder.role == Role.OWNER and await _caller_role(scope) != Role.OWNER:
            raise forbidden("only an owner may revoke an owner's token", "id")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        async with change(scope):
            await token.save(update_fields=["revoked_at"])
        await announce_revoked(token_ids=[token.id])
    return token


Revoked = Callable[[list[int], list[int]], Awaitable[None]]
_revoked_listeners: list[Revoked] = []


def on_revoked(listener: Revoked) -> None:
    """Call `listener(token_ids, user_ids)` after tokens are revoked or users deactivated."""
    _revoked_listeners.append(listener)


def remove_revoked_listener(listener: Revoked) -> None:
    if listener in _revoked_listeners:
        _revoked_listeners.remove(listener)


async def announce_revoked(token_ids: Iterable[int] = (), user_ids: Iterable[int] = ()) -> None:
    for listener in _revoked_listeners:
        try:
            await listener(list(token_ids), list(user_ids))
        except Exception:  # open sockets are also re-checked periodically
            log.exception("revocation listener failed")


async def create_firm(name: str, owner_email: str, owner_name: str | None = None) -> NewFirm:
    firm_name = validation.name(name, "name")
    email = validation.email(owner_email, "ownerEmail")
    if email is None:
        raise invalid("ownerEmail", "ownerEmail is required")
    # A change of no firm's data: the new firm's data version is new by its creation time
    # (schema.result_cache), so there is no version to bump.
    async with change(NOBODY):
        firm = await Firm.create(name=firm_name)
        owner = await User.create(
            firm_id=firm.id, email=email, name=owner_name or email.split("@")[0], role=Role.OWNER
        )
        _, token = await issue_token(owner, "owner")
    return NewFirm(firm, owner, token)


@dataclass(frozen=True)
class IssuedToken:
    firm: Firm
    user: User
    token: str  # the secret, shown once


async def issue_recovery_token(
    email: str,
    firm_id: int | None = None,
    firm_name: str | None = None,
    name: str = "recovery",
    scopes: Iterable[Permission] | None = None,
) -> IssuedToken:
    """A new token for an existing active user, for the operator of the server (the command
    line), when nobody can make one through the API: e.g. every owner token was revoked.

    An email may belong to users of several firms: then the firm (its id or its name) must be
    given. The scopes are the user's role's permissions unless chosen, and never beyond them.
    """
    address = validation.email(email, "email")
    if address is None:
        raise invalid("email", "email is required")
    users = User.filter(email=address)
    if firm_id is not None:
        users = users.filter(firm_id=firm_id)
    if firm_name is not None:
        users = users.filter(firm__name=firm_name.strip())
    found = await users.order_by("firm_id")
    if not found:
        where = (
            f" in the firm {firm_name!r}"
            if firm_name is not None
            else " in this firm"
            if firm_id is not None
            else ""
        )
        raise DomainError(ErrorCode.NOT_FOUND, f"no user has the email {address}{where}", "email")
    if len(found) > 1:
        raise invalid(
            "firm",
            (
                f"several firms named {firm_name!r} have a user {address}: choose the firm by its "
                "id (--firm FIRM_ID)"
                if firm_name is not None
                else f"users of {len(found)} firms have the email {address}: choose the firm "
                "(--firm FIRM_ID or NAME)"
            ),
        )
    user = found[0]
    if not user.is_active:
        raise invalid("email", f"the user {address} is deactivated: no token is issued")
    allowed = ROLE_PERMISSIONS[user.role]
    wanted = set(allowed if scopes is None else scopes)
    if not wanted:
        raise invalid("scopes", "give at least one scope")
    if beyond := sorted(wanted - allowed):
        raise invalid("scopes", f"a {user.role} user cannot have {', '.join(beyond)}")
    async with change(Scope(user.firm_id, None)):
        _, secret = await issue_token(user, name, wanted)
    firm = await Firm.get(id=user.firm_id)
    return IssuedToken(firm, user, secret)


async def authenticate(secret: str) -> Scope | None:
    """The scope of a live token of an active user, or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    rows = await sql.fetch(  # by hand: every request runs it
        'SELECT t.*, u.role AS user_role FROM "api_token" t JOIN "app_user" u ON u.id = t.user_id'
        " WHERE t.token_hash = ? AND t.revoked_at IS NULL AND u.is_active = ?",
        [hash_token(secret), True],
    )
    if not rows:
        return None
    token, role = ApiToken._init_from_db(**rows[0]), Role(rows[0]["user_role"])
    now = datetime.now(UTC)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        # Not a change: bookkeeping of the authentication, not the firm's data (a change
        # would move the firm's data version, emptying its cached results every minute).
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return Scope(
        firm_id=token.firm_id,
        user_id=token.user_id,
        token_id=token.id,
        permissions=frozenset(Permission(s) for s in token.scopes if s in Permission.__members__)
        & ROLE_PERMISSIONS[role],
    )


async def live_token_ids(token_ids: Iterable[int]) -> set[int]:
    """Which of these tokens still work (not revoked, their user active)."""
    ids = list(token_ids)
    if not ids:
        return set()
    # flat=True: ids, not the tuples tortoise's typing says
    rows: list[int] = await ApiToken.filter(  # type: ignore[assignment]
        id__in=ids, revoked_at__isnull=True, user__is_active=True
    ).values_list("id", flat=True)
    return set(rows)
