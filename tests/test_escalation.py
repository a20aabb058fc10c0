"""Privilege escalation (issue 12, defects 7 and 8): a token never obtains or reads more than
its own rights, and only owners manage owners' tokens.

Every caller, a user of each role (OWNER, ADMIN, STAFF) calling with a token of each non-empty
set of scopes, calls every mutation that hands out a token, and every path that reaches board
data through the administration's types (webhook deliveries carry job snapshots; a webhook
endpoint receives them). The rights of each token obtained are probed through the API (a READ
query, a WRITE mutation, an ADMIN query), and the expectations are the rule itself, never
workflow.access: a caller's rights are its scopes capped by its role, and whatever it obtains
or reads stays within them. Owners' tokens are revoked by owners only, so no admin can lock the
owners out (the recovery command for when they are: tests/test_issue_token.py).
"""

from __future__ import annotations

from itertools import combinations

import httpx
import pytest

from models import ApiToken, Role, User
from tests.factories import gid
from tests.test_access import (
    ADMIN,
    CREATE_TOKEN,
    DEACTIVATE,
    INVITE,
    READ,
    ROLE_GRANTS,
    UPDATE_USER,
    URL,
    VIEWER,
    WRITE,
    Caller,
    forbidden,
    no_forbidden,
    post,
    refused_with,
    small_world,
    snapshot,
    token_for,
)
from workflow.firms import NewFirm, issue_token

SCOPE_SETS = [
    frozenset(chosen) for size in (1, 2, 3) for chosen in combinations((READ, WRITE, ADMIN), size)
]
ROLES = ("OWNER", "ADMIN", "STAFF")
CALLERS = [Caller(role, scopes) for role in ROLES for scopes in SCOPE_SETS]

# One operation per right: answered when the token has it, refused FORBIDDEN when it does not.
PROBES = {
    READ: VIEWER,
    WRITE: 'mutation { createClient(input: {name: "Probe"}) { errors { code } } }',
    ADMIN: "{ apiTokens { id } }",
}


async def rights(http: httpx.AsyncClient, secret: str) -> frozenset[str]:
    """What a token can do, found by trying."""
    found: set[str] = set()
    for right, document in PROBES.items():
        body = await post(http, secret, document)
        if no_forbidden(body):
            found.add(right)
        else:
            assert forbidden(body), body
    return frozenset(found)


