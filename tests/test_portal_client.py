"""The client's side of the portal, in the domain (workflow.portal): a contact sees its client's
jobs, organizers, invoices and messages and nothing of anyone else's; it saves and submits
organizers and replies to messages, which closes the loop (events, board subscribers, webhook
deliveries, auto-move, reminders stopped) exactly as the staff mutations do.

Each refused call runs between two snapshots of the tables it could write: identical."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from tortoise import connections

from models import (
    Client,
    Contact,
    EventType,
    Invoice,
    Job,
    JobEvent,
    JobStatus,
    Message,
    MessageDirection,
    Organizer,
    OrganizerStatus,
    PortalLink,
    Stage,
    WebhookDelivery,
)
from realtime.broker import InProcessBroker
from realtime.hub import FeedKey, Hub
from schema.guard import MAX_ROOT_FIELDS
from schema.portal_guard import PORTAL_WRITES_PER_MINUTE
from tests.conftest import GraphQL
from tests.factories import board, client, gid, scope_of
from tests.servers import ROOT
from workflow import documents, jobs, portal, portal_auth, unit, webhooks
from workflow.errors import DomainError, ErrorCode
from workflow.firms import NewFirm, hash_token
from workflow.portal_scope import PortalCaller
from workflow.scope import MAX_ROW_ID

MISSING = 999_999
LINE_ITEMS = [{"description": "1040", "quantity": 1, "unitPriceCents": 45000}]
WRITTEN_TABLES = (
    "firm",
    "job",
    "job_event",
    "organizer",
    "message",
    "invoice",
    "webhook_delivery",
)


@dataclass
class Documents:
    job: Job
    organizer: Organizer
    invoice: Invoice
    message: Message


@dataclass
class World:
    firm: NewFirm
    stages: list[Stage]
    avery: PortalCaller  # the contact whose portal this is
    mine: Documents  # an ACTIVE job of Avery's, in the auto-moving first stage
    completed: Documents  # a COMPLETED job of Avery's
    archived: Documents  # an ARCHIVED job of Avery's: gone from the portal
    neighbour: Documents  # a job of another client of the same firm
    foreign: Documents  # a job of a client of another firm


async def _contact(firm: NewFirm, owner: Client, email: str) -> Contact:
    return await Contact.create(
        firm_id=firm.firm.id, client_id=owner.id, name=email, email=email, portal_access=True
    )


async def _documents(firm: NewFirm, pipeline_id: int, owner: Client, title: str) -> Documents:
    scope = scope_of(firm)
    job = await jobs.create_job(scope, pipeline_id, owner.id, title)
    organizer = await documents.send_organizer(scope, job.id, "Organizer", ["Income?", "Kids?"])
    invoice = await documents.create_invoice(scope, job.id, "USD", LINE_ITEMS)
    message = await documents.send_message(scope, job.id, "Your {job.title}", "Hello")
    return Documents(job, organizer, invoice, message)


async def _world(firm: NewFirm, other_firm: NewFirm) -> World:
    pipeline, stages = await board(firm)
    await Stage.filter(id=stages[0].id).update(auto_move=True, portal_name="Waiting for you")
    avery, blake = await client(firm), await client(firm, "Blake Lee")
    contact = await _contact(firm, avery, "avery@example.test")
    await _contact(firm, blake, "blake@example.test")
    mine = await _documents(firm, pipeline.id, avery, "2025 return")
    completed = await _documents(firm, pipeline.id, avery, "2024 return")
    await jobs.update_job(scope_of(firm), completed.job.id, status=JobStatus.COMPLETED)
    archived = await _documents(firm, pipeline.id, avery, "2023 return")
    await jobs.archive_job(scope_of(firm), archived.job.id)
    neighbour = await _documents(firm, pipeline.id, blake, "Blake's return")
    other_pipeline, _ = await board(other_firm)
    stranger = await client(other_firm, "Casey Other")
    await _contact(other_firm, stranger, "casey@example.test")
    foreign = await _documents(other_firm, other_pipeline.id, stranger, "Casey's return")
    caller = PortalCaller(firm.firm.id, avery.id, contact.id, session_id=1)
    return World(firm, stages, caller, mine, completed, archived, neighbour, foreign)


@pytest.fixture
async def world(firm_a: NewFirm, firm_b: NewFirm) -> World:
    return await _world(firm_a, firm_b)


async def snapshot() -> dict[str, list[str]]:
    connection = connections.get("default")
    tables = {}
    for table in WRITTEN_TABLES:
        rows = await connection.execute_query_dict(f'SELECT * FROM "{table}"')
        tables[table] = sorted(repr(sorted(row.items())) for row in rows)
    return tables


async def refused(call: Awaitable[Any]) -> DomainError:
    """A call that must fail with a DomainError and write nothing."""
    before = await snapshot()
    with pytest.raises(DomainError) as raised:
        await call
    assert await snapshot() == before
    return raised.value


def answer(error: DomainError) -> tuple[str, str, str | None]:
    return (str(error.code), error.message, error.field)


async def test_a_contact_reads_its_clients_jobs_and_documents_only(world: World) -> None:
    me = world.avery
    visible = [world.mine, world.completed]
    assert [j.id for j in await portal.jobs(me).order_by("id")] == [d.job.id for d in visible]
    for model, attribute in ((Organizer, "organizer"), (Invoice, "invoice"), (Message, "message")):
        found = await portal.documents(me, model).order_by("id")
        assert [row.id for row in found] == [getattr(d, attribute).id for d in visible]
        pages = await portal.documents_of_jobs(
            me,
            model,
            [d.job.id for d in (*visible, world.archived, world.neighbour, world.foreign)],
            limit=10,
        )
        assert {job_id: [row.id for row in rows] for job_id, rows in pages.items()} == {
            d.job.id: [getattr(d, attribute).id] for d in visible
        }
        counts = await portal.count_documents_of_jobs(
            me,
            model,
            [d.job.id for d in (*visible, world.neighbour)],
        )
        assert counts == {d.job.id: 1 for d in visible}
    names = await portal.stage_names(me, [world.stages[0].id, world.stages[1].id])
    assert names == {world.stages[0].id: "Waiting for you", world.stages[1].id: "Prepare Return"}
    assert (await portal.job(me, world.mine.job.id)).title == "2025 return"


async def test_another_clients_ids_answer_exactly_like_missing_ones(world: World) -> None:
    me = world.avery
    strangers = [world.neighbour, world.foreign, world.archived]
    calls: list[tuple[str, Callable[[Documents | None], Awaitable[Any]]]] = [
        ("job", lambda d: portal.job(me, d.job.id if d else MISSING)),
        (
            "organizer",
            lambda d: portal.document(me, Organizer, d.organizer.id if d else MISSING),
        ),
        ("invoice", lambda d: portal.document(me, Invoice, d.invoice.id if d else MISSING)),
        ("message", lambda d: portal.document(me, Message, d.message.id if d else MISSING)),
        (
            "save",
            lambda d: portal.save_organizer_answers(
                me, d.organizer.id if d else MISSING, ["a", "b"]
            ),
        ),
        (
            "save, wrong count",
            lambda d: portal.save_organizer_answers(me, d.organizer.id if d else MISSING, ["a"]),
        ),
        (
            "submit",
            lambda d: portal.submit_organizer(me, d.organizer.id if d else MISSING, ["a", "b"]),
        ),
        (
            "reply",
            lambda d: portal.reply_to_message(me, d.message.id if d else MISSING, "Thanks"),
        ),
    ]
    for name, call in calls:
        missing = answer(await refused(call(None)))
        assert missing[0] == "NOT_FOUND", name
        for stranger in strangers:
            assert answer(await refused(call(stranger))) == missing, (name, stranger.job.title)
    for pk in (0, -1, MAX_ROW_ID + 1):  # ids that name no row at all
        assert answer(await refused(portal.job(me, pk))) == ("NOT_FOUND", "Job not found", "id")
        error = await refused(portal.submit_organizer(me, pk, ["a", "b"]))
        assert answer(error) == ("NOT_FOUND", "Organizer not found", "organizerId")


async def test_a_job_given_to_another_client_leaves_with_its_documents(world: World) -> None:
    """Documents sent to Avery on a job now Blake's are in neither portal."""
    blake_id = world.neighbour.job.client_id
    await jobs.update_job(scope_of(world.firm), world.mine.job.id, client_id=blake_id)
    blake = PortalCaller(world.firm.firm.id, blake_id, world.avery.contact_id + 1, 2)
    for caller in (world.avery, blake):
        assert world.mine.organizer.id not in [
            o.id for o in await portal.documents(caller, Organizer)
        ]
        error = await refused(portal.submit_organizer(caller, world.mine.organizer.id, ["a", "b"]))
        assert answer(error) == ("NOT_FOUND", "Organizer not found", "organizerId")
    assert world.mine.job.id in [j.id for j in await portal.jobs(blake)]


