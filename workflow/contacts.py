"""The contacts of a client: the people who hear from the firm and, with portal access, sign
in to the client portal.

A contact's email is required, validated, stored lower-case and unique within its client (the
same person may be a contact of two clients). Turning portal access off, or changing the
address, ends the contact's open portal sessions in the same change: a session opened through
a link sent to the old address, or while access was granted, no longer works.
"""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from models import Client, Contact, PortalLink, PortalSession
from workflow import clock, validation
from workflow.errors import DomainError, invalid
from workflow.scope import Scope
from workflow.unit import change

DUPLICATE_EMAIL = "a contact of this client already has this email"
# Client.contacts is a plain list, and everything sent to a client is one email per contact.
MAX_CONTACTS_PER_CLIENT = 50


def _email(value: str | None) -> str:
    """A contact's address: required, unlike a client's."""
    cleaned = validation.email(value)
    if cleaned is None:
        raise invalid("email", "email must not be empty")
    return cleaned


def _duplicate() -> DomainError:
    return invalid("email", DUPLICATE_EMAIL)


async def _email_taken(firm_id: int, client_id: int, email: str, contact_id: int = 0) -> bool:
    return (
        await Contact.filter(firm_id=firm_id, client_id=client_id, email=email)
        .exclude(id=contact_id)
        .exists()
    )


async def revoke_sessions(contact: Contact) -> int:
    """End the contact's open portal sessions, and spend the sign-in links not used yet (a
    link mailed to an address since replaced must not open a new session), inside the current
    change; how many sessions ended."""
    now = clock.now()
    await PortalLink.filter(
        firm_id=contact.firm_id, contact_id=contact.id, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    return await PortalSession.filter(
        firm_id=contact.firm_id,
        contact_id=contact.id,
        revoked_at__isnull=True,
        expires_at__gt=now,
    ).update(revoked_at=now)


async def create_contact(
    scope: Scope, client_id: int, name: str, email: str, portal_access: bool = False
) -> Contact:
    clean_name = validation.name(name, "name")
    clean_email = _email(email)
    try:
        async with change(scope):
            # locked: one creation at a time per client, so the cap holds
            await scope.get(Client, client_id, field="clientId", lock=True)
            if await _email_taken(scope.firm_id, client_id, clean_email):
                raise _duplicate()
            taken = await Contact.filter(firm_id=scope.firm_id, client_id=client_id).count()
            if taken >= MAX_CONTACTS_PER_CLIENT:
                raise invalid(
                    "clientId",
                    f"a client has at most {MAX_CONTACTS_PER_CLIENT} contacts: delete one first",
                )
            return await Contact.create(
                firm_id=scope.firm_id,
                client_id=client_id,
                name=clean_name,
                email=clean_email,
                portal_access=bool(portal_access),
            )
    except IntegrityError as error:  # a concurrent change took the address first
        raise _duplicate() from error


async def update_contact(scope: Scope, contact_id: int, **changes: Any) -> Contact:
    """Change any of name, email, portal_access. Turning portal access off, or changing the
    address, revokes the contact's open portal sessions."""
    if "name" in changes:
        changes["name"] = validation.name(changes["name"], "name")
    if "email" in changes:
        changes["email"] = _email(changes["email"])
    if "portal_access" in changes:
        changes["portal_access"] = bool(changes["portal_access"])
    try:
        async with change(scope):
            contact = await scope.get(Contact, contact_id, field="id", lock=True)
            new_email = changes.get("email", contact.email) != contact.email
            if new_email and await _email_taken(
                scope.firm_id, contact.client_id, changes["email"], contact.id
            ):
                raise _duplicate()
            access_ended = contact.portal_access and changes.get("portal_access") is False
            contact.update_from_dict(changes)
            await contact.save(update_fields=[*changes, "updated_at"])
            if access_ended or new_email:
                await revoke_sessions(contact)
    except IntegrityError as error:  # a concurrent change took the address first
        raise _duplicate() from error
    return contact


async def delete_contact(scope: Scope, contact_id: int) -> None:
    """Delete a contact with its portal links and sessions; emails already written to it keep
    their address (models.email)."""
    async with change(scope):
        contact = await scope.get(Contact, contact_id, field="id", lock=True)
        await contact.delete()
