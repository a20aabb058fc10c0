"""The client portal's sign-in, over real HTTP to the app in this process, on both databases:
link requests (the same answer for any address, rate limits), the link email (no raw token
stored), single-use links, refusals that change nothing, sessions (30 days, revocation,
access removed), tokens refused at the other endpoint, and `me`."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tortoise import Tortoise

from api.portal import ANONYMOUS_MAX_TOKENS
from models import Client, Contact, Email, EmailKind, PortalLink, PortalSession, keys, sql
from models.email import LINK_TOKEN_PLACEHOLDER, LINK_TOKEN_PURPOSE
from resolvers.portal_auth import LINKS_PER_ADDRESS, LINKS_PER_IP
from schema.portal_types import LINK_SENT
from tests.conftest import graphql_client
from web.app import create_app
from web.middleware import RequestLog
from workflow import clock, contacts, portal_auth, unit
from workflow.firms import NewFirm, hash_token
from workflow.global_ids import global_id
from workflow.scope import Scope

PORTAL = "/portal/graphql"
REQUEST_LINK = """mutation RequestLink($email: String!) {
  requestPortalLink(input: {email: $email}) { message errors { code message field } }
}"""
SIGN_IN = """mutation SignIn($linkToken: String!) {
  signIn(input: {linkToken: $linkToken}) {
    token contact { id name email client { id name } } errors { code message field }
  }
}"""
ME = "query Me { me { id name email client { id name } } }"
REFUSED = {
    "token": None,
    "contact": None,
    "errors": [
        {"code": "INVALID_INPUT", "message": portal_auth.INVALID_LINK, "field": "linkToken"}
    ],
}


def a_client_address() -> tuple[str, int]:
    """A client IP address of its own for each app, so rate limits never carry over."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}", 5


@pytest.fixture
def app(db: str) -> RequestLog:
    return RequestLog(create_app())


@pytest.fixture
async def portal_http(app: RequestLog) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        yield client
    await portal_auth.settle()


