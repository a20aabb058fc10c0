"""Emails as staff see them (Job.emails) and resendEmail, over the HTTP API, on both databases:
what the mailer records is seen at once (emails are never served from the query result
cache), a resend is a new email under a new Message-ID, a portal link is never resent, another
firm's email answers like a missing one, and a READ-only token may not resend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from mail import mailer
from mail.transport import SmtpTransport
from models import Email, EmailKind, EmailStatus, Job, Permission
from tests.conftest import GraphQL, graphql_client
from tests.factories import board, client, gid, job
from tests.smtp import SmtpServer
from workflow.firms import NewFirm, issue_token

MAIL_FROM = "Acme CPA <no-reply@acme.test>"
EMAILS = """query($j: ID!) { job(id: $j) { title emails(first: 10) { totalCount
  edges { node { id to subject kind status attempts lastError sentAt createdAt } } } } }"""
RESEND = """mutation($id: ID!) { resendEmail(input: {id: $id}) {
  email { id to subject kind status attempts } errors { code field message } } }"""


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as running:
        yield running


@pytest.fixture
async def transport(smtp: SmtpServer) -> AsyncIterator[SmtpTransport]:
    sending = SmtpTransport(smtp.url)
    yield sending
    await sending.close()


async def job_with_email(
    firm: NewFirm, kind: EmailKind = EmailKind.MESSAGE, to: str = "avery@example.test"
) -> tuple[Job, Email]:
    pipeline, _ = await board(firm)
    avery = await client(firm)
    work = await job(firm, pipeline, avery)
    sent = await Email.create(
        firm_id=firm.firm.id,
        job_id=work.id,
        client_id=avery.id,
        to_address=to,
        kind=kind,
        subject="Your organizer",
        text_body="Please answer.",
        html_body="<p>Please answer.</p>",
        next_attempt_at=datetime.now(UTC),
    )
    return work, sent


async def test_job_emails_shows_what_the_mailer_recorded_at_once(
    gql: GraphQL, firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport
) -> None:
    work, queued = await job_with_email(firm_a)
    before = await gql(EMAILS, j=gid("Job", work.id))
    assert await gql(EMAILS, j=gid("Job", work.id)) == before  # asked twice: no change yet
    emails = before["job"]["emails"]
    assert emails["totalCount"] == 1
    node = emails["edges"][0]["node"]
    assert {k: v for k, v in node.items() if k != "createdAt"} == {
        "id": gid("Email", queued.id),
        "to": "avery@example.test",
        "subject": "Your organizer",
        "kind": "MESSAGE",
        "status": "QUEUED",
        "attempts": 0,
        "lastError": None,
        "sentAt": None,
    }

    assert await mailer.send_due(transport, MAIL_FROM) == 1  # outside any change
    after = (await gql(EMAILS, j=gid("Job", work.id)))["job"]["emails"]["edges"][0]["node"]
    assert (after["status"], after["attempts"]) == ("SENT", 1)
    assert after["sentAt"] is not None

    smtp.refuse("gone@example.test")
    await Email.filter(id=queued.id).update(to_address="gone@example.test")
    resent = (await gql(RESEND, id=gid("Email", queued.id)))["resendEmail"]
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    failed = await gql(
        "query($id: ID!) { node(id: $id) { ... on Email { status lastError } } }",
        id=resent["email"]["id"],
    )
    assert failed["node"] == {
        "status": "FAILED",
        "lastError": "550 5.1.1 <gone@example.test>: no such mailbox (RCPT TO)",
    }


async def test_resend_queues_a_copy_under_a_new_message_id(
    gql: GraphQL, firm_a: NewFirm, smtp: SmtpServer, transport: SmtpTransport
) -> None:
    work, original = await job_with_email(firm_a)
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    answer = (await gql(RESEND, id=gid("Email", original.id)))["resendEmail"]
    assert answer["errors"] == []
    copy = answer["email"]
    assert copy["id"] != gid("Email", original.id)
    assert {k: copy[k] for k in ("to", "subject", "kind", "status", "attempts")} == {
        "to": "avery@example.test",
        "subject": "Your organizer",
        "kind": "MESSAGE",
        "status": "QUEUED",
        "attempts": 0,
    }
    assert await mailer.send_due(transport, MAIL_FROM) == 1
    first, second = await smtp.wait_for(2)
    assert first.message_id != second.message_id
    assert first.message["Subject"] == second.message["Subject"]
    edges = (await gql(EMAILS, j=gid("Job", work.id)))["job"]["emails"]["edges"]
    assert [e["node"]["status"] for e in edges] == ["SENT", "SENT"]


async def test_a_portal_link_is_not_resent(gql: GraphQL, firm_a: NewFirm) -> None:
    _, link = await job_with_email(firm_a, kind=EmailKind.PORTAL_LINK)
    answer = (await gql(RESEND, id=gid("Email", link.id)))["resendEmail"]
    assert answer["email"] is None
    [error] = answer["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "id")
    assert "new link" in error["message"]
    assert await Email.all().count() == 1


async def test_another_firms_email_is_answered_like_a_missing_one(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    work, mine = await job_with_email(firm_a)
    theirs = (await gql_b(RESEND, id=gid("Email", mine.id)))["resendEmail"]
    missing = (await gql_b(RESEND, id=gid("Email", mine.id + 1000)))["resendEmail"]
    assert theirs == missing
    assert theirs["email"] is None and theirs["errors"][0]["code"] == "NOT_FOUND"
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await gql_b(node, id=gid("Email", mine.id)))["node"] is None
    assert (await gql_b(EMAILS, j=gid("Job", work.id)))["job"] is None
    malformed = (await gql(RESEND, id=gid("Job", work.id)))["resendEmail"]
    assert malformed["errors"][0]["code"] == "INVALID_ID"
    assert await Email.all().count() == 1


async def test_a_read_only_token_may_not_resend(http: httpx.AsyncClient, firm_a: NewFirm) -> None:
    work, sent = await job_with_email(firm_a)
    _, secret = await issue_token(firm_a.owner, "reader", [Permission.READ])
    reader = graphql_client(http, secret)
    assert (await reader(EMAILS, j=gid("Job", work.id)))["job"]["emails"]["totalCount"] == 1
    body = await reader(RESEND, expect_errors=True, id=gid("Email", sent.id))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await Email.all().count() == 1
    assert (await Email.get(id=sent.id)).status == EmailStatus.QUEUED