async def _staff_twin(world: World) -> Documents:
    """A job like `mine`, for the staff mutations to do what the contact does."""
    return await _documents(world.firm, world.stages[0].pipeline_id, await client(world.firm), "t")


async def test_submit_completes_the_auto_move_exactly_like_the_staff_mutation(
    world: World,
) -> None:
    twin = await _staff_twin(world)
    staff = scope_of(world.firm)
    soon = datetime.now(UTC) + timedelta(days=3)
    for d in (world.mine, twin):
        await Organizer.filter(id=d.organizer.id).update(next_reminder_at=soon)
        await Invoice.filter(id=d.invoice.id).update(next_reminder_at=soon)
        await documents.pay_invoice(staff, d.invoice.id)  # the organizer is the last blocker
        assert (await Job.get(id=d.job.id)).stage_id == world.stages[0].id
        assert (await Invoice.get(id=d.invoice.id)).next_reminder_at is None
    await documents.submit_organizer(staff, twin.organizer.id, ["Wages", "Two"])
    submitted = await portal.submit_organizer(world.avery, world.mine.organizer.id, ["Wages", "2"])
    assert (submitted.status, submitted.answers) == (OrganizerStatus.SUBMITTED, ["Wages", "2"])

    for d in (world.mine, twin):
        moved = await Job.get(id=d.job.id)
        assert moved.stage_id == world.stages[1].id
        organizer = await Organizer.get(id=d.organizer.id)
        assert organizer.status == OrganizerStatus.SUBMITTED
        assert organizer.submitted_at is not None and organizer.next_reminder_at is None

    def tail(events: list[JobEvent]) -> list[tuple[str, int | None, int | None]]:
        return [(e.type, e.from_stage_id, e.to_stage_id) for e in events[-3:]]

    mine = await JobEvent.filter(job_id=world.mine.job.id).order_by("id")
    theirs = await JobEvent.filter(job_id=twin.job.id).order_by("id")
    assert tail(mine)[0][0] == EventType.INVOICE_PAID
    assert tail(mine)[1][0] == EventType.CLIENT_SUBMITTED_ORGANIZER
    assert tail(theirs)[1][0] == EventType.ORGANIZER_CHANGED
    assert (
        tail(mine)[2]
        == tail(theirs)[2]
        == (
            EventType.JOB_MOVED,
            world.stages[0].id,
            world.stages[1].id,
        )
    )
    assert mine[-2].changes == {
        "organizer": world.mine.organizer.id,
        "contact": world.avery.contact_id,
    }
    assert mine[-2].actor_id is None  # the system, with the contact named
    assert mine[-3].changes == {"invoice": world.mine.invoice.id}


