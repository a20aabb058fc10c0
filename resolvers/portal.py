"""What a signed-in contact reads and does in the portal: its client's jobs and their
organizers, invoices and messages; saveOrganizerAnswers, submitOrganizer, replyToMessage.

Thin, like every resolver: decode ids, call workflow.portal as the caller, map the outcome. An
id of another client's row answers exactly as a missing one: null for a lookup, NOT_FOUND in a
payload.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry

from models import Invoice, Message, Organizer
from schema.connection import Connection, root_connection
from schema.errors import UserError
from schema.portal_context import PortalInfo
from schema.portal_jobs import (
    PortalInvoice,
    PortalJob,
    PortalMessage,
    PortalMessagePayload,
    PortalOrganizer,
    PortalOrganizerPayload,
    PortalReplyToMessageInput,
    PortalSaveOrganizerAnswersInput,
    PortalSubmitOrganizerInput,
)
from workflow import portal
from workflow.errors import DomainError, ErrorCode
from workflow.global_ids import decode_id
from workflow.portal_scope import PortalCaller

R = TypeVar("R")


async def _lookup(
    info: PortalInfo, global_id: str, type_name: str, read: Callable[[PortalCaller, int], Any]
) -> Any:
    """The caller's row named by a global id, or None (missing, or not the client's)."""
    pk = decode_id(global_id, type_name, "id")
    try:
        return await read(info.context.caller_required(), pk)
    except DomainError as error:
        if error.code == ErrorCode.NOT_FOUND:
            return None
        raise


async def _attempt(
    info: PortalInfo, operation: Callable[[PortalCaller], Awaitable[R]]
) -> tuple[R | None, list[UserError]]:
    try:
        return await operation(info.context.caller_required()), []
    except DomainError as error:
        return None, [UserError.from_domain(error)]


@strawberry.type
class PortalDocumentQueries:
    @strawberry.field(description="The client's jobs (ACTIVE and COMPLETED), oldest first.")
    async def jobs(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalJob]:
        caller = info.context.caller_required()
        return await root_connection(portal.jobs(caller), first, after, PortalJob.from_model)

    @strawberry.field(description="One of the client's jobs; null if there is none by this id.")
    async def job(self, info: PortalInfo, id: strawberry.ID) -> PortalJob | None:
        job = await _lookup(info, id, "Job", portal.job)
        return PortalJob.from_model(job) if job else None

    @strawberry.field(description="The organizers of the client's jobs, oldest first.")
    async def organizers(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalOrganizer]:
        caller = info.context.caller_required()
        rows = portal.documents(caller, Organizer)
        return await root_connection(rows, first, after, PortalOrganizer.from_model)

    @strawberry.field(description="One of the client's organizers; null if none by this id.")
    async def organizer(self, info: PortalInfo, id: strawberry.ID) -> PortalOrganizer | None:
        found = await _lookup(
            info, id, "Organizer", lambda caller, pk: portal.document(caller, Organizer, pk)
        )
        return PortalOrganizer.from_model(found) if found else None

    @strawberry.field(description="The invoices of the client's jobs, oldest first.")
    async def invoices(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalInvoice]:
        caller = info.context.caller_required()
        rows = portal.documents(caller, Invoice)
        return await root_connection(rows, first, after, PortalInvoice.from_model)

    @strawberry.field(description="One of the client's invoices; null if none by this id.")
    async def invoice(self, info: PortalInfo, id: strawberry.ID) -> PortalInvoice | None:
        found = await _lookup(
            info, id, "Invoice", lambda caller, pk: portal.document(caller, Invoice, pk)
        )
        return PortalInvoice.from_model(found) if found else None

    @strawberry.field(
        description="The messages of the client's jobs, the firm's and the client's replies, "
        "oldest first."
    )
    async def messages(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalMessage]:
        caller = info.context.caller_required()
        rows = portal.documents(caller, Message)
        return await root_connection(rows, first, after, PortalMessage.from_model)

    @strawberry.field(description="One of the client's messages; null if none by this id.")
    async def message(self, info: PortalInfo, id: strawberry.ID) -> PortalMessage | None:
        found = await _lookup(
            info, id, "Message", lambda caller, pk: portal.document(caller, Message, pk)
        )
        return PortalMessage.from_model(found) if found else None


def _organizer(result: tuple[Organizer | None, list[UserError]]) -> PortalOrganizerPayload:
    organizer, errors = result
    return PortalOrganizerPayload(
        organizer=PortalOrganizer.from_model(organizer) if organizer else None, errors=errors
    )


@strawberry.type
class PortalDocumentMutations:
    @strawberry.mutation(
        description="Save answers as a draft: stored, the organizer stays SENT (its reminders "
        "go on). Refused once it is SUBMITTED."
    )
    async def save_organizer_answers(
        self, info: PortalInfo, input: PortalSaveOrganizerAnswersInput
    ) -> PortalOrganizerPayload:
        return _organizer(
            await _attempt(
                info,
                lambda caller: portal.save_organizer_answers(
                    caller, decode_id(input.organizer_id, "Organizer", "organizerId"), input.answers
                ),
            )
        )

    @strawberry.mutation(
        description="Submit the answers: the organizer is SUBMITTED (final), its reminders "
        "stop, and the firm's workflow moves on if it was waiting for it."
    )
    async def submit_organizer(
        self, info: PortalInfo, input: PortalSubmitOrganizerInput
    ) -> PortalOrganizerPayload:
        return _organizer(
            await _attempt(
                info,
                lambda caller: portal.submit_organizer(
                    caller, decode_id(input.organizer_id, "Organizer", "organizerId"), input.answers
                ),
            )
        )

    @strawberry.mutation(description="Reply to a message of one of the client's jobs.")
    async def reply_to_message(
        self, info: PortalInfo, input: PortalReplyToMessageInput
    ) -> PortalMessagePayload:
        message, errors = await _attempt(
            info,
            lambda caller: portal.reply_to_message(
                caller, decode_id(input.message_id, "Message", "messageId"), input.body
            ),
        )
        return PortalMessagePayload(
            message=PortalMessage.from_model(message) if message else None, errors=errors
        )
