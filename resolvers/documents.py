"""Organizers and invoices: the client's side (read through Job.organizers/invoices)."""

from __future__ import annotations

import strawberry

from resolvers.common import attempt
from schema.context import Info
from schema.inputs import PayInvoiceInput, SubmitOrganizerInput
from schema.node import decode_id
from schema.payloads import InvoicePayload, OrganizerPayload
from schema.types import InvoiceType, OrganizerType
from workflow import documents


@strawberry.type
class DocumentMutations:
    @strawberry.mutation(description="Record the client's answers; the organizer is SUBMITTED.")
    async def submit_organizer(self, info: Info, input: SubmitOrganizerInput) -> OrganizerPayload:
        scope = info.context.scope
        organizer, errors = await attempt(
            lambda: documents.submit_organizer(
                scope, decode_id(input.id, "Organizer", "id"), input.answers
            )
        )
        return OrganizerPayload(
            organizer=OrganizerType.from_model(organizer) if organizer else None, errors=errors
        )

    @strawberry.mutation(description="Mark an invoice PAID.")
    async def pay_invoice(self, info: Info, input: PayInvoiceInput) -> InvoicePayload:
        scope = info.context.scope
        invoice, errors = await attempt(
            lambda: documents.pay_invoice(scope, decode_id(input.id, "Invoice", "id"))
        )
        return InvoicePayload(
            invoice=InvoiceType.from_model(invoice) if invoice else None, errors=errors
        )
