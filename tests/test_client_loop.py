"""The client loop end to end, in real processes with a real SMTP server (aiosmtpd, in this
test's event loop): a job enters a stage whose automation sends an organizer; the email reaches
the SMTP server with a link to the portal, which opens the portal page; the contact asks for a
sign-in link there, gets it by email, signs in, answers and submits the organizer; the job
moves on by itself, and a staff subscriber to the board sees each step, in order. On SQLite one
embedded server does everything; on PostgreSQL two servers share Redis, and the email is sent
once although both run a mailer."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import BOARD_SUBSCRIPTION, Subscription, feed_cursor, seq_of
from tests.servers import ServerProcess, Stack, graphql
from tests.smtp import Received, SmtpServer
from workflow.global_ids import parse_id

pytestmark = pytest.mark.slow  # server processes

QUESTIONS = ["Did you move in 2026?", "Any new dependents?"]
SETUP = """mutation($client: String!) {
  pipeline: createPipeline(input: {name: "1040 Return",
    stageNames: ["Intake", "Collect documents", "Prepare"]}) { pipeline { id stages { id } } }
  client: createClient(input: {name: $client}) { client { id } }
}"""
SHAPE = """mutation($collect: ID!, $client: ID!, $questions: JSON!) {
  updateStage(input: {id: $collect, autoMove: true, portalName: "Waiting for you"}) {
    errors { code } }
  createAutomation(input: {stageId: $collect, action: SEND_ORGANIZER,
    settings: {title: "2026 tax organizer", questions: $questions}}) { errors { code message } }
  createContact(input: {clientId: $client, name: "Avery Client", email: "avery@client.example",
    portalAccess: true}) { errors { code message } }
}"""
CREATE_JOB = """mutation($p: ID!, $c: ID!) {
  createJob(input: {pipelineId: $p, clientId: $c, title: "Avery 1040"}) { job { id } } }"""
CURSOR = """query($p: ID!) { pipeline(id: $p) { eventCursor } }"""
MOVE = """mutation($j: ID!, $s: ID!) {
  moveJob(input: {jobId: $j, stageId: $s}) { errors { code } } }"""
JOB = """query($j: ID!) { job(id: $j) { stage { id } emails { edges { node {
  to kind status attempts } } } } }"""
REQUEST_LINK = """mutation($email: String!) {
  requestPortalLink(input: {email: $email}) { message errors { code } } }"""
SIGN_IN = """mutation($linkToken: String!) {
  signIn(input: {linkToken: $linkToken}) { token errors { code message } } }"""
ORGANIZERS = """{ me { name client { name } }
  jobs(first: 10) { edges { node { title stageName } } }
  organizers(first: 10) { edges { node { id title questions status } } } }"""
SUBMIT = """mutation($input: SubmitOrganizerInput!) {
  submitOrganizer(input: $input) { organizer { status } errors { code message } } }"""
LINK = re.compile(r"https?://[^\s\"'<>]+/portal/\?[^\s\"'<>]+")


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


@pytest.fixture
def stack(db: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Stack]:
    """Servers on the emptied database (db): emails an earlier test left QUEUED would be sent
    by their mailers, to this test's SMTP server."""
    started = Stack.start(db, tmp_path, SMTP_URL=smtp.url)
    yield started
    started.stop()


async def call(server: ServerProcess, token: str, query: str, /, **variables: Any) -> Any:
    """A staff request, off the event loop (the SMTP server runs on it)."""
    return await asyncio.to_thread(graphql, server, token, query, **variables)


