"""The client portal's jobs and what the firm sent about them: organizers, invoices, messages.

Each type shows what a client may see of its row and no more: a job's title, status, dates and
client-facing stage name, never its tasks, assignees, tags, automations or history. Ids are the
staff API's global ids. Everything is read through the request's PortalLoaders, which see only
the signed-in contact's client (workflow.portal).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import strawberry

from models import Invoice, Job, Message, Organizer
from schema.connection import Connection, build, decode_cursor, page_size
from schema.enums import (
    InvoiceStatusEnum,
    JobStatusEnum,
    MessageDirectionEnum,
    OrganizerStatusEnum,
)
from schema.errors import UserError
from schema.portal_context import PortalInfo
from schema.portal_loaders import DocumentCount, DocumentModel, DocumentPage
from workflow.errors import not_found
from workflow.global_ids import global_id

T = TypeVar("T")


def _id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))


async def _job_of(info: PortalInfo, job_id: int) -> PortalJob:
    """The job a document belongs to: the client's, as the document is."""
    job = await info.context.client_loaders.job.load(job_id)
    if job is None:  # archived or given away since the document was read
        raise not_found("Job")
    return PortalJob.from_model(job)


async def _documents(
    info: PortalInfo,
    model: DocumentModel,
    job_id: int,
    wrap: Callable[[Any], T],
    first: int | None,
    after: str | None,
) -> Connection[T]:
    size = page_size(first)
    cursor = decode_cursor(after, "id")
    loaders = info.context.client_loaders
    rows = await loaders.pages.load(DocumentPage(model, job_id, size + 1, cursor))

    async def count() -> int:
        return await loaders.counts.load(DocumentCount(model, job_id))

    return build(rows, size, "id", wrap, count, has_previous=cursor is not None)


@strawberry.type(
    name="Job",
    description="One of the client's jobs (a service the firm does for it), ACTIVE or COMPLETED.",
)
class PortalJob:
    id: strawberry.ID
    title: str
    status: JobStatusEnum
    due_date: date | None
    pk: strawberry.Private[int]
    stage_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, job: Job) -> PortalJob:
        return cls(
            id=_id("Job", job.id),
            title=job.title,
            status=job.status,
            due_date=job.due_date,
            pk=job.id,
            stage_id=job.stage_id,
        )

    @strawberry.field(description="Where the job stands, as the firm names it for clients.")
    async def stage_name(self, info: PortalInfo) -> str:
        return await info.context.client_loaders.stage_name.load(self.stage_id)

    @strawberry.field(description="Questionnaires the firm sent about this job, oldest first.")
    async def organizers(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalOrganizer]:
        return await _documents(info, Organizer, self.pk, PortalOrganizer.from_model, first, after)

    @strawberry.field(description="Invoices for this job, oldest first.")
    async def invoices(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalInvoice]:
        return await _documents(info, Invoice, self.pk, PortalInvoice.from_model, first, after)

    @strawberry.field(
        description="Messages about this job, from the firm and the client's replies, oldest first."
    )
    async def messages(
        self, info: PortalInfo, first: int | None = None, after: str | None = None
    ) -> Connection[PortalMessage]:
        return await _documents(info, Message, self.pk, PortalMessage.from_model, first, after)


@strawberry.type(
    name="Organizer",
    description="A questionnaire: one answer per question. Answers may be saved as a draft "
    "(saveOrganizerAnswers) until the organizer is submitted (submitOrganizer).",
)
class PortalOrganizer:
    id: strawberry.ID
    title: str
    questions: list[str]
    answers: list[str] = strawberry.field(
        description="The answers saved or submitted, one per question (empty: none yet)."
    )
    status: OrganizerStatusEnum
    created_at: datetime
    submitted_at: datetime | None
    job_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, organizer: Organizer) -> PortalOrganizer:
        return cls(
            id=_id("Organizer", organizer.id),
            title=organizer.title,
            questions=list(organizer.questions),
            answers=list(organizer.answers),
            status=organizer.status,
            created_at=organizer.created_at,
            submitted_at=organizer.submitted_at,
            job_id=organizer.job_id,
        )

    @strawberry.field
    async def job(self, info: PortalInfo) -> PortalJob:
        return await _job_of(info, self.job_id)


@strawberry.type(name="InvoiceLineItem")
class PortalLineItem:
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int = strawberry.field(description="quantity × unitPriceCents.")


@strawberry.type(name="Invoice", description="An invoice for a job, amounts in cents.")
class PortalInvoice:
    id: strawberry.ID
    currency: str
    line_items: list[PortalLineItem]
    total_cents: int
    status: InvoiceStatusEnum
    created_at: datetime
    paid_at: datetime | None
    job_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, invoice: Invoice) -> PortalInvoice:
        items = []
        for item in invoice.line_items:
            quantity, price = int(item.get("quantity") or 1), int(item["unitPriceCents"])  # type: ignore[call-overload]
            items.append(
                PortalLineItem(
                    description=str(item["description"]),
                    quantity=quantity,
                    unit_price_cents=price,
                    amount_cents=quantity * price,
                )
            )
        return cls(
            id=_id("Invoice", invoice.id),
            currency=invoice.currency,
            line_items=items,
            total_cents=invoice.total_cents,
            status=invoice.status,
            created_at=invoice.created_at,
            paid_at=invoice.paid_at,
            job_id=invoice.job_id,
        )

    @strawberry.field
    async def job(self, info: PortalInfo) -> PortalJob:
        return await _job_of(info, self.job_id)


@strawberry.type(
    name="Message",
    description="A message about a job: from the firm (OUTBOUND) or a reply of the client's "
    "(INBOUND). Bodies are plain text, shown as written: escape them when rendering.",
)
class PortalMessage:
    id: strawberry.ID
    subject: str
    body: str
    direction: MessageDirectionEnum
    in_reply_to_id: strawberry.ID | None = strawberry.field(
        description="For a reply, the message it answers."
    )
    created_at: datetime
    job_id: strawberry.Private[int]

    @classmethod
    def from_model(cls, message: Message) -> PortalMessage:
        return cls(
            id=_id("Message", message.id),
            subject=message.subject,
            body=message.body,
            direction=message.direction,
            in_reply_to_id=(
                _id("Message", message.in_reply_to_id) if message.in_reply_to_id else None
            ),
            created_at=message.created_at,
            job_id=message.job_id,
        )

    @strawberry.field
    async def job(self, info: PortalInfo) -> PortalJob:
        return await _job_of(info, self.job_id)


@strawberry.input(name="SaveOrganizerAnswersInput")
class PortalSaveOrganizerAnswersInput:
    organizer_id: strawberry.ID
    answers: list[str] = strawberry.field(
        description="One per question, in order (an empty string: not answered yet); each at "
        "most 10,000 characters."
    )


@strawberry.input(name="SubmitOrganizerInput")
class PortalSubmitOrganizerInput:
    organizer_id: strawberry.ID
    answers: list[str] = strawberry.field(
        description="One per question, in order; each at most 10,000 characters."
    )


@strawberry.input(name="ReplyToMessageInput")
class PortalReplyToMessageInput:
    message_id: strawberry.ID
    body: str = strawberry.field(description="Plain text, 1 to 20,000 characters.")


@strawberry.type(name="OrganizerPayload")
class PortalOrganizerPayload:
    organizer: PortalOrganizer | None
    errors: list[UserError]


@strawberry.type(name="MessagePayload")
class PortalMessagePayload:
    message: PortalMessage | None
    errors: list[UserError]