async def test_submit_without_the_last_blocker_leaves_the_job_where_it_is(world: World) -> None:
    await portal.submit_organizer(world.avery, world.mine.organizer.id, ["a", "b"])
    assert (await Job.get(id=world.mine.job.id)).stage_id == world.stages[0].id  # unpaid


async def test_client_events_reach_board_subscribers_and_webhook_endpoints(
    world: World,
) -> None:
    staff = scope_of(world.firm)
    await webhooks.create_endpoint(staff, "http://127.0.0.1:9/hook")
    pipeline_id = world.stages[0].pipeline_id
    hub = Hub(InProcessBroker())
    await hub.start()
    unit.on_commit(hub.publish)
    try:
        async with hub.subscribe(FeedKey("pipeline", pipeline_id), lambda: None) as (feed, _):
            await documents.pay_invoice(staff, world.mine.invoice.id)
            reply = await portal.reply_to_message(world.avery, world.mine.message.id, "Thanks!")
            await portal.submit_organizer(world.avery, world.mine.organizer.id, ["a", "b"])
            seen = [(await asyncio.wait_for(feed.next(), 10)).event for _ in range(4)]
    finally:
        unit.remove_commit_callback(hub.publish)
        await hub.close()
    expected = [
        EventType.INVOICE_PAID,
        EventType.CLIENT_REPLIED,
        EventType.CLIENT_SUBMITTED_ORGANIZER,
        EventType.JOB_MOVED,
    ]
    assert [e.type for e in seen] == expected
    assert [e.seq for e in seen] == sorted(e.seq for e in seen)
    deliveries = await WebhookDelivery.filter(firm_id=world.firm.firm.id).order_by("id")
    assert [d.event_type for d in deliveries] == [str(t) for t in expected]
    changes = [d.payload["data"]["changes"] for d in deliveries]
    contact = gid("Contact", world.avery.contact_id)
    assert changes[:3] == [
        {"invoice": gid("Invoice", world.mine.invoice.id)},
        {
            "message": gid("Message", reply.id),
            "in_reply_to": gid("Message", world.mine.message.id),
            "contact": contact,
        },
        {"organizer": gid("Organizer", world.mine.organizer.id), "contact": contact},
    ]
    assert deliveries[1].payload["data"]["job"]["id"] == gid("Job", world.mine.job.id)


async def test_a_reply_is_an_inbound_message_on_the_job(world: World) -> None:
    reply = await portal.reply_to_message(world.avery, world.mine.message.id, "Attached.\nA.")
    stored = await Message.get(id=reply.id)
    assert (stored.job_id, stored.client_id, stored.direction) == (
        world.mine.job.id,
        world.avery.client_id,
        MessageDirection.INBOUND,
    )
    assert (stored.contact_id, stored.in_reply_to_id) == (
        world.avery.contact_id,
        world.mine.message.id,
    )
    assert (stored.subject, stored.body) == ("Re: Your 2025 return", "Attached.\nA.")
    again = await portal.reply_to_message(world.avery, reply.id, "And another.")
    assert (again.subject, again.in_reply_to_id) == ("Re: Your 2025 return", reply.id)
    assert [m.id for m in await portal.documents(world.avery, Message).order_by("id")] == [
        world.mine.message.id,
        world.completed.message.id,
        reply.id,
        again.id,
    ]
    event = await JobEvent.filter(job_id=world.mine.job.id).order_by("-id").first()
    assert event is not None and event.type == EventType.CLIENT_REPLIED


