"""The client portal's sign-in: magic links by email, portal sessions, their authentication
and their revocation by staff.

A contact with portal access asks for a link with their email address (request_portal_link):
a single-use link token valid LINK_LIFETIME goes out by email. sign_in exchanges it for a
portal session token (valid SESSION_LIFETIME), which authenticates every portal request
(authenticate). Only the SHA-256 of either secret is stored; a session token is answered once,
a link token leaves only sealed inside its queued email (models.email), which the mailer
opens when it sends it. Neither is ever logged.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from models import Client, Contact, EmailKind, PortalLink, PortalSession, keys
from models.db import is_postgres
from models.email import LINK_TOKEN_PLACEHOLDER, LINK_TOKEN_PURPOSE
from workflow import clock, contacts, emails, shown_once, validation
from workflow.email_content import Content
from workflow.errors import DomainError, ErrorCode
from workflow.firms import hash_token
from workflow.portal_scope import PortalCaller
from workflow.scope import Scope
from workflow.unit import change

log = logging.getLogger(__name__)

LINK_PREFIX = "wfl_"
SESSION_PREFIX = "wfp_"
LINK_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(days=30)
# last_used_at is refreshed at most this often, so authentication stays a read.
LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_SECRET_LENGTH = 200
INVALID_LINK = "this sign-in link is invalid or has expired: ask for a new one"
LINK_SUBJECT = "Your sign-in link"


def invalid_link() -> DomainError:
    """The one refusal of sign_in, whatever was wrong with the link."""
    return DomainError(ErrorCode.INVALID_INPUT, INVALID_LINK, "linkToken")


# --- Asking for a link --------------------------------------------------------------------

# The lookups and writes of link requests, running after their answers (see
# request_portal_link); settle() waits for them (tests, and the app's shutdown).
_pending: set[asyncio.Task[None]] = set()


def request_portal_link(address: str, public_url: str) -> str:
    """Start sending a sign-in link to every contact with this address and portal access
    (of any client of any firm); the address as normalised. INVALID_INPUT if it is not an
    email address, which says nothing of whether anyone has it.

    The caller answers at once, the same answer for any valid address: the lookup and the
    writes run afterwards, in a task of their own (a failure there is logged, not answered).
    This keeps the answer's timing independent of the address, which doing "equal work" on
    both paths would not: an unknown address would have to fake inserts, one change per firm
    and one email per contact, and any difference left (a firm's lock, an index page) would
    tell the address apart. The price is that the requester cannot be told of a failure,
    which, for a sign-in link, they could not be told anyway (the answer must not say
    whether an email went out). Measured (tests/test_portal_auth.py prints it; against a
    local server on SQLite, 450 interleaved requests of each): median answer 2.41 ms for a
    known address, 2.46 ms for an unknown one.
    """
    normalised = validation.email(address)
    if normalised is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "email must not be empty", "email")
    _track(_send_links(normalised, public_url))
    return normalised


def _track(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _pending.add(task)
    task.add_done_callback(_finished)


def _finished(task: asyncio.Task[None]) -> None:
    _pending.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        # The address is not logged (it would tell whose links failed); no secret is in reach.
        log.error(
            "sending portal sign-in links failed",
            exc_info=(type(error), error, error.__traceback__),
        )


async def settle() -> None:
    """Wait for the link requests already answered to finish their work."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


def link_email(public_url: str) -> Content:
    """A link email: the link holds LINK_TOKEN_PLACEHOLDER, replaced by the token when the
    mailer sends it."""
    link = f"{public_url.rstrip('/')}/portal/?token={LINK_TOKEN_PLACEHOLDER}"
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    text = (
        "Hello,\n\n"
        f"Follow this link to sign in to your client portal:\n\n{link}\n\n"
        f"It works once, within {minutes} minutes. If you did not ask for it, ignore this "
        "email: nobody can sign in without it.\n"
    )
    href = html.escape(link, quote=True)
    html_body = (
        "<p>Hello,</p>"
        f'<p><a href="{href}">Sign in to your client portal</a></p>'
        f"<p>The link works once, within {minutes} minutes. If you did not ask for it, ignore "
        "this email: nobody can sign in without it.</p>"
    )
    return Content(LINK_SUBJECT, text, html_body)


async def _send_links(address: str, public_url: str) -> None:
    contacts = await Contact.filter(email=address, portal_access=True).order_by("firm_id", "id")
    by_firm: dict[int, list[Contact]] = defaultdict(list)
    for contact in contacts:
        by_firm[contact.firm_id].append(contact)
    content = link_email(public_url)
    for firm_id, firm_contacts in by_firm.items():
        async with change(Scope(firm_id, None)):
            # Again, locked: an update of the address (or of the access) that committed since
            # the lookup spent the contact's links already; one under way waits, then tells.
            still = Contact.filter(
                id__in=[contact.id for contact in firm_contacts],
                firm_id=firm_id,
                email=address,
                portal_access=True,
            ).order_by("id")
            firm_contacts = await (still.select_for_update() if is_postgres() else still)
            expires_at = clock.now() + LINK_LIFETIME
            for contact in firm_contacts:
                secret = LINK_PREFIX + secrets.token_urlsafe(32)
                await PortalLink.create(
                    firm_id=firm_id,
                    contact_id=contact.id,
                    token_hash=hash_token(secret),
                    expires_at=expires_at,
                )
                await emails.queue(
                    contact.client_id,
                    None,
                    EmailKind.PORTAL_LINK,
                    content,
                    firm_id=firm_id,
                    contacts=[contact],
                    sealed_secret=keys.seal(secret.encode(), LINK_TOKEN_PURPOSE),
                )


# --- Signing in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    contact: Contact
    client: Client
    session: PortalSession
    token: str  # the secret, answered once


async def sign_in(link_token: str) -> SignedIn:
    """Exchange a link token for a new portal session. Refused with the one INVALID_LINK
    error (nothing changed) if the token is unknown, malformed, expired, used already, or its
    contact no longer has portal access. Single use under concurrency: the link is marked
    used by an UPDATE that must find it unused, in the change that creates the session."""
    token = link_token.strip()
    if not token.startswith(LINK_PREFIX) or len(token) > MAX_SECRET_LENGTH:
        raise invalid_link()
    link = await PortalLink.get_or_none(token_hash=hash_token(token))
    if link is None:
        raise invalid_link()
    now = clock.now()
    async with change(Scope(link.firm_id, None)):
        contact = await Contact.get_or_none(id=link.contact_id, firm_id=link.firm_id)
        if contact is None or not contact.portal_access:
            raise invalid_link()
        taken = await PortalLink.filter(
            id=link.id, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if taken != 1:  # used (perhaps this very moment) or expired
            raise invalid_link()
        secret = shown_once.note(SESSION_PREFIX + secrets.token_urlsafe(32))
        session = await PortalSession.create(
            firm_id=link.firm_id,
            contact_id=contact.id,
            token_hash=hash_token(secret),
            expires_at=now + SESSION_LIFETIME,
        )
        client = await Client.get(id=contact.client_id, firm_id=contact.firm_id)
    return SignedIn(contact, client, session, secret)


# --- Sessions -----------------------------------------------------------------------------


async def authenticate(secret: str) -> PortalCaller | None:
    """The caller of a live portal session token (not expired, not revoked, its contact still
    with portal access), or None."""
    if not secret.startswith(SESSION_PREFIX) or len(secret) > MAX_SECRET_LENGTH:
        return None
    now = clock.now()
    rows = await PortalSession.filter(
        token_hash=hash_token(secret),
        revoked_at__isnull=True,
        expires_at__gt=now,
        contact__portal_access=True,
    ).values("id", "firm_id", "contact_id", "last_used_at", "contact__client_id")
    if not rows:
        return None
    row = rows[0]
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_GRANULARITY:
        # Bookkeeping of the authentication, not a change of the firm's data.
        await PortalSession.filter(id=row["id"]).update(last_used_at=now)
    return PortalCaller(
        firm_id=row["firm_id"],
        client_id=row["contact__client_id"],
        contact_id=row["contact_id"],
        session_id=row["id"],
    )


async def revoke_portal_sessions(scope: Scope, contact_id: int) -> Contact:
    """End every live portal session of a contact of the caller's firm (staff); NOT_FOUND
    for another firm's contact. Links already sent still sign in while they last: to keep a
    contact out, turn their portal access off (which ends their sessions too)."""
    async with change(scope):
        contact = await scope.get(Contact, contact_id, field="contactId", lock=True)
        await contacts.revoke_sessions(contact)
    return contact
