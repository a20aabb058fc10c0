"""Organizers, messages and invoices: the client's side (read through Job.organizers,
Job.messages, Job.invoices)."""

from __future__ import annotations

import strawberry

from resolvers.common import mutate, payload
from schema.context import Info
from schema.inputs import PayInvoiceInput, SendMessageInput, SubmitOrganizerInput
from schema.payloads import InvoicePayload, MessagePayload, OrganizerPayload
from schema.types import InvoiceType, MessageType, OrganizerType
from workflow import documents
from workflow.global_ids import decode_id

_organizer = payload(OrganizerPayload, "organizer", OrganizerType.from_model)
_invoice = payload(InvoicePayload, "invoice", InvoiceType.from_model)
_message = payload(MessagePayload, "message", MessageType.from_model)


@strawberry.type
class DocumentMutations:
    @strawberry.mutation(description="Record the client's answers; the organizer is SUBMITTED.")
    async def submit_organizer(self, info: Info, input: SubmitOrganizerInput) -> OrganizerPayload:
        return await mutate(
            info,
            _organizer,
            lambda scope: documents.submit_organizer(
                scope, decode_id(input.id, "Organizer", "id"), input.answers
            ),
        )

    @strawberry.mutation(
        description="Write to the job's client: an OUTBOUND message, emailed to every contact."
    )
    async def send_message(self, info: Info, input: SendMessageInput) -> MessagePayload:
        return await mutate(
            info,
            _message,
            lambda scope: documents.write_message(
                scope, decode_id(input.job_id, "Job", "jobId"), input.subject, input.body
            ),
        )

    @strawberry.mutation(description="Mark an invoice PAID.")
    async def pay_invoice(self, info: Info, input: PayInvoiceInput) -> InvoicePayload:
        return await mutate(
            info,
            _invoice,
            lambda scope: documents.pay_invoice(scope, decode_id(input.id, "Invoice", "id")),
        )
