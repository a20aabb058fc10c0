"""Contacts of a client (createContact, updateContact, deleteContact, Client.contacts) and
Stage.portalName, on both databases through the GraphQL API.

A refused change answers one UserError, its object null, and writes nothing (a snapshot of
every tenant table, contacts and portal sessions included, is the same before and after).
Another firm's id answers exactly like a missing one. Turning portal access off revokes the
contact's open portal sessions in the same change.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from models import Client, Contact, Permission, PortalSession
from tests.conftest import GraphQL, StatementCounter, graphql_client
from tests.factories import board, client, gid, scope_of
from tests.mutations import document, snapshot
from workflow import clock, contacts
from workflow.contacts import DUPLICATE_EMAIL, MAX_CONTACTS_PER_CLIENT
from workflow.firms import NewFirm, issue_token
from workflow.validation import NAME_MAX

MISSING = 999_999
CONTACT = "id name email portalAccess client { id name }"
CREATE = f"""mutation($input: CreateContactInput!) {{ createContact(input: $input) {{
    contact {{ {CONTACT} }} errors {{ code message field }} }} }}"""
UPDATE = f"""mutation($input: UpdateContactInput!) {{ updateContact(input: $input) {{
    contact {{ {CONTACT} }} errors {{ code message field }} }} }}"""
DELETE = """mutation($input: DeleteContactInput!) { deleteContact(input: $input) {
    deletedId errors { code message field } } }"""
CLIENT_CONTACTS = """query($id: ID!) { client(id: $id) { contacts { id name email
    portalAccess } } }"""
NODE = f"""query($id: ID!) {{ node(id: $id) {{ ... on Contact {{ {CONTACT} }} }} }}"""


async def refused(gql: GraphQL, op: str, input: dict[str, Any]) -> dict[str, Any]:
    """Run a mutation that must fail: one UserError, null object, nothing written."""
    before = await snapshot()
    payload = (await gql(document(op), input=input))[op]
    assert await snapshot() == before
    errors = payload.pop("errors")
    assert len(errors) == 1, errors
    assert all(value is None for value in payload.values()), payload
    return dict(errors[0])


async def create(gql: GraphQL, client_id: str, name: str, email: str, **more: Any) -> dict:
    """A contact made through the API (which must succeed)."""
    input = {"clientId": client_id, "name": name, "email": email, **more}
    answer = (await gql(CREATE, input=input))["createContact"]
    assert answer["errors"] == [], answer
    return dict(answer["contact"])


@pytest.fixture
async def avery(firm_a: NewFirm) -> Client:
    return await client(firm_a)


@pytest.fixture
async def harbor(firm_a: NewFirm) -> Client:
    return await client(firm_a, "Blue Harbor LLC")


# ------------------------------------------------------------------ create, update, delete


async def test_create_update_and_delete_a_contact(gql: GraphQL, avery: Client) -> None:
    client_id = gid("Client", avery.id)
    made = await create(gql, client_id, "  Avery Johnson ", " Avery@Example.TEST ")
    assert made == {
        "id": made["id"],
        "name": "Avery Johnson",
        "email": "avery@example.test",  # trimmed, lower-case
        "portalAccess": False,
        "client": {"id": client_id, "name": "Avery Johnson"},
    }
    assert (await gql(NODE, id=made["id"]))["node"] == made
    both = await gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=[made["id"]])
    assert both["nodes"] == [{"id": made["id"]}]

    renamed = (await gql(UPDATE, input={"id": made["id"], "name": "Avery J."}))["updateContact"]
    assert renamed["errors"] == []
    assert renamed["contact"] == {**made, "name": "Avery J."}  # what was left out is unchanged
    changed = await gql(
        UPDATE, input={"id": made["id"], "email": "AJ@Example.test", "portalAccess": True}
    )
    assert changed["updateContact"]["contact"] == {
        **made,
        "name": "Avery J.",
        "email": "aj@example.test",
        "portalAccess": True,
    }
    listed = (await gql(CLIENT_CONTACTS, id=client_id))["client"]["contacts"]
    assert listed == [
        {"id": made["id"], "name": "Avery J.", "email": "aj@example.test", "portalAccess": True}
    ]

    deleted = (await gql(DELETE, input={"id": made["id"]}))["deleteContact"]
    assert deleted == {"deletedId": made["id"], "errors": []}
    assert (await gql(NODE, id=made["id"]))["node"] is None
    assert (await gql(CLIENT_CONTACTS, id=client_id))["client"]["contacts"] == []
    error = await refused(gql, "deleteContact", {"id": made["id"]})
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")


async def test_contacts_are_listed_oldest_first_per_client(
    gql: GraphQL, avery: Client, harbor: Client
) -> None:
    a, h = gid("Client", avery.id), gid("Client", harbor.id)
    first = await create(gql, a, "Avery Johnson", "avery@a.test", portalAccess=True)
    other = await create(gql, h, "Morgan Lee", "morgan@harbor.test")
    second = await create(gql, a, "Sam Johnson", "sam@a.test")
    assert [c["id"] for c in (await gql(CLIENT_CONTACTS, id=a))["client"]["contacts"]] == [
        first["id"],
        second["id"],
    ]
    assert [c["id"] for c in (await gql(CLIENT_CONTACTS, id=h))["client"]["contacts"]] == [
        other["id"]
    ]


async def test_a_null_portal_access_is_false_and_null_name_or_email_is_refused(
    gql: GraphQL, avery: Client
) -> None:
    made = await create(gql, gid("Client", avery.id), "Avery", "avery@a.test", portalAccess=True)
    off = (await gql(UPDATE, input={"id": made["id"], "portalAccess": None}))["updateContact"]
    assert off["contact"]["portalAccess"] is False
    for field in ("name", "email"):
        error = await refused(gql, "updateContact", {"id": made["id"], field: None})
        assert (error["code"], error["field"]) == ("INVALID_INPUT", field)


# -------------------------------------------------------------------------------- validation

BAD_EMAILS = {
    "empty": "",
    "blank": "   ",
    "no at": "avery.example.test",
    "no domain dot": "avery@example",
    "two ats": "avery@@example.test",
    "space inside": "avery j@example.test",
    "too long": "a" * 250 + "@example.test",
    "control character": "avery\x07@example.test",
    "newline": "avery@example.test\nBcc: x@evil.test",
}
BAD_NAMES = {
    "empty": "",
    "blank": " \t ",
    "too long": "x" * (NAME_MAX + 1),
    "nul": "bad\x00name",
    "escape": "bad\x1b[31mname",
    "newline": "two\nlines",
}


@pytest.mark.parametrize("bad", list(BAD_EMAILS.values()), ids=list(BAD_EMAILS))
async def test_a_bad_email_is_refused_and_changes_nothing(
    gql: GraphQL, avery: Client, bad: str
) -> None:
    made = await create(gql, gid("Client", avery.id), "Avery", "avery@a.test")
    for op, input in (
        ("createContact", {"clientId": gid("Client", avery.id), "name": "Sam", "email": bad}),
        ("updateContact", {"id": made["id"], "email": bad}),
    ):
        error = await refused(gql, op, input)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "email"), op


@pytest.mark.parametrize("bad", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
async def test_a_bad_name_is_refused_and_changes_nothing(
    gql: GraphQL, avery: Client, bad: str
) -> None:
    made = await create(gql, gid("Client", avery.id), "Avery", "avery@a.test")
    for op, input in (
        ("createContact", {"clientId": gid("Client", avery.id), "name": bad, "email": "s@a.test"}),
        ("updateContact", {"id": made["id"], "name": bad}),
    ):
        error = await refused(gql, op, input)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "name"), op


async def test_the_longest_name_and_address_are_accepted(gql: GraphQL, avery: Client) -> None:
    address = "a" * 240 + "@example.test"  # 253 characters
    made = await create(gql, gid("Client", avery.id), "n" * NAME_MAX, address)
    assert (made["name"], made["email"]) == ("n" * NAME_MAX, address)


async def test_malformed_and_wrongly_typed_ids_are_invalid_id(gql: GraphQL, avery: Client) -> None:
    made = await create(gql, gid("Client", avery.id), "Avery", "avery@a.test")
    job_id = gid("Job", avery.id)
    for op, input, field in (
        ("createContact", {"clientId": "nonsense", "name": "S", "email": "s@a.test"}, "clientId"),
        ("createContact", {"clientId": made["id"], "name": "S", "email": "s@a.test"}, "clientId"),
        ("updateContact", {"id": job_id, "name": "S"}, "id"),
        ("deleteContact", {"id": gid("Client", avery.id)}, "id"),
    ):
        error = await refused(gql, op, input)
        assert (error["code"], error["field"]) == ("INVALID_ID", field), (op, input)


async def test_a_client_has_at_most_so_many_contacts(gql: GraphQL, avery: Client) -> None:
    """Client.contacts is a plain list, and every organizer, message, invoice and reminder is
    one email per contact: both stay bounded."""
    a = gid("Client", avery.id)
    for n in range(MAX_CONTACTS_PER_CLIENT):
        await Contact.create(
            firm_id=avery.firm_id, client_id=avery.id, name=f"c{n}", email=f"c{n}@a.test"
        )
    error = await refused(gql, "createContact", {"clientId": a, "name": "S", "email": "s@a.test"})
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "clientId")
    assert str(MAX_CONTACTS_PER_CLIENT) in error["message"]
    # one fewer, and there is room again
    await Contact.filter(client_id=avery.id, email="c0@a.test").delete()
    await create(gql, a, "Sam", "s@a.test")


# --------------------------------------------------------------------- one address per client


async def test_an_address_is_unique_within_a_client_but_not_across_clients(
    gql: GraphQL, avery: Client, harbor: Client
) -> None:
    a, h = gid("Client", avery.id), gid("Client", harbor.id)
    avery_contact = await create(gql, a, "Avery Johnson", "avery@a.test")
    sam = await create(gql, a, "Sam Johnson", "sam@a.test")

    for op, input in (
        ("createContact", {"clientId": a, "name": "Avery again", "email": " AVERY@a.test"}),
        ("updateContact", {"id": sam["id"], "email": "Avery@A.test"}),
    ):
        error = await refused(gql, op, input)
        assert error == {"code": "INVALID_INPUT", "field": "email", "message": DUPLICATE_EMAIL}

    # the same person at another client of the firm is fine
    at_harbor = await create(gql, h, "Avery Johnson", "avery@a.test")
    assert at_harbor["client"]["id"] == h
    # and a contact keeps its own address through an update
    same = await gql(UPDATE, input={"id": avery_contact["id"], "email": "AVERY@a.test"})
    assert same["updateContact"]["errors"] == []


async def test_concurrent_creates_of_one_address_make_one_contact(
    gql: GraphQL, avery: Client
) -> None:
    """Whichever check refuses them (the look-up, or the unique index when two inserts
    overlap), each other request answers the same INVALID_INPUT: none is a server error."""
    input = {"clientId": gid("Client", avery.id), "name": "Avery", "email": "avery@a.test"}
    answers = await asyncio.gather(*(gql(CREATE, input=input) for _ in range(6)))
    payloads = [answer["createContact"] for answer in answers]
    made = [p for p in payloads if p["contact"]]
    refusals = [p["errors"] for p in payloads if not p["contact"]]
    assert len(made) == 1 and made[0]["errors"] == []
    assert (
        refusals == [[{"code": "INVALID_INPUT", "field": "email", "message": DUPLICATE_EMAIL}]] * 5
    )
    assert await Contact.filter(client_id=avery.id).count() == 1


async def _waiting_for_a_lock(connection: asyncpg.Connection, deadline: float) -> None:
    """Until another session waits for a lock (the unique index entry held by ours)."""
    while asyncio.get_running_loop().time() < deadline:
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)  # polling the condition, with a deadline
    raise AssertionError("no session waited for the contact's unique index")


@pytest.mark.postgres_only
@pytest.mark.parametrize("op", ["createContact", "updateContact"])
async def test_an_insert_racing_past_the_check_is_refused_by_the_unique_index(
    gql: GraphQL, db: str, firm_a: NewFirm, avery: Client, op: str
) -> None:
    """Another transaction inserts the address and holds its commit: the request's own look-up
    does not see it yet, its write waits on the unique index, and once the other commits the
    request answers INVALID_INPUT on email (not a 500), having written nothing."""
    sam = await contacts.create_contact(scope_of(firm_a), avery.id, "Sam", "sam@a.test")
    input: dict[str, Any] = (
        {"clientId": gid("Client", avery.id), "name": "Avery", "email": "avery@a.test"}
        if op == "createContact"
        else {"id": gid("Contact", sam.id), "email": "avery@a.test"}
    )
    other = await asyncpg.connect(db)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(
            "INSERT INTO contact (firm_id, client_id, name, email, portal_access, created_at,"
            " updated_at) VALUES ($1, $2, 'Avery', 'avery@a.test', false, now(), now())",
            firm_a.firm.id,
            avery.id,
        )
        request = asyncio.create_task(gql(document(op), input=input))
        await _waiting_for_a_lock(other, asyncio.get_running_loop().time() + 10)
        await transaction.commit()
        answer = (await request)[op]
    finally:
        await other.close()
    assert answer["errors"] == [
        {"code": "INVALID_INPUT", "field": "email", "message": DUPLICATE_EMAIL}
    ]
    rows = await Contact.filter(client_id=avery.id).order_by("id").values_list("name", "email")
    assert rows == [("Sam", "sam@a.test"), ("Avery", "avery@a.test")]


# ----------------------------------------------------------------------- tenancy and access


async def test_another_firms_ids_answer_like_missing_ones(
    gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm, avery: Client
) -> None:
    theirs = await contacts.create_contact(scope_of(firm_a), avery.id, "Avery", "avery@a.test")
    ours = await client(firm_b, "Bob's Client")
    cases = [
        ("createContact", lambda c: {"clientId": gid("Client", c), "name": "X", "email": "x@b.t"}),
        ("updateContact", lambda c: {"id": gid("Contact", c), "name": "Taken"}),
        ("updateContact", lambda c: {"id": gid("Contact", c), "portalAccess": True}),
        ("deleteContact", lambda c: {"id": gid("Contact", c)}),
    ]
    for op, make in cases:
        target = avery.id if op == "createContact" else theirs.id
        foreign = await refused(gql_b, op, make(target))
        missing = await refused(gql_b, op, make(MISSING))
        assert foreign == missing and foreign["code"] == "NOT_FOUND", (op, foreign)
    assert (await gql_b(NODE, id=gid("Contact", theirs.id)))["node"] is None
    assert (await gql_b(CLIENT_CONTACTS, id=gid("Client", avery.id)))["client"] is None
    assert (await gql_b(CLIENT_CONTACTS, id=gid("Client", ours.id)))["client"]["contacts"] == []
    after = await Contact.get(id=theirs.id)  # and firm A's contact is as it was
    assert (after.name, after.email, after.portal_access) == ("Avery", "avery@a.test", False)


async def test_a_read_only_token_may_not_change_contacts(
    http: httpx.AsyncClient, gql: GraphQL, firm_a: NewFirm, avery: Client
) -> None:
    made = await create(gql, gid("Client", avery.id), "Avery", "avery@a.test")
    _, secret = await issue_token(firm_a.owner, "reader", [Permission.READ])
    reader = graphql_client(http, secret)
    before = await snapshot()
    for query, input in (
        (CREATE, {"clientId": gid("Client", avery.id), "name": "Sam", "email": "sam@a.test"}),
        (UPDATE, {"id": made["id"], "name": "Renamed"}),
        (DELETE, {"id": made["id"]}),
    ):
        body = await reader(query, expect_errors=True, input=input)
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await snapshot() == before
    # reading them is what READ is for
    assert (await reader(CLIENT_CONTACTS, id=gid("Client", avery.id)))["client"]["contacts"]


# ------------------------------------------------------------------ statements and the cache

CLIENTS_WITH_CONTACTS = """{ clients(first: 100) { edges { node { name
  contacts { name email portalAccess client { name } } } } } }"""
# token lookup, data version, clients, their contacts, the contacts' clients (by id, batched)
CLIENTS_STATEMENTS = 5


async def _clients_with_contacts(firm: NewFirm, count: int) -> None:
    scope = scope_of(firm)
    for n in range(count):
        made = await client(firm, f"Client {n}")
        for m in range(2):
            await contacts.create_contact(scope, made.id, f"Contact {m}", f"c{m}@{n}.test")


async def test_clients_with_their_contacts_cost_the_same_statements_whatever_their_number(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    counts = []
    for more in (1, 40):
        await _clients_with_contacts(firm_a, more)
        await gql("{ viewer { name } }")  # the token's last use is written once a minute
        sql_statements.statements.clear()
        data = await gql(CLIENTS_WITH_CONTACTS)
        counts.append(len(sql_statements.statements))
        edges = data["clients"]["edges"]
        assert all(len(e["node"]["contacts"]) == 2 for e in edges)
        assert all(
            c["client"]["name"] == e["node"]["name"] for e in edges for c in e["node"]["contacts"]
        )
    assert len(edges) == 41
    assert counts == [CLIENTS_STATEMENTS] * 2, sql_statements.statements


async def test_a_contact_change_is_seen_by_the_next_query(
    gql: GraphQL, firm_a: NewFirm, avery: Client, sql_statements: StatementCounter
) -> None:
    scope = scope_of(firm_a)
    made: list[Contact] = []

    async def add() -> None:
        made.append(await contacts.create_contact(scope, avery.id, "Avery", "avery@a.test"))

    changes = [
        ("create", add),
        ("rename", lambda: contacts.update_contact(scope, made[0].id, name="Avery J.")),
        ("address", lambda: contacts.update_contact(scope, made[0].id, email="aj@a.test")),
        ("access", lambda: contacts.update_contact(scope, made[0].id, portal_access=True)),
        ("delete", lambda: contacts.delete_contact(scope, made[0].id)),
    ]
    before = await gql(CLIENTS_WITH_CONTACTS)
    for name, make in changes:
        sql_statements.statements.clear()
        assert await gql(CLIENTS_WITH_CONTACTS) == before, name
        assert len(sql_statements.statements) <= 2, f"not cached before: {name}"
        await make()
        after = await gql(CLIENTS_WITH_CONTACTS)
        assert after != before, f"stale after: {name}"
        before = after


# -------------------------------------------------------------------------- portal sessions


async def _session(
    contact: Contact, expires_at: datetime, revoked_at: datetime | None = None
) -> PortalSession:
    return await PortalSession.create(
        firm_id=contact.firm_id,
        contact_id=contact.id,
        token_hash=hashlib.sha256(f"{contact.id}-{expires_at}-{revoked_at}".encode()).hexdigest(),
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


async def _revoked(session: PortalSession) -> datetime | None:
    return (await PortalSession.get(id=session.id)).revoked_at


async def test_turning_portal_access_off_revokes_the_contacts_open_sessions(
    gql: GraphQL, firm_a: NewFirm, avery: Client
) -> None:
    scope = scope_of(firm_a)
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    earlier = now - timedelta(days=3)
    avery_c = await contacts.create_contact(scope, avery.id, "Avery", "avery@a.test", True)
    sam = await contacts.create_contact(scope, avery.id, "Sam", "sam@a.test", True)
    open_one = await _session(avery_c, now + timedelta(days=10))
    open_two = await _session(avery_c, now + timedelta(days=29))
    expired = await _session(avery_c, now - timedelta(days=1))
    revoked = await _session(avery_c, now + timedelta(days=5), revoked_at=earlier)
    samstays = await _session(sam, now + timedelta(days=10))
    a_id = gid("Contact", avery_c.id)

    with clock.frozen(now):
        # other changes leave sessions open: a new name, access granted again
        for input in ({"name": "Avery J."}, {"portalAccess": True}, {"email": "AVERY@a.test"}):
            answer = (await gql(UPDATE, input={"id": a_id, **input}))["updateContact"]
            assert answer["errors"] == [], answer
            assert await _revoked(open_one) is None, input
        answer = (await gql(UPDATE, input={"id": a_id, "portalAccess": False}))["updateContact"]
    assert answer["errors"] == [] and answer["contact"]["portalAccess"] is False
    assert await _revoked(open_one) == now
    assert await _revoked(open_two) == now
    assert await _revoked(expired) is None  # already closed: left as it was
    assert await _revoked(revoked) == earlier
    assert await _revoked(samstays) is None


async def test_a_new_address_revokes_the_contacts_open_sessions(
    gql: GraphQL, firm_a: NewFirm, avery: Client
) -> None:
    """A session may have been opened through a link sent to the old, perhaps wrong, address."""
    contact = await contacts.create_contact(
        scope_of(firm_a), avery.id, "Avery", "avery@a.test", True
    )
    session = await _session(contact, datetime.now(UTC) + timedelta(days=30))
    answer = await gql(UPDATE, input={"id": gid("Contact", contact.id), "email": "aj@a.test"})
    assert answer["updateContact"]["contact"]["portalAccess"] is True
    assert await _revoked(session) is not None


async def test_a_refused_update_revokes_nothing(
    gql: GraphQL, firm_a: NewFirm, avery: Client
) -> None:
    scope = scope_of(firm_a)
    contact = await contacts.create_contact(scope, avery.id, "Avery", "avery@a.test", True)
    await contacts.create_contact(scope, avery.id, "Sam", "sam@a.test")
    session = await _session(contact, datetime.now(UTC) + timedelta(days=30))
    error = await refused(
        gql,
        "updateContact",
        {"id": gid("Contact", contact.id), "portalAccess": False, "email": "sam@a.test"},
    )
    assert error["field"] == "email"
    assert await _revoked(session) is None


async def test_deleting_a_contact_deletes_its_sessions(
    gql: GraphQL, firm_a: NewFirm, avery: Client
) -> None:
    contact = await contacts.create_contact(
        scope_of(firm_a), avery.id, "Avery", "avery@a.test", True
    )
    await _session(contact, datetime.now(UTC) + timedelta(days=30))
    answer = await gql(DELETE, input={"id": gid("Contact", contact.id)})
    assert answer["deleteContact"]["errors"] == []
    assert await PortalSession.filter(contact_id=contact.id).count() == 0


# ------------------------------------------------------------------------ Stage.portalName

STAGE = "stage { id name portalName } errors { code field message }"
CREATE_STAGE = f"""mutation($input: CreateStageInput!) {{ createStage(input: $input) {{
    {STAGE} }} }}"""
UPDATE_STAGE = f"""mutation($input: UpdateStageInput!) {{ updateStage(input: $input) {{
    {STAGE} }} }}"""


async def test_a_stages_portal_name_is_set_kept_and_cleared(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    assert stages[0].portal_name is None
    made = await gql(
        CREATE_STAGE,
        input={"pipelineId": gid("Pipeline", pipeline.id), "name": "QA", "portalName": " Checks "},
    )
    assert made["createStage"]["stage"]["portalName"] == "Checks"
    plain = await gql(
        CREATE_STAGE, input={"pipelineId": gid("Pipeline", pipeline.id), "name": "Filed"}
    )
    assert plain["createStage"]["stage"]["portalName"] is None

    s = gid("Stage", stages[1].id)
    set_ = await gql(UPDATE_STAGE, input={"id": s, "portalName": "We are preparing it"})
    assert set_["updateStage"]["stage"]["portalName"] == "We are preparing it"
    kept = await gql(UPDATE_STAGE, input={"id": s, "name": "Prepare"})
    assert kept["updateStage"]["stage"] == {
        "id": s,
        "name": "Prepare",
        "portalName": "We are preparing it",
    }
    cleared = await gql(UPDATE_STAGE, input={"id": s, "portalName": None})
    assert cleared["updateStage"]["stage"]["portalName"] is None
    board_names = """query($p: ID!) { pipeline(id: $p) { stages { name portalName } } }"""
    shown = (await gql(board_names, p=gid("Pipeline", pipeline.id)))["pipeline"]["stages"]
    assert shown[1] == {"name": "Prepare", "portalName": None}
    assert {"name": "QA", "portalName": "Checks"} in shown


@pytest.mark.parametrize("bad", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
async def test_a_bad_portal_name_is_refused_and_changes_nothing(
    gql: GraphQL, firm_a: NewFirm, bad: str
) -> None:
    pipeline, stages = await board(firm_a)
    for op, input in (
        (
            "createStage",
            {"pipelineId": gid("Pipeline", pipeline.id), "name": "QA", "portalName": bad},
        ),
        ("updateStage", {"id": gid("Stage", stages[0].id), "portalName": bad}),
    ):
        error = await refused(gql, op, input)
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "portalName"), op