async def portal(
    server: ServerProcess, query: str, token: str | None = None, /, **variables: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{server.url}/portal/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


def link_in(message: Received) -> str:
    """The portal link of an email, the same in its text and its HTML part."""
    text = message.message.get_body(("plain",))
    html = message.message.get_body(("html",))
    assert text is not None and html is not None
    [link] = [str(found) for found in LINK.findall(str(text.get_content()))]
    assert link.replace("&", "&amp;") in html.get_content()
    return link


async def test_an_organizer_sent_by_automation_is_answered_in_the_portal_and_the_job_moves_on(
    stack: Stack, smtp: SmtpServer
) -> None:
    staff_side, other_side = stack.first, stack.last
    owner = json.loads(
        await asyncio.to_thread(
            staff_side.cli, "create-firm", "Acme CPA", "--owner-email", "owner@acme.test"
        )
    )
    token = owner["token"]
    made = await call(staff_side, token, SETUP, client="Avery Household")
    pipeline = made["pipeline"]["pipeline"]
    _, collect, prepare = (stage["id"] for stage in pipeline["stages"])
    client = made["client"]["client"]["id"]
    shaped = await call(
        staff_side, token, SHAPE, collect=collect, client=client, questions=QUESTIONS
    )
    assert shaped == {
        "updateStage": {"errors": []},
        "createAutomation": {"errors": []},
        "createContact": {"errors": []},
    }
    job = (await call(staff_side, token, CREATE_JOB, p=pipeline["id"], c=client))["createJob"][
        "job"
    ]["id"]

    # A colleague watches the board on the other server, from the job's creation on.
    cursor = (await call(staff_side, token, CURSOR, p=pipeline["id"]))["pipeline"]["eventCursor"]
    created = seq_of(cursor)  # the job's creation is the pipeline's last event
    pipeline_pk = parse_id(pipeline["id"], "Pipeline")[1]
    watcher, first = await Subscription.attached(
        other_side,
        token,
        BOARD_SUBSCRIPTION,
        feed_cursor(f"pipeline:{pipeline_pk}:{created - 1}"),
        p=pipeline["id"],
    )
    assert first["type"] == "JOB_CREATED"

    moved = await call(staff_side, token, MOVE, j=job, s=collect)
    assert moved["moveJob"] == {"errors": []}

    # The organizer's email reaches the SMTP server once, with a link that opens the portal.
    [organizer_email] = await smtp.wait_for(1, within=30)
    assert organizer_email.rcpt_tos == ["avery@client.example"]
    assert "2026 tax organizer" in organizer_email.message["Subject"]
    link = link_in(organizer_email)
    assert link.startswith(f"{staff_side.url}/portal/?organizer=")
    async with httpx.AsyncClient() as http:
        page = await http.get(link)
    assert page.status_code == 200 and "Client portal" in page.text

    # The contact asks for a sign-in link, follows it, and answers.
    asked = await portal(staff_side, REQUEST_LINK, email="avery@client.example")
    assert asked["requestPortalLink"]["errors"] == []
    [_, link_email] = await smtp.wait_for(2, within=30)
    assert link_email.rcpt_tos == ["avery@client.example"]
    sign_in_link = link_in(link_email)
    link_token = httpx.URL(sign_in_link).params["token"]
    signed = (await portal(staff_side, SIGN_IN, linkToken=link_token))["signIn"]
    assert signed["errors"] == []
    session = signed["token"]
    seen = await portal(staff_side, ORGANIZERS, session)
    assert seen["me"] == {"name": "Avery Client", "client": {"name": "Avery Household"}}
    assert seen["jobs"]["edges"] == [
        {"node": {"title": "Avery 1040", "stageName": "Waiting for you"}}
    ]
    [organizer] = [edge["node"] for edge in seen["organizers"]["edges"]]
    assert organizer["questions"] == QUESTIONS and organizer["status"] == "SENT"
    assert link.endswith(f"organizer={organizer['id']}")
    submitted = await portal(
        staff_side,
        SUBMIT,
        session,
        input={"organizerId": organizer["id"], "answers": ["No", "Yes: one"]},
    )
    assert submitted["submitOrganizer"] == {"organizer": {"status": "SUBMITTED"}, "errors": []}

    # The colleague saw every step, in order, ending with the job's move on.
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != "JOB_MOVED" or events[-1]["stageId"] != prepare:
        events.append(await watcher.event(wait=30))
    await watcher.close()
    assert [(e["type"], e["stageId"]) for e in events] == [
        ("JOB_MOVED", collect),
        ("ORGANIZER_CHANGED", None),
        ("AUTOMATION_RAN", None),
        ("CLIENT_SUBMITTED_ORGANIZER", None),
        ("JOB_MOVED", prepare),
    ]
    assert [seq_of(e["cursor"]) for e in events] == list(range(created + 1, created + 6))

    # Staff see the email as SENT, sent once (both servers run a mailer on PostgreSQL).
    emails = (await call(staff_side, token, JOB, j=job))["job"]
    assert emails["stage"] == {"id": prepare}
    assert [edge["node"] for edge in emails["emails"]["edges"]] == [
        {"to": "avery@client.example", "kind": "ORGANIZER", "status": "SENT", "attempts": 1}
    ]
    assert len(smtp.received) == 2 and set(smtp.message_ids().values()) == {1}