async def test_a_draft_is_saved_then_submitted_once(world: World) -> None:
    me, organizer_id = world.avery, world.mine.organizer.id
    soon = datetime.now(UTC) + timedelta(days=3)
    await Organizer.filter(id=organizer_id).update(next_reminder_at=soon)
    events = await JobEvent.filter(job_id=world.mine.job.id).count()

    draft = await portal.save_organizer_answers(me, organizer_id, ["Wages", ""])
    stored = await Organizer.get(id=organizer_id)
    assert (draft.status, stored.status, stored.answers) == ("SENT", "SENT", ["Wages", ""])
    assert stored.next_reminder_at == soon  # a draft answers nothing yet: reminders go on
    saved = await JobEvent.filter(job_id=world.mine.job.id).order_by("-id").first()
    assert saved is not None and saved.type == EventType.ORGANIZER_CHANGED
    assert saved.changes == {"organizer": organizer_id, "action": "saved", "contact": me.contact_id}
    assert await JobEvent.filter(job_id=world.mine.job.id).count() == events + 1
    before = await snapshot()
    await portal.save_organizer_answers(me, organizer_id, ["Wages", ""])  # the same answers
    assert await snapshot() == before  # nothing written, nothing recorded

    await portal.save_organizer_answers(me, organizer_id, ["Wages", "Two"])
    await portal.submit_organizer(me, organizer_id, ["Wages", "Two"])
    stored = await Organizer.get(id=organizer_id)
    assert (stored.status, stored.answers, stored.next_reminder_at) == (
        "SUBMITTED",
        ["Wages", "Two"],
        None,
    )
    twice = await refused(portal.submit_organizer(me, organizer_id, ["Other", "Two"]))
    assert answer(twice) == ("INVALID_INPUT", "the organizer is already submitted", "organizerId")
    late = await refused(portal.save_organizer_answers(me, organizer_id, ["Other", "Two"]))
    assert answer(late) == answer(twice)


async def test_a_completed_jobs_organizer_is_answered_without_moving(world: World) -> None:
    await portal.submit_organizer(world.avery, world.completed.organizer.id, ["a", "b"])
    job = await Job.get(id=world.completed.job.id)
    assert (job.status, job.stage_id) == (JobStatus.COMPLETED, world.stages[0].id)


SCRIPT = '<script>alert("x")</script><b onmouseover=alert(1)>&amp;</b>'


async def test_html_and_script_are_stored_verbatim(world: World) -> None:
    me = world.avery
    reply = await portal.reply_to_message(me, world.mine.message.id, SCRIPT)
    assert (await Message.get(id=reply.id)).body == SCRIPT
    await portal.submit_organizer(me, world.mine.organizer.id, [SCRIPT, "\tTab\r\nline"])
    stored = await Organizer.get(id=world.mine.organizer.id)
    assert stored.answers == [SCRIPT, "\tTab\r\nline"]


async def test_answers_and_bodies_at_their_limits_are_taken(world: World) -> None:
    me = world.avery
    longest = "é" * portal.ANSWER_MAX
    await portal.save_organizer_answers(me, world.mine.organizer.id, [longest, ""])
    assert (await Organizer.get(id=world.mine.organizer.id)).answers == [longest, ""]
    body = "x" * portal.BODY_MAX
    reply = await portal.reply_to_message(me, world.mine.message.id, body)
    assert (await Message.get(id=reply.id)).body == body


async def test_oversized_or_malformed_input_is_refused_and_changes_nothing(
    world: World,
) -> None:
    me, organizer_id, message_id = world.avery, world.mine.organizer.id, world.mine.message.id
    too_long = "x" * (portal.ANSWER_MAX + 1)
    bad_answers: list[tuple[Any, str]] = [
        ([too_long, "b"], "answers must be at most 10000 characters"),
        (["a\x00", "b"], "answers must not contain control characters"),
        (["a", "\x1b[31m"], "answers must not contain control characters"),
        (["a", "\ud800"], "answers must not contain control characters"),
        (["a"], "2 answers are expected"),
        (["a", "b", "c"], "2 answers are expected"),
        ([], "2 answers are expected"),
        (["a"] * (portal.MAX_ANSWERS + 1), "answers is a list of at most 200 answers"),
        (["a", 2], "every answer is a string"),
        ("ab", "answers is a list of at most 200 answers"),
    ]
    for operation in (portal.save_organizer_answers, portal.submit_organizer):
        for answers, message in bad_answers:
            error = await refused(operation(me, organizer_id, answers))
            assert answer(error) == ("INVALID_INPUT", message, "answers"), answers
    bad_bodies: list[tuple[Any, str]] = [
        ("x" * (portal.BODY_MAX + 1), "body must be at most 20000 characters"),
        ("hi\x07", "body must not contain control characters"),
        ("", "body must not be empty"),
        (" \n\t ", "body must not be empty"),
        (None, "body is a string"),
    ]
    for body, message in bad_bodies:
        error = await refused(portal.reply_to_message(me, message_id, body))
        assert answer(error) == ("INVALID_INPUT", message, "body"), body
    # Bad input of a missing or another client's id: the input is refused first, the same.
    for organizer in (MISSING, world.neighbour.organizer.id):
        error = await refused(portal.submit_organizer(me, organizer, [too_long, "b"]))
        assert error.code == ErrorCode.INVALID_INPUT