# ------------------------------------------------------------------------ obtaining tokens


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_a_created_token_never_has_more_rights_than_its_creator(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    token = await token_for(firm_a, caller)
    wrong: list[str] = []
    for wanted in SCOPE_SETS:
        before = await snapshot()
        body = await post(http, token, CREATE_TOKEN, scopes=sorted(wanted))
        allowed = ADMIN in caller.has and wanted <= caller.has
        if allowed:
            answer = body["data"]["createApiToken"]
            got = await rights(http, answer["secret"]) if answer["secret"] else None
            if answer["errors"] != [] or got != wanted:
                wrong.append(f"{sorted(wanted)}: should give exactly them, got {body}, {got}")
            continue
        refused = (
            forbidden(body)
            if ADMIN not in caller.has
            else refused_with(body["data"]["createApiToken"], "FORBIDDEN")
        )
        if not refused or await snapshot() != before:
            wrong.append(f"{sorted(wanted)}: should be refused, unchanged; got {body}")
    assert wrong == []


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_an_invitation_token_has_the_roles_rights_the_inviter_has_and_no_more(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    """The newcomer's first token: their role's rights that the inviting token also has. An
    invitation that would leave it none is refused (FORBIDDEN), and so is a non-owner inviting
    an owner; a refusal changes nothing."""
    token = await token_for(firm_a, caller)
    wrong: list[str] = []
    for role in ROLES:
        before = await snapshot()
        body = await post(http, token, INVITE, email=f"{role.lower()}@new.test", role=role)
        expected = ROLE_GRANTS[role] & caller.has
        if ADMIN not in caller.has:
            if not forbidden(body) or await snapshot() != before:
                wrong.append(f"{role}: should be FORBIDDEN, got {body}")
            continue
        answer = body["data"]["inviteUser"]
        if (role == "OWNER" and caller.role != "OWNER") or not expected:
            if not refused_with(answer, "FORBIDDEN") or answer["token"] is not None:
                wrong.append(f"{role}: should be refused, got {answer}")
            elif await snapshot() != before:
                wrong.append(f"{role}: refused but changed the database")
            continue
        got = await rights(http, answer["token"]) if answer["token"] else None
        if answer["errors"] != [] or got != expected:
            wrong.append(f"{role}: token should have {sorted(expected)}, got {answer}, {got}")
    assert wrong == []


async def test_an_admin_only_token_cannot_read_through_an_invited_users_token(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """The audit's case: ADMIN alone cannot make a READ/WRITE token, nor get one by invitation."""
    token = await token_for(firm_a, Caller("OWNER", frozenset({ADMIN})))
    made = (await post(http, token, CREATE_TOKEN, scopes=[READ, WRITE]))["data"]
    assert refused_with(made["createApiToken"], "FORBIDDEN")
    staff = (await post(http, token, INVITE, email="mole@a.test", role="STAFF"))["data"]
    assert refused_with(staff["inviteUser"], "FORBIDDEN"), staff
    assert staff["inviteUser"]["errors"][0]["field"] == "role"
    assert not await User.filter(email="mole@a.test").exists()
    admin = (await post(http, token, INVITE, email="mole2@a.test", role="ADMIN"))["data"]
    assert admin["inviteUser"]["errors"] == [], admin
    assert await rights(http, admin["inviteUser"]["token"]) == {ADMIN}
    stored = await ApiToken.get(user__email="mole2@a.test")
    assert stored.scopes == [ADMIN]  # what apiTokens shows is what it can do


# -------------------------------------------------------------- reading through admin types

DELIVERY_PAYLOADS = "{ webhookEndpoints { deliveries { edges { node { payload } } } } }"
DELIVERY_LOG = """{ webhookEndpoints { id url eventTypes enabled consecutiveFailures
    deliveries { edges { node { id messageId eventType status attempts lastStatusCode
    lastError createdAt } } } } }"""
DELIVERY_BY_NODE = "query($id: ID!) { node(id: $id) { ... on WebhookDelivery { payload } } }"
REDELIVER = """mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) {
    webhookDelivery { %s } errors { code } } }"""
CREATE_ENDPOINT = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) {
    webhookEndpoint { id } errors { code } } }"""
UPDATE_ENDPOINT = """mutation($id: ID!, $url: String!) { updateWebhookEndpoint(input: {id: $id,
    url: $url}) { webhookEndpoint { id } errors { code } } }"""
DELETE_ENDPOINT = """mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) {
    deletedId errors { code } } }"""


def payloads(body: dict) -> list[dict]:
    return [
        edge["node"]["payload"]
        for endpoint in body["data"]["webhookEndpoints"]
        for edge in endpoint["deliveries"]["edges"]
    ]


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_board_data_in_admin_types_needs_read_too(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    """Delivery payloads (job snapshots) need READ beside ADMIN, wherever they are reached;
    the rest of the delivery log is the administration's and needs ADMIN alone. A refused
    operation changes nothing."""
    world = await small_world(firm_a)
    token = await token_for(firm_a, caller)
    reads = {READ, ADMIN} <= caller.has

    body = await post(http, token, DELIVERY_PAYLOADS)
    if reads:
        assert "errors" not in body and any(
            p["data"]["job"]["title"] == "hooked" for p in payloads(body)
        ), body
    else:
        assert forbidden(body), body

    body = await post(http, token, DELIVERY_LOG)
    if ADMIN in caller.has:
        assert "errors" not in body and len(body["data"]["webhookEndpoints"]) == 2, body
    else:
        assert forbidden(body), body

    body = await post(http, token, DELIVERY_BY_NODE, id=world["delivery"])
    if reads:
        assert body["data"]["node"]["payload"]["data"]["job"]["title"] == "hooked", body
    elif READ in caller.has:  # an admin type without ADMIN: like an id that does not exist
        assert body == {"data": {"node": None}}, body
    else:
        assert forbidden(body), body

    before = await snapshot()
    body = await post(http, token, REDELIVER % "payload", id=world["delivery"])
    if reads:
        answer = body["data"]["redeliverWebhook"]
        assert answer["errors"] == [] and answer["webhookDelivery"]["payload"]["data"]["job"], body
    else:
        assert forbidden(body), body
        assert await snapshot() == before
    body = await post(http, token, REDELIVER % "id status", id=world["delivery"])
    if ADMIN in caller.has:
        assert body["data"]["redeliverWebhook"]["errors"] == [], body
    else:
        assert forbidden(body), body


@pytest.mark.parametrize("caller", CALLERS, ids=str)
async def test_pointing_a_webhook_somewhere_needs_read_too(
    http: httpx.AsyncClient, firm_a: NewFirm, caller: Caller
) -> None:
    """An endpoint receives the board's events: choosing where they go is reading them, so it
    needs READ beside ADMIN. Removing an endpoint needs ADMIN alone."""
    world = await small_world(firm_a)
    token = await token_for(firm_a, caller)
    reads = {READ, ADMIN} <= caller.has
    for document, variables in (
        (CREATE_ENDPOINT, {"url": URL}),
        (UPDATE_ENDPOINT, {"id": world["endpoint update"], "url": URL + "/elsewhere"}),
    ):
        before = await snapshot()
        body = await post(http, token, document, **variables)
        if reads:
            assert no_forbidden(body), body
            assert next(iter(body["data"].values()))["errors"] == [], body
        else:
            assert forbidden(body), body
            assert await snapshot() == before
    body = await post(http, token, DELETE_ENDPOINT, id=world["endpoint update"])
    if ADMIN in caller.has:
        assert body["data"]["deleteWebhookEndpoint"]["errors"] == [], body
    else:
        assert forbidden(body), body


# ------------------------------------------------------------------- owners' tokens (8)

REVOKE = """mutation($id: ID!) { revokeApiToken(input: {id: $id}) { apiToken { id revokedAt }
    errors { code field message } } }"""
OWNER_ONLY = "only an owner may revoke an owner's token"


async def user_with_token(firm: NewFirm, role: Role, email: str) -> tuple[User, ApiToken, str]:
    user = await User.create(firm_id=firm.firm.id, email=email, name=email, role=role)
    token, secret = await issue_token(user, f"{role.lower()} token")
    return user, token, secret


async def test_only_an_owner_may_revoke_an_owners_token(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """An admin revoking any owner's token: FORBIDDEN naming the rule, nothing changed; the
    admin's own, another admin's and staff's tokens it may revoke; an owner may revoke any."""
    owner_token = await ApiToken.get(user_id=firm_a.owner.id)
    _, second_owner_token, _ = await user_with_token(firm_a, Role.OWNER, "o2@a.test")
    admin, admin_token, admin_secret = await user_with_token(firm_a, Role.ADMIN, "adm@a.test")
    spare, _ = await issue_token(admin, "spare")
    _, other_admin_token, _ = await user_with_token(firm_a, Role.ADMIN, "adm2@a.test")
    _, staff_token, _ = await user_with_token(firm_a, Role.STAFF, "staff@a.test")

    before = await snapshot()
    for target in (owner_token, second_owner_token):
        answer = (await post(http, admin_secret, REVOKE, id=gid("ApiToken", target.id)))["data"]
        assert refused_with(answer["revokeApiToken"], "FORBIDDEN"), answer
        assert answer["revokeApiToken"]["errors"][0]["field"] == "id"
        assert answer["revokeApiToken"]["errors"][0]["message"] == OWNER_ONLY
    assert await snapshot() == before
    assert (await post(http, firm_a.token, VIEWER))["data"]["viewer"]["role"] == "OWNER"

    for target in (spare, other_admin_token, staff_token, admin_token):  # its own token last
        answer = (await post(http, admin_secret, REVOKE, id=gid("ApiToken", target.id)))["data"]
        assert answer["revokeApiToken"]["errors"] == [], answer
        assert answer["revokeApiToken"]["apiToken"]["revokedAt"], answer
    for target in (second_owner_token, owner_token):  # an owner's own, and another owner's
        answer = (await post(http, firm_a.token, REVOKE, id=gid("ApiToken", target.id)))["data"]
        assert answer["revokeApiToken"]["errors"] == [], answer
    assert not await ApiToken.filter(revoked_at__isnull=True).exists()


