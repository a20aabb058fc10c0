"""What a change sends the client: one outbound email per recipient contact, written in the
change's transaction beside the document it is about (so an email exists exactly when its
change committed). The mailer (mail.mailer) delivers them after commit and retries.

Recipients are the client's contacts (every one, or those given); a client without contacts
gets no email, and the document is still there, in the portal and for staff.

Staff can send an email again (`resend`): a new email, a copy of the first, under a new
Message-ID (receivers must not take it for a retry of the first and drop it). A portal link is
not sent again: its token is single-use and was dropped once sent; the contact asks for a new
link.
"""

from __future__ import annotations

from collections.abc import Sequence

from models import Contact, Email, EmailKind, Job
from workflow import clock, unit
from workflow.email_content import Content
from workflow.errors import invalid
from workflow.scope import Scope
from workflow.unit import EMAILS


async def queue(
    client_id: int,
    job: Job | None,
    kind: EmailKind,
    content: Content,
    *,
    firm_id: int,
    contacts: Sequence[Contact] | None = None,
    organizer_id: int | None = None,
    invoice_id: int | None = None,
    message_id: int | None = None,
    sealed_secret: str | None = None,
) -> list[Email]:
    """Write one QUEUED email per recipient, inside the current change; the mailer is woken
    after its commit."""
    if contacts is None:
        contacts = await Contact.filter(firm_id=firm_id, client_id=client_id).order_by("id")
    emails = [
        Email(
            firm_id=firm_id,
            job_id=job.id if job else None,
            client_id=client_id,
            contact_id=contact.id,
            to_address=contact.email,
            kind=kind,
            subject=content.subject,
            text_body=content.text_body,
            html_body=content.html_body,
            organizer_id=organizer_id,
            invoice_id=invoice_id,
            message_id=message_id,
            sealed_secret=sealed_secret,
            next_attempt_at=clock.now(),
        )
        for contact in contacts
    ]
    if emails:
        await Email.bulk_create(emails)
        unit.owe(EMAILS)
    return emails


async def resend(scope: Scope, email_id: int) -> Email:
    """Queue a copy of one of the firm's emails (any status) to the same address."""
    async with unit.change(scope):
        original = await scope.get(Email, email_id, field="id")
        if original.kind == EmailKind.PORTAL_LINK:
            raise invalid(
                "id",
                "a portal sign-in link cannot be sent again: its token is single-use; the "
                "contact asks for a new link",
            )
        copy = await Email.create(
            firm_id=original.firm_id,
            job_id=original.job_id,
            client_id=original.client_id,
            contact_id=original.contact_id,
            to_address=original.to_address,
            kind=original.kind,
            subject=original.subject,
            text_body=original.text_body,
            html_body=original.html_body,
            organizer_id=original.organizer_id,
            invoice_id=original.invoice_id,
            message_id=original.message_id,
            next_attempt_at=clock.now(),
        )
        unit.owe(EMAILS)
    return copy
