"""Staff write to a job's client: `sendMessage(input: {jobId, subject, body})` answers a
MessagePayload, writes an OUTBOUND message, its MESSAGE_SENT event and one email per contact in
one change. WRITE is needed; bad input, another firm's job and an archived job change nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from models import Contact, Email, EmailKind, Job, JobEvent, Message
from tests.conftest import GraphQL, graphql_client
from tests.factories import board, client, gid, job, scope_of
from tests.mutations import snapshot
from workflow import jobs
from workflow.firms import NewFirm, issue_token

SEND = """mutation($input: SendMessageInput!) { sendMessage(input: $input) {
  message { id subject body direction createdAt } errors { code field message } } }"""
MESSAGES = """query($id: ID!) { job(id: $id) { messages { edges { node {
  id subject body direction } } } } }"""


async def _job(firm: NewFirm, contacts: int = 2) -> Job:
    pipeline, _ = await board(firm)
    avery = await client(firm)
    for number in range(contacts):
        await Contact.create(
            firm_id=firm.firm.id, client_id=avery.id, name="c", email=f"c{number}@example.test"
        )
    card = await job(firm, pipeline, avery, "2025 return")
    await jobs.update_job(scope_of(firm), card.id, due_date=date(2026, 4, 15))
    return card


async def _everything() -> tuple[Any, ...]:
    messages = sorted(repr(sorted(r.items())) for r in await Message.all().values())
    emails = sorted(repr(sorted(r.items())) for r in await Email.all().values())
    return await snapshot(), messages, emails


async def test_staff_send_a_message_that_is_emailed_to_every_contact(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    card = await _job(firm_a)
    body = "Dear {client.name},\n\nplease send the papers for {job.title} by {job.dueDate}."
    sent = (
        await gql(
            SEND,
            input={"jobId": gid("Job", card.id), "subject": "  {job.title}: papers ", "body": body},
        )
    )["sendMessage"]
    assert sent["errors"] == []
    message = sent["message"]
    assert (message["subject"], message["direction"]) == ("2025 return: papers", "OUTBOUND")
    assert message["body"] == (
        "Dear Avery Johnson,\n\nplease send the papers for 2025 return by 2026-04-15."
    )
    listed = (await gql(MESSAGES, id=gid("Job", card.id)))["job"]["messages"]["edges"]
    assert [edge["node"]["id"] for edge in listed] == [message["id"]]
    row = await Message.get(job_id=card.id)
    emails = await Email.filter(message_id=row.id).order_by("id")
    assert [(e.kind, e.to_address) for e in emails] == [
        (EmailKind.MESSAGE, "c0@example.test"),
        (EmailKind.MESSAGE, "c1@example.test"),
    ]
    assert all(e.subject == "2025 return: papers" for e in emails)
    event = await JobEvent.filter(job_id=card.id, type="MESSAGE_SENT").get()
    assert (event.changes, event.actor_id) == ({"message": row.id}, firm_a.owner.id)


async def test_the_limits_are_inclusive(gql: GraphQL, firm_a: NewFirm) -> None:
    card = await _job(firm_a, contacts=0)
    sent = (
        await gql(
            SEND, input={"jobId": gid("Job", card.id), "subject": "s" * 500, "body": "b" * 20_000}
        )
    )["sendMessage"]
    assert sent["errors"] == [] and len(sent["message"]["body"]) == 20_000
    assert await Email.all().count() == 0  # no contacts: the message is there, no email


async def test_bad_input_is_refused_and_changes_nothing(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    card = await _job(firm_a)
    job_id = gid("Job", card.id)
    archived = await _job(firm_a)
    await jobs.archive_job(scope_of(firm_a), archived.id)
    foreign = await _job(firm_b)
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({"subject": ""}, ("INVALID_INPUT", "subject")),
        ({"subject": "   "}, ("INVALID_INPUT", "subject")),
        ({"subject": "s" * 501}, ("INVALID_INPUT", "subject")),
        ({"subject": "two\nlines"}, ("INVALID_INPUT", "subject")),
        ({"subject": "bell \x07"}, ("INVALID_INPUT", "subject")),
        ({"subject": "Hi {client.nickname}"}, ("INVALID_INPUT", "subject")),
        ({"body": ""}, ("INVALID_INPUT", "body")),
        ({"body": " \n\t"}, ("INVALID_INPUT", "body")),
        ({"body": "b" * 20_001}, ("INVALID_INPUT", "body")),
        ({"body": "nul \x00"}, ("INVALID_INPUT", "body")),
        ({"body": "{job.secret}"}, ("INVALID_INPUT", "body")),
        ({"jobId": "not an id"}, ("INVALID_ID", "jobId")),
        ({"jobId": gid("Client", card.client_id)}, ("INVALID_ID", "jobId")),
        ({"jobId": gid("Job", 2**31)}, ("INVALID_ID", "jobId")),
        ({"jobId": gid("Job", 999_999)}, ("NOT_FOUND", "jobId")),
        ({"jobId": gid("Job", foreign.id)}, ("NOT_FOUND", "jobId")),
        ({"jobId": gid("Job", archived.id)}, ("JOB_ARCHIVED", "jobId")),
    ]
    before = await _everything()
    answers = {}
    for change, (code, field) in cases:
        payload = {"jobId": job_id, "subject": "Papers", "body": "Please.", **change}
        refused = (await gql(SEND, input=payload))["sendMessage"]
        assert refused["message"] is None, change
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [(code, field)], change
        answers[payload["jobId"]] = refused["errors"]
    assert await _everything() == before
    # another firm's job is answered exactly like a job that does not exist
    assert answers[gid("Job", foreign.id)] == answers[gid("Job", 999_999)]


async def test_a_token_without_write_is_refused_before_anything_runs(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    card = await _job(firm_a)
    _, secret = await issue_token(firm_a.owner, "read only", ["READ"])
    read_only = graphql_client(http, secret)
    before = await _everything()
    body = await read_only(
        SEND,
        expect_errors=True,
        input={"jobId": gid("Job", card.id), "subject": "Papers", "body": "Please."},
    )
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
    assert await _everything() == before