def client_of(app: RequestLog) -> httpx.AsyncClient:
    """An HTTP client to the app, from a client address of its own."""
    transport = httpx.ASGITransport(app=app, client=a_client_address())
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def post(
    http: httpx.AsyncClient,
    query: str,
    token: str | None = None,
    path: str = PORTAL,
    **variables: Any,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post(path, json={"query": query, "variables": variables}, headers=headers)


async def data(http: httpx.AsyncClient, query: str, token: str | None = None, **v: Any) -> Any:
    response = await post(http, query, token, **v)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def contact(
    firm: NewFirm,
    email: str,
    *,
    name: str = "Carol Client",
    client: Client | None = None,
    portal_access: bool = True,
) -> Contact:
    client = client or await Client.create(firm_id=firm.firm.id, name=f"Client of {name}")
    return await Contact.create(
        firm_id=firm.firm.id,
        client_id=client.id,
        name=name,
        email=email,
        portal_access=portal_access,
    )


async def request_link(http: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await post(http, REQUEST_LINK, email=email)
    await portal_auth.settle()  # the emails are written after the answer
    return response


async def link_token(person: Contact) -> str:
    """The token of the contact's newest link email, as the mailer would unseal it."""
    email = await Email.filter(contact_id=person.id, kind=EmailKind.PORTAL_LINK).order_by("-id")
    assert email and email[0].sealed_secret, "no link email"
    secret = keys.unseal(email[0].sealed_secret, LINK_TOKEN_PURPOSE)
    assert secret is not None
    return secret.decode()


async def sign_in(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await data(http, SIGN_IN, linkToken=token))["signIn"]
    return answer


async def signed_in(http: httpx.AsyncClient, person: Contact) -> str:
    await request_link(http, person.email)
    answer = await sign_in(http, await link_token(person))
    assert answer["errors"] == [], answer
    token: str = answer["token"]
    return token


async def portal_state() -> list[Any]:
    """What a refused sign-in must leave as it was."""
    return [
        await PortalLink.all().order_by("id").values(),
        await PortalSession.all().order_by("id").values(),
        await Contact.all().order_by("id").values("id", "portal_access", "updated_at"),
        await Email.all().count(),
    ]


def shown(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    """An answer as a client sees it, less what differs on every request (the seconds left of
    a rate limit's window go down as the clock goes on: `S`)."""
    headers = {
        k: v for k, v in response.headers.items() if k not in ("x-request-id", "date", "server")
    }
    if "retry-after" in headers:
        assert int(headers["retry-after"]) > 0
        headers["retry-after"] = "S"
    body = response.json()
    for error in body.get("errors") or ():
        if "retryAfter" in error.get("extensions", {}):
            error["extensions"]["retryAfter"] = "S"
            error["message"] = re.sub(r"retry in [0-9]+ s", "retry in S s", error["message"])
    return response.status_code, headers, body


async def test_known_and_unknown_addresses_get_the_same_answer(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    known = await contact(firm_a, "known@client.test")
    await contact(firm_a, "no-access@client.test", portal_access=False)
    answers = [
        shown(await request_link(portal_http, address))
        for address in ("known@client.test", "unknown@client.test", "no-access@client.test")
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][2] == {"data": {"requestPortalLink": {"message": LINK_SENT, "errors": []}}}
    # Only the known address with portal access got a link (the address is matched whatever
    # its case).
    assert await shown_case_insensitively(portal_http, known)
    emails = await Email.filter(kind=EmailKind.PORTAL_LINK)
    assert {e.to_address for e in emails} == {"known@client.test"}


async def shown_case_insensitively(http: httpx.AsyncClient, person: Contact) -> bool:
    before = await Email.filter(contact_id=person.id).count()
    await request_link(http, "  Known@Client.TEST ")
    return await Email.filter(contact_id=person.id).count() == before + 1


async def test_a_malformed_address_is_refused_alike_for_everyone(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    answer = (await data(portal_http, REQUEST_LINK, email="not an address"))["requestPortalLink"]
    assert answer == {
        "message": None,
        "errors": [
            {
                "code": "INVALID_INPUT",
                "message": "email is not a valid email address",
                "field": "email",
            }
        ],
    }


async def test_the_link_email_holds_no_token_and_nothing_stores_one(
    portal_http: httpx.AsyncClient, firm_a: NewFirm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    person = await contact(firm_a, "carol@client.test")
    await request_link(portal_http, "carol@client.test")
    (email,) = await Email.filter(contact_id=person.id)
    assert (email.kind, email.to_address, email.job_id) == (
        EmailKind.PORTAL_LINK,
        "carol@client.test",
        None,
    )
    assert email.client_id == person.client_id and email.firm_id == firm_a.firm.id
    link = f"http://127.0.0.1:8000/portal/?token={LINK_TOKEN_PLACEHOLDER}"
    assert link in email.text_body and link in email.html_body
    secret = await link_token(person)
    assert secret.startswith("wfl_")
    (stored,) = await PortalLink.filter(contact_id=person.id)
    assert stored.token_hash == hash_token(secret)
    assert stored.expires_at - stored.created_at < timedelta(minutes=15, seconds=5)

    session = await sign_in(portal_http, secret)
    assert session["errors"] == []
    for raw in (secret, session["token"]):
        assert raw not in await everything_stored()
        assert not [r for r in caplog.records if raw in r.getMessage()]


async def everything_stored() -> str:
    """Every row of every table, as text."""
    rows = [
        await model.all().values()
        for app in Tortoise.apps.values()
        for model in app.values()
        if model._meta.db_table
    ]
    return repr(rows)


async def test_a_link_signs_in_once(portal_http: httpx.AsyncClient, firm_a: NewFirm) -> None:
    person = await contact(firm_a, "once@client.test", name="Olive Once")
    await request_link(portal_http, person.email)
    token = await link_token(person)
    answer = await sign_in(portal_http, token)
    client = await Client.get(id=person.client_id)
    assert answer["errors"] == [] and answer["token"].startswith("wfp_")
    assert answer["contact"] == {
        "id": global_id("Contact", person.id),
        "name": "Olive Once",
        "email": "once@client.test",
        "client": {"id": global_id("Client", client.id), "name": client.name},
    }
    (session,) = await PortalSession.filter(contact_id=person.id)
    assert session.token_hash == hash_token(answer["token"])
    assert session.expires_at - session.created_at > timedelta(days=29, hours=23)

    before = await portal_state()
    assert await sign_in(portal_http, token) == REFUSED
    assert await portal_state() == before


async def test_two_sign_ins_with_one_link_at_once_open_one_session(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    person = await contact(firm_a, "race@client.test")
    await request_link(portal_http, person.email)
    token = await link_token(person)
    answers = await asyncio.gather(*(sign_in(portal_http, token) for _ in range(4)))
    assert sorted(a["errors"] == [] for a in answers) == [False, False, False, True]
    assert [a for a in answers if a["errors"]] == [REFUSED] * 3
    assert await PortalSession.filter(contact_id=person.id).count() == 1


async def _expired(http: httpx.AsyncClient, person: Contact) -> str:
    with clock.frozen(datetime.now(UTC) - timedelta(minutes=15, seconds=1)):
        await request_link(http, person.email)  # sent 15 minutes and a second ago
    return await link_token(person)


async def _tampered(http: httpx.AsyncClient, person: Contact) -> str:
    await request_link(http, person.email)
    token = await link_token(person)
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


async def _access_removed(http: httpx.AsyncClient, person: Contact) -> str:
    await request_link(http, person.email)
    await Contact.filter(id=person.id).update(portal_access=False)
    return await link_token(person)


async def _unknown(http: httpx.AsyncClient, person: Contact) -> str:
    return "wfl_" + secrets.token_urlsafe(32)


async def _session_token(http: httpx.AsyncClient, person: Contact) -> str:
    return await signed_in(http, person)  # a session token is not a link token


async def _staff_token(http: httpx.AsyncClient, person: Contact) -> str:
    return "wf_" + secrets.token_urlsafe(32)


async def _oversized(http: httpx.AsyncClient, person: Contact) -> str:
    return "wfl_" + "x" * 5000


REFUSED_LINKS: dict[str, Callable[[httpx.AsyncClient, Contact], Any]] = {
    "expired": _expired,
    "tampered": _tampered,
    "access removed": _access_removed,
    "unknown": _unknown,
    "a session token": _session_token,
    "a staff token": _staff_token,
    "oversized": _oversized,
}


@pytest.mark.parametrize("kind", REFUSED_LINKS)
async def test_a_bad_link_is_refused_with_the_one_error_and_changes_nothing(
    portal_http: httpx.AsyncClient, firm_a: NewFirm, kind: str
) -> None:
    person = await contact(firm_a, "bad@client.test")
    token = await REFUSED_LINKS[kind](portal_http, person)
    before = await portal_state()
    assert await sign_in(portal_http, token) == REFUSED
    assert await portal_state() == before


async def test_a_link_expires_after_15_minutes(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    person = await contact(firm_a, "late@client.test")
    with clock.frozen(datetime.now(UTC)):
        await request_link(portal_http, person.email)
        clock.advance(timedelta(minutes=14, seconds=59))
        assert (await sign_in(portal_http, await link_token(person)))["errors"] == []


async def test_each_firm_s_link_signs_in_to_its_own_contact(
    portal_http: httpx.AsyncClient, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    """One address, a contact in two firms: one link each, in an email of each firm; each
    link opens its own firm's contact and nothing of the other."""
    in_a = await contact(firm_a, "both@client.test", name="In A")
    in_b = await contact(firm_b, "both@client.test", name="In B")
    await request_link(portal_http, "both@client.test")
    emails = await Email.filter(kind=EmailKind.PORTAL_LINK).order_by("firm_id")
    assert [(e.firm_id, e.contact_id) for e in emails] == [
        (firm_a.firm.id, in_a.id),
        (firm_b.firm.id, in_b.id),
    ]
    for person in (in_a, in_b):
        answer = await sign_in(portal_http, await link_token(person))
        me = (await data(portal_http, ME, answer["token"]))["me"]
        assert me["id"] == global_id("Contact", person.id) and me["name"] == person.name
    # A link of firm A's contact whose row was moved to firm B's (a forged row): refused.
    await request_link(portal_http, "both@client.test")
    token = await link_token(in_a)
    await PortalLink.filter(token_hash=hash_token(token)).update(firm_id=firm_b.firm.id)
    assert await sign_in(portal_http, token) == REFUSED


async def test_me_answers_the_signed_in_contact(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    household = await Client.create(firm_id=firm_a.firm.id, name="The Smiths")
    ann = await contact(firm_a, "ann@smith.test", name="Ann Smith", client=household)
    bob = await contact(firm_a, "bob@smith.test", name="Bob Smith", client=household)
    other = await contact(firm_a, "other@client.test", name="Olga Other")
    for person in (ann, bob, other):
        token = await signed_in(portal_http, person)
        client = await Client.get(id=person.client_id)
        assert (await data(portal_http, ME, token))["me"] == {
            "id": global_id("Contact", person.id),
            "name": person.name,
            "email": person.email,
            "client": {"id": global_id("Client", client.id), "name": client.name},
        }


async def test_without_a_session_only_the_sign_in_fields_answer(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    for query in (ME, "{ __schema { types { name } } }", "{ me { id } __typename }"):
        response = await post(portal_http, query)
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await data(portal_http, "{ __typename }")) == {"__typename": "Query"}
    for token in ("wfp_" + secrets.token_urlsafe(32), "nonsense", ""):
        response = await post(portal_http, ME, token or None)
        if token:
            assert response.status_code == 401
            assert "sign in again" in response.json()["errors"][0]["message"]


async def test_before_sign_in_a_document_is_as_small_as_sign_in_needs(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """Anyone may post to the portal: a document is parsed and validated before any budget is
    charged, so an unauthenticated one may hold only the tokens a sign-in needs (a document
    of the staff endpoint's 3,000 tokens takes ~25 ms of the event loop, for nothing)."""
    person = await contact(firm_a, "big@client.test")
    padding = " ".join(["__typename"] * ANONYMOUS_MAX_TOKENS)
    big = (
        "mutation RequestLink($email: String!) "
        f"{{ requestPortalLink(input: {{email: $email}}) {{ message {padding} }} }}"
    )
    response = await post(portal_http, big, email=person.email)
    await portal_auth.settle()
    (error,) = response.json()["errors"]
    assert f"more than {ANONYMOUS_MAX_TOKENS} tokens" in error["message"], error
    assert await Email.filter(kind=EmailKind.PORTAL_LINK).count() == 0
    # what the sign-in flow sends fits; signed in, the staff endpoint's limit applies
    token = await signed_in(portal_http, person)
    padded_me = f"query Me {{ me {{ id {padding} }} }}"
    assert (await data(portal_http, padded_me, token))["me"]["id"]


async def test_a_session_lasts_30_days(portal_http: httpx.AsyncClient, firm_a: NewFirm) -> None:
    person = await contact(firm_a, "month@client.test")
    with clock.frozen(datetime.now(UTC)):
        token = await signed_in(portal_http, person)
        clock.advance(timedelta(days=30) - timedelta(minutes=1))
        assert (await data(portal_http, ME, token))["me"]["email"] == "month@client.test"
        clock.advance(timedelta(minutes=2))
        response = await post(portal_http, ME, token)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_last_used_is_refreshed_at_most_once_a_minute(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    person = await contact(firm_a, "used@client.test")
    with clock.frozen(datetime.now(UTC).replace(microsecond=0)):
        token = await signed_in(portal_http, person)
        first = clock.now()
        await data(portal_http, ME, token)
        clock.advance(timedelta(seconds=50))
        await data(portal_http, ME, token)
        assert (await PortalSession.get(contact_id=person.id)).last_used_at == first
        clock.advance(timedelta(seconds=20))
        await data(portal_http, ME, token)
        assert (await PortalSession.get(contact_id=person.id)).last_used_at == clock.now()


async def test_removing_portal_access_ends_the_sessions(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    person = await contact(firm_a, "gone@client.test")
    token = await signed_in(portal_http, person)
    await Contact.filter(id=person.id).update(portal_access=False)
    assert (await post(portal_http, ME, token)).status_code == 401
    await Contact.filter(id=person.id).update(portal_access=True)  # and back: it works again
    assert (await data(portal_http, ME, token))["me"]["email"] == "gone@client.test"


async def test_each_endpoint_refuses_the_other_s_token(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    person = await contact(firm_a, "two@client.test")
    portal_token = await signed_in(portal_http, person)
    response = await post(portal_http, "{ __typename }", firm_a.token)
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["message"].startswith("a staff API token does not work at /portal/graphql")
    # Even for the fields that need no token: a token sent must be a portal one.
    response = await post(portal_http, REQUEST_LINK, firm_a.token, email="two@client.test")
    assert response.status_code == 401

    response = await post(portal_http, "{ __typename }", portal_token, path="/graphql")
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "works only at /portal/graphql" in error["message"]


async def test_link_requests_are_limited_per_address_alike_for_known_and_unknown(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    await contact(firm_a, "often@client.test")
    answers: dict[str, list[Any]] = {}
    for address in ("often@client.test", "never@client.test"):
        answers[address] = [
            shown(await request_link(portal_http, address)) for _ in range(LINKS_PER_ADDRESS + 1)
        ]
    known, unknown = answers.values()
    assert known == unknown
    assert [status for status, _, _ in known] == [200] * LINKS_PER_ADDRESS + [429]
    status, headers, body = known[-1]
    assert headers["retry-after"] == "S"  # a number of seconds (shown)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert await Email.filter(to_address="often@client.test").count() == LINKS_PER_ADDRESS
    # The case of an address does not make it another one.
    response = await request_link(portal_http, "OFTEN@client.test")
    assert response.status_code == 429


async def test_link_requests_are_limited_per_client_address(
    app: RequestLog, portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    for n in range(LINKS_PER_IP):
        response = await post(portal_http, REQUEST_LINK, email=f"n{n}@client.test")
        assert response.status_code == 200, response.text
    response = await post(portal_http, REQUEST_LINK, email="one-more@client.test")
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    # Another client's address is not held back (the limiter is the app's).
    async with client_of(app) as elsewhere:
        response = await post(elsewhere, REQUEST_LINK, email="one-more@client.test")
    assert response.status_code == 200


async def test_the_answer_takes_as_long_for_known_and_unknown_addresses(
    portal_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """The lookup and the writes happen after the answer: the answer's time does not depend
    on the address. Requests in pairs, a known address and an unknown one, in alternating
    order (each address asked once, within the client address's limit); the median of the
    pairs' differences, so a stall of the machine during one pair does not decide it."""
    rounds = LINKS_PER_IP // 2
    for n in range(rounds):
        await contact(firm_a, f"timed{n}@client.test")
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for n in range(rounds):
        pair = [("known", f"timed{n}@client.test"), ("unknown", f"x{n}@none.test")]
        for kind, address in pair if n % 2 == 0 else reversed(pair):
            started = time.perf_counter()
            response = await post(portal_http, REQUEST_LINK, email=address)
            times[kind].append(time.perf_counter() - started)
            assert response.status_code == 200
            await portal_auth.settle()  # each request starts from an idle loop
    known, unknown = (statistics.median(times[k]) * 1000 for k in ("known", "unknown"))
    pairs = zip(times["known"], times["unknown"], strict=True)
    difference = statistics.median([k - u for k, u in pairs])
    print(
        f"requestPortalLink median answer: known {known:.2f} ms, unknown {unknown:.2f} ms, "
        f"median difference {difference * 1000:.2f} ms"
    )
    assert abs(difference) * 1000 < max(2.0, 0.5 * min(known, unknown)), (known, unknown)
    assert await Email.filter(kind=EmailKind.PORTAL_LINK).count() == rounds


REVOKE = """mutation Revoke($id: ID!) {
  revokePortalSessions(input: {contactId: $id}) {
    contact { id email portalAccess } errors { code message field }
  }
}"""


async def test_staff_end_a_contact_s_sessions(
    portal_http: httpx.AsyncClient, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    person = await contact(firm_a, "ended@client.test")
    bystander = await contact(firm_a, "stays@client.test")
    phone, laptop = await signed_in(portal_http, person), await signed_in(portal_http, person)
    kept = await signed_in(portal_http, bystander)
    staff = graphql_client(portal_http, firm_a.token)
    answer = (await staff(REVOKE, id=global_id("Contact", person.id)))["revokePortalSessions"]
    assert answer == {
        "contact": {
            "id": global_id("Contact", person.id),
            "email": "ended@client.test",
            "portalAccess": True,
        },
        "errors": [],
    }
    for token in (phone, laptop):
        response = await post(portal_http, ME, token)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await data(portal_http, ME, kept))["me"]["email"] == "stays@client.test"
    # Portal access kept: a new link signs in again.
    again = await signed_in(portal_http, person)
    assert (await data(portal_http, ME, again))["me"]["email"] == "ended@client.test"


UPDATE_EMAIL = """mutation Update($id: ID!, $email: String!) {
  updateContact(input: {id: $id, email: $email}) { errors { code } }
}"""


@pytest.mark.parametrize("how", ["revokePortalSessions", "a new email address"])
async def test_links_mailed_before_staff_shut_a_contact_out_no_longer_sign_in(
    portal_http: httpx.AsyncClient, firm_a: NewFirm, how: str
) -> None:
    person = await contact(firm_a, "moved@client.test")
    await request_link(portal_http, person.email)
    mailed = await link_token(person)
    staff = graphql_client(portal_http, firm_a.token)
    contact_id = global_id("Contact", person.id)
    if how == "revokePortalSessions":
        assert (await staff(REVOKE, id=contact_id))["revokePortalSessions"]["errors"] == []
    else:
        answer = await staff(UPDATE_EMAIL, id=contact_id, email="new@client.test")
        assert answer["updateContact"]["errors"] == []
    assert await sign_in(portal_http, mailed) == REFUSED
    assert await PortalSession.filter(contact_id=person.id).count() == 0


@pytest.mark.postgres_only
async def test_a_link_asked_for_the_old_address_while_it_changes_is_not_sent(
    firm_a: NewFirm,
) -> None:
    """The request looks the address up, then writes in a change of its own: an update of the
    address (which spends the contact's links) committing in between must not leave a live
    link mailed to the old address."""
    person = await contact(firm_a, "old@client.test")
    scope = Scope(firm_a.firm.id, None)
    holding, go_on = asyncio.Event(), asyncio.Event()

    async def change_the_address() -> None:  # as contacts.update_contact does
        async with unit.change(scope):
            moved = await scope.get(Contact, person.id, lock=True)
            moved.email = "new@client.test"
            await moved.save(update_fields=["email"])
            await contacts.revoke_sessions(moved)
            holding.set()
            await go_on.wait()

    changing = asyncio.create_task(change_the_address())
    async with asyncio.timeout(10):  # a failed change would never set it
        await asyncio.wait(
            [changing, asyncio.create_task(holding.wait())], return_when=asyncio.FIRST_COMPLETED
        )
    assert holding.is_set(), changing
    portal_auth.request_portal_link("old@client.test", "http://portal.test")
    deadline = time.monotonic() + 10
    while not await sql.fetch('SELECT 1 FROM "pg_locks" WHERE NOT "granted"', []):
        assert time.monotonic() < deadline, "the link request never waited for the contact"
        await asyncio.sleep(0.01)
    go_on.set()
    await changing
    await portal_auth.settle()
    live = PortalLink.filter(contact_id=person.id, used_at__isnull=True, expires_at__gt=clock.now())
    assert await live.count() == 0
    assert await Email.filter(to_address="old@client.test").count() == 0


async def test_another_firm_s_contact_is_a_missing_one_to_revoke(
    portal_http: httpx.AsyncClient, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    theirs = await contact(firm_b, "theirs@client.test")
    token = await signed_in(portal_http, theirs)
    staff = graphql_client(portal_http, firm_a.token)
    before = await portal_state()
    answers = [
        (await staff(REVOKE, id=global_id("Contact", pk)))["revokePortalSessions"]
        for pk in (theirs.id, 2**31 - 1)
    ]
    assert (
        answers[0]
        == answers[1]
        == {
            "contact": None,
            "errors": [{"code": "NOT_FOUND", "message": "Contact not found", "field": "contactId"}],
        }
    )
    assert await portal_state() == before
    assert (await data(portal_http, ME, token))["me"]["email"] == "theirs@client.test"
    wrong_type = await staff(REVOKE, id=global_id("Client", theirs.client_id))
    assert wrong_type["revokePortalSessions"]["errors"][0]["code"] == "INVALID_ID"