async def test_an_admin_cannot_lock_the_owners_out(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """The audit's attack, and every other way an admin could touch an owner's access:
    revoking every token it can list, demoting and deactivating the owner."""
    await issue_token(firm_a.owner, "laptop")
    _, _, admin = await user_with_token(firm_a, Role.ADMIN, "adm@a.test")
    listed = (await post(http, admin, "{ apiTokens { id userId } }"))["data"]["apiTokens"]
    owner_id = gid("User", firm_a.owner.id)
    assert sum(token["userId"] == owner_id for token in listed) == 2  # it sees them
    for token in listed:
        if token["userId"] == owner_id:
            answer = (await post(http, admin, REVOKE, id=token["id"]))["data"]["revokeApiToken"]
            assert refused_with(answer, "FORBIDDEN"), answer
    for role in ("ADMIN", "STAFF"):
        answer = await post(http, admin, UPDATE_USER, input={"id": owner_id, "role": role})
        assert refused_with(answer["data"]["updateUser"], "FORBIDDEN"), answer
    answer = await post(http, admin, DEACTIVATE, id=owner_id)
    assert refused_with(answer["data"]["deactivateUser"], "FORBIDDEN"), answer
    assert await ApiToken.filter(user_id=firm_a.owner.id, revoked_at__isnull=True).count() == 2
    assert (await post(http, firm_a.token, VIEWER))["data"]["viewer"] == {
        "id": owner_id,
        "role": "OWNER",
    }
