"""Outbound emails as staff see them (Job.emails), and what resends one. The mailer
(mail.mailer) changes an email's status, attempts and error outside any change, so none of
these types is served from the result cache (schema.result_cache.CACHED_TYPES)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from models import Email
from schema.enums import EmailKindEnum, EmailStatusEnum
from schema.errors import UserError
from schema.node import Node, encode_id


@strawberry.type(name="Email", description="One email to one recipient, and how its sending went.")
class EmailType(Node):
    to: str = strawberry.field(description="The recipient's address, as sent.")
    subject: str
    kind: EmailKindEnum
    status: EmailStatusEnum = strawberry.field(
        description="QUEUED until the mail server takes it (SENT), or refuses it for good "
        "(FAILED: lastError holds its answer). An unreachable server keeps emails QUEUED, "
        "retried with backoff up to every 15 minutes."
    )
    attempts: int
    last_error: str | None = strawberry.field(
        description="What went wrong at the last failed attempt: the mail server's code and "
        "text when it answered."
    )
    sent_at: datetime | None
    created_at: datetime

    @classmethod
    def from_model(cls, email: Email) -> EmailType:
        return cls(
            id=encode_id("Email", email.id),
            to=email.to_address,
            subject=email.subject,
            kind=email.kind,
            status=email.status,
            attempts=email.attempts,
            last_error=email.last_error,
            sent_at=email.sent_at,
            created_at=email.created_at,
        )


@strawberry.input
class ResendEmailInput:
    id: strawberry.ID


@strawberry.type
class EmailPayload:
    email: EmailType | None
    errors: list[UserError]
