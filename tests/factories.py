"""Small builders of test data through the domain operations (the same path as the API)."""

from __future__ import annotations

from models import Client, Contact, Email, EmailKind, Job, Pipeline, Stage
from schema.node import encode_id
from workflow import clients, emails, jobs, pipelines, unit
from workflow.email_content import Content
from workflow.firms import NewFirm
from workflow.scope import Scope


def scope_of(firm: NewFirm) -> Scope:
    return Scope(firm_id=firm.firm.id, user_id=firm.owner.id)


async def board(
    firm: NewFirm,
    stages: tuple[str, ...] = ("Review Docs", "Prepare Return", "Review"),
    name: str = "1040 Return",
) -> tuple[Pipeline, list[Stage]]:
    pipeline = await pipelines.create_pipeline(scope_of(firm), name, list(stages))
    return pipeline, list(await Stage.filter(pipeline_id=pipeline.id).order_by("position"))


async def client(firm: NewFirm, name: str = "Avery Johnson") -> Client:
    return await clients.create_client(scope_of(firm), name, "avery@example.test", ["individual"])


async def job(
    firm: NewFirm, pipeline: Pipeline, client_: Client, title: str = "2025 return"
) -> Job:
    return await jobs.create_job(scope_of(firm), pipeline.id, client_.id, title)


def gid(type_name: str, pk: int) -> str:
    return str(encode_id(type_name, pk))


async def queued_emails(
    firm: NewFirm,
    *addresses: str,
    kind: EmailKind = EmailKind.MESSAGE,
    subject: str = "Your 2025 return",
    text: str = "Your return is ready for review.",
    html: str = "<p>Your return is ready for review.</p>",
    sealed_secret: str | None = None,
    job: Job | None = None,
    of: Client | None = None,
) -> list[Email]:
    """Emails queued the way a change queues them (workflow.emails.queue), one per address."""
    owner = of or await client(firm)
    contacts = [
        await Contact.create(firm_id=firm.firm.id, client_id=owner.id, name=a, email=a)
        for a in addresses or ("avery@example.test",)
    ]
    async with unit.change(scope_of(firm)):
        await emails.queue(
            owner.id,
            job,
            kind,
            Content(subject, text, html),
            firm_id=firm.firm.id,
            contacts=contacts,
            sealed_secret=sealed_secret,
        )
    return list(await Email.filter(contact_id__in=[c.id for c in contacts]).order_by("id").all())