async def test_a_contact_whose_access_was_withdrawn_writes_nothing(world: World) -> None:
    await Contact.filter(id=world.avery.contact_id).update(portal_access=False)
    for call in (
        portal.save_organizer_answers(world.avery, world.mine.organizer.id, ["a", "b"]),
        portal.submit_organizer(world.avery, world.mine.organizer.id, ["a", "b"]),
        portal.reply_to_message(world.avery, world.mine.message.id, "hello"),
    ):
        assert (await refused(call)).code == ErrorCode.UNAUTHENTICATED


async def test_staff_pay_and_submit_stop_reminders(world: World) -> None:
    staff = scope_of(world.firm)
    soon = datetime.now(UTC) + timedelta(days=3)
    await Organizer.filter(id=world.neighbour.organizer.id).update(next_reminder_at=soon)
    await Invoice.filter(id=world.neighbour.invoice.id).update(next_reminder_at=soon)
    await documents.submit_organizer(staff, world.neighbour.organizer.id, ["a", "b"])
    await documents.pay_invoice(staff, world.neighbour.invoice.id)
    assert (await Organizer.get(id=world.neighbour.organizer.id)).next_reminder_at is None
    assert (await Invoice.get(id=world.neighbour.invoice.id)).next_reminder_at is None
    paid = await JobEvent.filter(job_id=world.neighbour.job.id, type=EventType.INVOICE_PAID)
    assert [e.changes for e in paid] == [{"invoice": world.neighbour.invoice.id}]
    changed = await JobEvent.filter(job_id=world.neighbour.job.id, type=EventType.INVOICE_CHANGED)
    assert [e.changes["action"] for e in changed] == ["created"]  # paying is INVOICE_PAID


@pytest.mark.postgres_only
async def test_concurrent_submissions_and_payment_move_the_job_once(world: World) -> None:
    """Five submissions of one organizer at once and the payment of the invoice: one
    submission wins, the others are refused, and the job moves exactly once."""
    submissions = [
        portal.submit_organizer(world.avery, world.mine.organizer.id, [f"try {n}", "x"])
        for n in range(5)
    ]
    payment = documents.pay_invoice(scope_of(world.firm), world.mine.invoice.id)
    results = await asyncio.gather(*submissions, payment, return_exceptions=True)
    refusals = [r for r in results if isinstance(r, DomainError)]
    assert [answer(r) for r in refusals] == [
        ("INVALID_INPUT", "the organizer is already submitted", "organizerId")
    ] * 4
    assert not [r for r in results if isinstance(r, BaseException) and r not in refusals]
    history = await JobEvent.filter(job_id=world.mine.job.id).order_by("seq")
    types = [e.type for e in history]
    assert types.count(EventType.CLIENT_SUBMITTED_ORGANIZER) == 1
    assert types.count(EventType.JOB_MOVED) == 1 and types[-1] == EventType.JOB_MOVED
    assert (await Job.get(id=world.mine.job.id)).stage_id == world.stages[1].id


# The portal's GraphQL (POST /portal/graphql), as a signed-in contact.

PortalGraphQL = Callable[..., Awaitable[dict[str, Any]]]
JOBS = """{ jobs(first: 10) { totalCount edges { node { id title status stageName dueDate
  organizers { totalCount edges { node { id title questions answers status } } }
  invoices { edges { node { id currency totalCents status paidAt
    lineItems { description quantity unitPriceCents amountCents } } } }
  messages { edges { node { id subject body direction inReplyToId } } } } } } }"""
LISTS = """{ organizers { edges { node { id job { id } } } }
  invoices { edges { node { id job { id } } } }
  messages { edges { node { id job { id } } } } }"""
ORGANIZER = """query($id: ID!) { organizer(id: $id) { id title questions answers status
  job { id title stageName } } }"""
SAVE = """mutation($id: ID!, $answers: [String!]!) {
  saveOrganizerAnswers(input: {organizerId: $id, answers: $answers}) {
  organizer { id status answers } errors { code field message } } }"""
SUBMIT = """mutation($id: ID!, $answers: [String!]!) {
  submitOrganizer(input: {organizerId: $id, answers: $answers}) {
  organizer { id status answers job { stageName } } errors { code field message } } }"""
REPLY = """mutation($id: ID!, $body: String!) {
  replyToMessage(input: {messageId: $id, body: $body}) {
  message { id subject body direction inReplyToId job { id } } errors { code field message } } }"""


