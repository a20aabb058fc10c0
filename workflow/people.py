"""A firm's people: invitations, roles and deactivation.

Admins manage staff and admins; only an owner may make, change or deactivate an owner, and a
firm always keeps one active owner. An invitation's first token has the new user's role's
permissions that the inviting token also has: the caller receives its secret, and a token never
obtains more than its own rights. Changing a role or deactivating someone closes their open
websockets (see workflow.firms.on_revoked): their next connection gets the new rights.
"""

from __future__ import annotations

from models import ROLE_PERMISSIONS, Permission, Role, User
from workflow import validation
from workflow.errors import DomainError, ErrorCode, forbidden, invalid
from workflow.firms import announce_revoked, issue_token
from workflow.scope import Scope
from workflow.unit import change


async def _caller(scope: Scope) -> User:
    return await scope.get(User, scope.user_id or 0, field="userId")


def _may_manage(caller: User, role: Role, field: str) -> None:
    if role == Role.OWNER and caller.role != Role.OWNER:
        raise forbidden("only an owner may manage owners", field)


def invitation_scopes(scope: Scope, role: Role) -> frozenset[Permission]:
    """The first token's scopes: the role's permissions the inviting token also has, as the
    caller receives its secret (a token never obtains more than its own rights)."""
    return ROLE_PERMISSIONS[role] & scope.permissions


async def invite_user(scope: Scope, email: str, name: str | None, role: Role) -> tuple[User, str]:
    """A new active user and the secret of a first token for them, shown once."""
    _may_manage(await _caller(scope), role, "role")
    scopes = invitation_scopes(scope, role)
    if not scopes:
        lacking = " and ".join(sorted(ROLE_PERMISSIONS[role]))
        raise forbidden(
            f"the new user's first token would have no scope: a {role} gets {lacking}, "
            "which this token lacks",
            "role",
        )
    address = validation.email(email, "email")
    if address is None:
        raise invalid("email", "email is required")
    display = validation.name(name if name is not None else address.split("@")[0], "name")
    async with change(scope):
        if await scope.query(User).filter(email=address).exists():
            raise DomainError(ErrorCode.INVALID_INPUT, "a user with this email exists", "email")
        user = await User.create(firm_id=scope.firm_id, email=address, name=display, role=role)
        _, secret = await issue_token(user, "invitation", scopes)
    return user, secret


async def _lock_owners(scope: Scope) -> list[int]:
    """Lock the firm's active owners (in id order, before any other user row, so two owners
    removing each other wait for one another instead of both succeeding or deadlocking)."""
    owners = scope.query(User).filter(role=Role.OWNER, is_active=True).order_by("id")
    return [user.id for user in await owners.select_for_update()]


def _keep_an_owner(owners: list[int], user: User) -> None:
    if user.id in owners and owners == [user.id]:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "the firm's last active owner must stay one", "id"
        )


async def update_user(
    scope: Scope, user_id: int, name: str | None = None, role: Role | None = None
) -> User:
    caller = await _caller(scope)
    async with change(scope):
        owners = await _lock_owners(scope)
        user = await scope.get(User, user_id, field="id", lock=True)
        _may_manage(caller, user.role, "id")
        if name is not None:
            user.name = validation.name(name, "name")
        role_changed = role is not None and role != user.role
        if role is not None and role_changed:
            _may_manage(caller, role, "role")
            _keep_an_owner(owners, user)
            user.role = role
        await user.save()
    if role_changed:
        await announce_revoked(user_ids=[user.id])
    return user


async def deactivate_user(scope: Scope, user_id: int) -> User:
    caller = await _caller(scope)
    async with change(scope):
        owners = await _lock_owners(scope)
        user = await scope.get(User, user_id, field="id", lock=True)
        _may_manage(caller, user.role, "id")
        _keep_an_owner(owners, user)
        user.is_active = False
        await user.save(update_fields=["is_active"])
    await announce_revoked(user_ids=[user.id])
    return user
