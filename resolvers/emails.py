"""Outbound emails: sending one again (staff read them through Job.emails)."""

from __future__ import annotations

import strawberry

from resolvers.common import mutate, payload
from schema.context import Info
from schema.emails import EmailPayload, EmailType, ResendEmailInput
from workflow import emails
from workflow.global_ids import decode_id

_email = payload(EmailPayload, "email", EmailType.from_model)


@strawberry.type
class EmailMutations:
    @strawberry.mutation(
        description="Queue a new copy of an email to the same address (a new Message-ID). A "
        "portal sign-in link is not sent again (INVALID_INPUT): the contact asks for a new one."
    )
    async def resend_email(self, info: Info, input: ResendEmailInput) -> EmailPayload:
        return await mutate(
            info, _email, lambda scope: emails.resend(scope, decode_id(input.id, "Email", "id"))
        )