async def _session(contact_id: int, firm_id: int) -> str:
    """A portal session token for a contact, through a sign-in link (workflow.portal_auth)."""
    link = portal_auth.LINK_PREFIX + secrets.token_urlsafe(16)
    await PortalLink.create(
        firm_id=firm_id,
        contact_id=contact_id,
        token_hash=hash_token(link),
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )
    return (await portal_auth.sign_in(link)).token


@pytest.fixture
async def portal_gql(http: httpx.AsyncClient, world: World) -> PortalGraphQL:
    """GraphQL at /portal/graphql as Avery's contact."""
    token = await _session(world.avery.contact_id, world.avery.firm_id)

    async def run(query: str, **variables: Any) -> dict[str, Any]:
        response = await http.post(
            "/portal/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    return run


async def data(portal_gql: PortalGraphQL, query: str, **variables: Any) -> dict[str, Any]:
    body = await portal_gql(query, **variables)
    assert "errors" not in body, body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def ids(connection: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_the_portal_shows_the_clients_jobs_and_their_documents(
    portal_gql: PortalGraphQL, world: World
) -> None:
    await jobs.update_job(scope_of(world.firm), world.mine.job.id, due_date=date(2026, 4, 15))
    found = (await data(portal_gql, JOBS))["jobs"]
    assert found["totalCount"] == 2
    mine, completed = (edge["node"] for edge in found["edges"])
    assert (mine["id"], mine["title"], mine["status"], mine["stageName"], mine["dueDate"]) == (
        gid("Job", world.mine.job.id),
        "2025 return",
        "ACTIVE",
        "Waiting for you",
        "2026-04-15",
    )
    assert completed["status"] == "COMPLETED"
    assert mine["organizers"] == {
        "totalCount": 1,
        "edges": [
            {
                "node": {
                    "id": gid("Organizer", world.mine.organizer.id),
                    "title": "Organizer",
                    "questions": ["Income?", "Kids?"],
                    "answers": [],
                    "status": "SENT",
                }
            }
        ],
    }
    invoice = mine["invoices"]["edges"][0]["node"]
    assert (invoice["currency"], invoice["totalCents"], invoice["status"]) == (
        "USD",
        45000,
        "UNPAID",
    )
    assert invoice["lineItems"] == [
        {"description": "1040", "quantity": 1, "unitPriceCents": 45000, "amountCents": 45000}
    ]
    message = mine["messages"]["edges"][0]["node"]
    assert (message["subject"], message["body"], message["direction"]) == (
        "Your 2025 return",
        "Hello",
        "OUTBOUND",
    )
    lists = await data(portal_gql, LISTS)
    visible = (world.mine, world.completed)
    for field, type_name in (
        ("organizers", "Organizer"),
        ("invoices", "Invoice"),
        ("messages", "Message"),
    ):
        assert ids(lists[field]) == [
            gid(type_name, getattr(d, type_name.lower()).id) for d in visible
        ]
        jobs_of = [edge["node"]["job"]["id"] for edge in lists[field]["edges"]]
        assert jobs_of == [gid("Job", d.job.id) for d in visible]


async def test_every_portal_field_answers_another_clients_ids_like_missing_ones(
    portal_gql: PortalGraphQL, world: World
) -> None:
    lookups = [
        ("Job", "job", "job", "id title"),
        ("Organizer", "organizer", "organizer", "id answers"),
        ("Invoice", "invoice", "invoice", "id totalCents"),
        ("Message", "message", "message", "id body"),
    ]
    mutations = [
        ("Organizer", "organizer", SAVE, {"answers": ["a", "b"]}),
        ("Organizer", "organizer", SAVE, {"answers": ["a"]}),
        ("Organizer", "organizer", SUBMIT, {"answers": ["a", "b"]}),
        ("Message", "message", REPLY, {"body": "Hello"}),
    ]
    strangers = (world.neighbour, world.foreign, world.archived)

    def missing(type_name: str) -> str:
        return gid(type_name, MISSING)

    for type_name, attribute, field, selection in lookups:
        query = f"query($id: ID!) {{ {field}(id: $id) {{ {selection} }} }}"
        nothing = await portal_gql(query, id=missing(type_name))
        assert nothing == {"data": {field: None}}
        for stranger in strangers:
            their_id = gid(type_name, getattr(stranger, attribute).id)
            assert await portal_gql(query, id=their_id) == nothing, (field, stranger.job.title)
        nested = "query($id: ID!) { job(id: $id) { organizers { edges { node { id } } } } }"
        for stranger in strangers:
            assert await portal_gql(nested, id=gid("Job", stranger.job.id)) == {
                "data": {"job": None}
            }
    for type_name, attribute, mutation, variables in mutations:
        before = await snapshot()
        nothing = await portal_gql(mutation, id=missing(type_name), **variables)
        payload = next(iter(nothing["data"].values()))
        assert payload["errors"][0]["code"] == "NOT_FOUND"
        for stranger in strangers:
            their_id = gid(type_name, getattr(stranger, attribute).id)
            assert await portal_gql(mutation, id=their_id, **variables) == nothing
        assert await snapshot() == before
    # the lists hold none of the strangers' rows
    listed = await data(portal_gql, LISTS)
    every = {edge["node"]["id"] for field in listed.values() for edge in field["edges"]}
    every |= set(ids((await data(portal_gql, JOBS))["jobs"]))
    for stranger in strangers:
        for type_name, attribute in (
            ("Job", "job"),
            ("Organizer", "organizer"),
            ("Invoice", "invoice"),
            ("Message", "message"),
        ):
            assert gid(type_name, getattr(stranger, attribute).id) not in every


HISTORY = """query($id: ID!) { job(id: $id) { stage { name }
  history(first: 100) { edges { node { type changes } } } } }"""


async def history(gql: GraphQL, job_id: int) -> tuple[str, list[dict[str, Any]]]:
    """A job's stage name and history, as staff see them."""
    job = (await gql(HISTORY, id=gid("Job", job_id)))["job"]
    return job["stage"]["name"], [edge["node"] for edge in job["history"]["edges"]]


PAY = (
    """mutation($id: ID!) { payInvoice(input: {id: $id}) { invoice { status } errors { code } } }"""
)


async def test_the_loop_closes_through_both_endpoints(
    portal_gql: PortalGraphQL, gql: GraphQL, world: World
) -> None:
    """The contact saves a draft, the firm is paid, the contact submits: the job moves on,
    and staff see each step in the job's history."""
    organizer = gid("Organizer", world.mine.organizer.id)
    saved = await data(portal_gql, SAVE, id=organizer, answers=["Wages", ""])
    assert saved["saveOrganizerAnswers"] == {
        "organizer": {"id": organizer, "status": "SENT", "answers": ["Wages", ""]},
        "errors": [],
    }
    paid = await gql(PAY, id=gid("Invoice", world.mine.invoice.id))
    assert paid["payInvoice"] == {"invoice": {"status": "PAID"}, "errors": []}
    submitted = await data(portal_gql, SUBMIT, id=organizer, answers=["Wages", "Two"])
    assert submitted["submitOrganizer"] == {
        "organizer": {
            "id": organizer,
            "status": "SUBMITTED",
            "answers": ["Wages", "Two"],
            "job": {"stageName": "Prepare Return"},  # moved on: the stage's own name
        },
        "errors": [],
    }
    again = await data(portal_gql, SUBMIT, id=organizer, answers=["Wages", "Two"])
    assert again["submitOrganizer"] == {
        "organizer": None,
        "errors": [
            {
                "code": "INVALID_INPUT",
                "field": "organizerId",
                "message": "the organizer is already submitted",
            }
        ],
    }
    stage, events = await history(gql, world.mine.job.id)
    assert stage == "Prepare Return"
    contact = gid("Contact", world.avery.contact_id)
    assert events[-4:] == [
        {
            "type": "ORGANIZER_CHANGED",
            "changes": {"organizer": organizer, "action": "saved", "contact": contact},
        },
        {"type": "INVOICE_PAID", "changes": {"invoice": gid("Invoice", world.mine.invoice.id)}},
        {
            "type": "CLIENT_SUBMITTED_ORGANIZER",
            "changes": {"organizer": organizer, "contact": contact},
        },
        {"type": "JOB_MOVED", "changes": events[-1]["changes"]},
    ]


async def test_a_reply_through_the_portal(
    portal_gql: PortalGraphQL, gql: GraphQL, world: World
) -> None:
    original = gid("Message", world.mine.message.id)
    reply = (await data(portal_gql, REPLY, id=original, body=SCRIPT))["replyToMessage"]
    assert reply["errors"] == []
    message = reply["message"]
    assert (message["subject"], message["body"], message["direction"]) == (
        "Re: Your 2025 return",
        SCRIPT,  # verbatim: whoever shows it escapes it
        "INBOUND",
    )
    assert (message["inReplyToId"], message["job"]["id"]) == (
        original,
        gid("Job", world.mine.job.id),
    )
    thread = await data(
        portal_gql,
        "query($id: ID!) { job(id: $id) { messages { edges { node { id direction } } } } }",
        id=gid("Job", world.mine.job.id),
    )
    assert [e["node"] for e in thread["job"]["messages"]["edges"]] == [
        {"id": original, "direction": "OUTBOUND"},
        {"id": message["id"], "direction": "INBOUND"},
    ]
    _, events = await history(gql, world.mine.job.id)
    assert events[-1] == {
        "type": "CLIENT_REPLIED",
        "changes": {
            "message": message["id"],
            "in_reply_to": original,
            "contact": gid("Contact", world.avery.contact_id),
        },
    }


async def test_oversized_input_is_refused_in_the_payload_and_changes_nothing(
    portal_gql: PortalGraphQL, world: World
) -> None:
    organizer = gid("Organizer", world.mine.organizer.id)
    cases = [
        (SAVE, {"id": organizer, "answers": ["x" * (portal.ANSWER_MAX + 1), ""]}, "answers"),
        (SUBMIT, {"id": organizer, "answers": ["ok", "\x00"]}, "answers"),
        (SUBMIT, {"id": organizer, "answers": ["only one"]}, "answers"),
        (
            REPLY,
            {"id": gid("Message", world.mine.message.id), "body": "x" * (portal.BODY_MAX + 1)},
            "body",
        ),
        (SUBMIT, {"id": "not an id", "answers": ["a", "b"]}, "organizerId"),
        (
            SUBMIT,
            {"id": gid("Invoice", world.mine.invoice.id), "answers": ["a", "b"]},
            "organizerId",
        ),
    ]
    for mutation, variables, field in cases:
        before = await snapshot()
        payload = next(iter((await data(portal_gql, mutation, **variables)).values()))
        assert await snapshot() == before
        assert [(e["code"], e["field"]) for e in payload["errors"]] == [
            ("INVALID_ID" if field.endswith("Id") else "INVALID_INPUT", field)
        ], variables
        assert payload.get("organizer", payload.get("message")) is None


async def test_a_contacts_writes_are_limited_per_minute(
    http: httpx.AsyncClient, world: World
) -> None:
    """Each write is a row, an event, board events and webhook deliveries for the firm: a
    contact's writes (whatever its sessions) are limited to what a person does, not the
    query-cost budget of an integration (~9,000 replies a minute)."""
    message = gid("Message", world.mine.message.id)
    reply = f'replyToMessage(input: {{messageId: "{message}", body: "hi"}}) {{ errors {{ code }} }}'
    writes = "mutation { " + " ".join(f"r{n}: {reply}" for n in range(MAX_ROOT_FIELDS)) + " }"
    one = f"mutation {{ {reply} }}"

    async def post(query: str, token: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return await http.post("/portal/graphql", json={"query": query}, headers=headers)

    for attempt in range(2):  # again if a minute's window ended meanwhile
        # each attempt a contact of its own: the first one's writes after the window ended
        # count in the next window
        address = f"writer{attempt}@example.test"
        contact = await Contact.create(
            firm_id=world.avery.firm_id,
            client_id=world.avery.client_id,
            name=address,
            email=address,
            portal_access=True,
        )
        window = int(time.time() // 60)
        token = await _session(contact.id, world.avery.firm_id)
        for _ in range(PORTAL_WRITES_PER_MINUTE // MAX_ROOT_FIELDS):
            response = await post(writes, token)
            assert response.status_code == 200, response.text
        before = await Message.filter(job_id=world.mine.job.id).count()
        # a new session of the same contact is no way round it
        refused = await post(one, await _session(contact.id, world.avery.firm_id))
        if int(time.time() // 60) != window:
            continue
        assert refused.status_code == 429, refused.text
        assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert await Message.filter(job_id=world.mine.job.id).count() == before
        # reading goes on
        assert (await post("{ me { id } }", token)).status_code == 200
        return
    pytest.fail("two minute windows ended during the test")


async def test_a_page_of_jobs_costs_the_same_statements_whatever_its_size(
    portal_gql: PortalGraphQL, world: World, sql_statements: Any
) -> None:
    async def statements() -> int:
        sql_statements.statements.clear()
        await data(portal_gql, JOBS)
        await data(portal_gql, LISTS)
        return len(sql_statements.statements)

    await statements()  # the session's first use is noted (last_used_at) once
    few = await statements()
    pipeline_id = world.stages[0].pipeline_id
    owner = await Client.get(id=world.avery.client_id)
    for n in range(6):
        await _documents(world.firm, pipeline_id, owner, f"job {n}")
    assert await statements() == few


# The reference portal page's own query (web/portal/portal.js), as bench/portal.py times it:
# the session; `me` (its contact, its client); the page of jobs; their stage names; and for each
# of organizers, invoices and messages, the jobs of the page still the client's, then their
# documents, paged per job by one statement.
PORTAL_PAGE_STATEMENTS = 11


def portal_page_query() -> str:
    source = (ROOT / "web" / "portal" / "portal.js").read_text()
    found = re.search(r"const PORTAL = `(.*?)`;", source, re.S)
    assert found, "web/portal/portal.js has no PORTAL query"
    return found.group(1)


async def test_the_portal_pages_query_costs_fixed_statements_up_to_a_full_page(
    portal_gql: PortalGraphQL, world: World, sql_statements: Any
) -> None:
    query = portal_page_query()

    async def statements() -> tuple[int, int]:
        sql_statements.statements.clear()
        shown = len((await data(portal_gql, query))["jobs"]["edges"])
        return len(sql_statements.statements), shown

    await statements()  # the session's first use is noted (last_used_at) once
    few = await statements()
    owner = await Client.get(id=world.avery.client_id)
    for n in range(24):
        await _documents(world.firm, world.stages[0].pipeline_id, owner, f"job {n}")
    many = await statements()
    assert (few, many) == ((PORTAL_PAGE_STATEMENTS, 2), (PORTAL_PAGE_STATEMENTS, 20))
