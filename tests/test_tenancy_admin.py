"""Tenancy of the firm's administration: firm B's API tokens, webhook endpoints, deliveries and
users are, to firm A's owner, exactly like ids that do not exist, wherever an id is taken (node,
nodes, aliases, every mutation) and in every list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models import ApiToken, User, WebhookDelivery, WebhookEndpoint
from tests.factories import board, client, gid, job, scope_of
from tests.test_access import post, snapshot
from workflow import webhooks
from workflow.firms import NewFirm

MISSING = 999_999
URL = "http://127.0.0.1:9/x"


@dataclass
class Admin:
    """Global ids of each firm's administrative objects."""

    a_pipeline: str
    a_stage: str
    a_endpoint: str
    a_delivery: str
    a_token: str
    a_user: str
    b_pipeline: str
    b_stage: str
    b_endpoint: str
    b_delivery: str
    b_token: str
    b_user: str

    def b_ids(self) -> dict[str, str]:
        return {
            "ApiToken": self.b_token,
            "WebhookEndpoint": self.b_endpoint,
            "WebhookDelivery": self.b_delivery,
            "User": self.b_user,
            "Pipeline": self.b_pipeline,
        }


async def _firm(firm: NewFirm, email: str) -> tuple[str, ...]:
    """A pipeline, an endpoint with one delivery, the owner's token and a staff user."""
    pipeline, stages = await board(firm)
    endpoint = await webhooks.create_endpoint(scope_of(firm), URL, ["JOB_CREATED"], pipeline.id)
    await job(firm, pipeline, await client(firm))
    delivery = await WebhookDelivery.get(endpoint_id=endpoint.id)
    token = await ApiToken.get(user_id=firm.owner.id)
    staff = await User.create(firm_id=firm.firm.id, email=email, name=email.split("@")[0])
    return (
        gid("Pipeline", pipeline.id),
        gid("Stage", stages[-1].id),
        gid("WebhookEndpoint", endpoint.id),
        gid("WebhookDelivery", delivery.id),
        gid("ApiToken", token.id),
        gid("User", staff.id),
    )


@pytest.fixture
async def ids(firm_a: NewFirm, firm_b: NewFirm) -> Admin:
    return Admin(*await _firm(firm_a, "pat@a.test"), *await _firm(firm_b, "quinn@b.test"))


def missing(type_name: str) -> str:
    return gid(type_name, MISSING)


ADMIN_TYPES = ("ApiToken", "WebhookEndpoint", "WebhookDelivery", "User")


async def test_firm_a_sees_its_own_administration(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Admin
) -> None:
    """The control for this file: A's own ids are found with the same queries."""
    own = [ids.a_token, ids.a_endpoint, ids.a_delivery, ids.a_user]
    body = await post(
        http, firm_a.token, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=own
    )
    assert body == {"data": {"nodes": [{"id": i} for i in own]}}


async def test_node_of_firm_bs_admin_ids_is_null_like_a_made_up_id(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Admin
) -> None:
    query = """query($id: ID!) { node(id: $id) { __typename id
        ... on ApiToken { name scopes } ... on WebhookEndpoint { url secret }
        ... on WebhookDelivery { payload } ... on User { email } } }"""
    for type_name in ADMIN_TYPES:
        theirs = await post(http, firm_a.token, query, id=ids.b_ids()[type_name])
        made_up = await post(http, firm_a.token, query, id=missing(type_name))
        assert theirs == made_up == {"data": {"node": None}}, type_name


async def test_nodes_and_aliases_of_firm_bs_admin_ids_are_null(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Admin
) -> None:
    theirs = [ids.b_ids()[t] for t in ADMIN_TYPES]
    body = await post(
        http,
        firm_a.token,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        ids=[*theirs, ids.a_endpoint],
    )
    assert body == {"data": {"nodes": [None] * len(theirs) + [{"id": ids.a_endpoint}]}}
    aliases = " ".join(f'{"abcd"[n]}: node(id: "{i}") {{ id }}' for n, i in enumerate(theirs))
    body = await post(
        http, firm_a.token, "{ " + aliases + f' mine: node(id: "{ids.a_token}") {{ id }} }}'
    )
    assert body == {
        "data": {"a": None, "b": None, "c": None, "d": None, "mine": {"id": ids.a_token}}
    }


async def test_lists_never_show_firm_bs_admin_objects(
    http: httpx.AsyncClient, firm_a: NewFirm, firm_b: NewFirm, ids: Admin
) -> None:
    body = await post(
        http,
        firm_a.token,
        """{ apiTokens { id } users { id }
        webhookEndpoints { id pipelineId deliveries { totalCount edges { node { id } } } } }""",
    )
    data = body["data"]
    assert data["apiTokens"] == [{"id": ids.a_token}]
    assert {u["id"] for u in data["users"]} == {ids.a_user, gid("User", firm_a.owner.id)}
    assert data["webhookEndpoints"] == [
        {
            "id": ids.a_endpoint,
            "pipelineId": ids.a_pipeline,
            "deliveries": {"totalCount": 1, "edges": [{"node": {"id": ids.a_delivery}}]},
        }
    ]
    # B's lists are B's own, so A's lists above did have something to leave out
    theirs = await post(http, firm_b.token, "{ apiTokens { id } webhookEndpoints { id } }")
    assert theirs["data"] == {
        "apiTokens": [{"id": ids.b_token}],
        "webhookEndpoints": [{"id": ids.b_endpoint}],
    }


# (mutation, type of B's id, payload fields, input given that id)
Input = Callable[[Admin, str], dict[str, Any]]
FOREIGN: list[tuple[str, str, str, Input]] = [
    ("revokeApiToken", "ApiToken", "apiToken { id revokedAt }", lambda a, i: {"id": i}),
    (
        "updateWebhookEndpoint",
        "WebhookEndpoint",
        "webhookEndpoint { id }",
        lambda a, i: {"id": i, "description": "mine now", "enabled": False, "rotateSecret": True},
    ),
    ("deleteWebhookEndpoint", "WebhookEndpoint", "deletedId", lambda a, i: {"id": i}),
    (
        "redeliverWebhook",
        "WebhookDelivery",
        "webhookDelivery { id status }",
        lambda a, i: {"deliveryId": i},
    ),
    ("updateUser", "User", "user { id }", lambda a, i: {"id": i, "name": "Hijacked"}),
    ("updateUser", "User", "user { id }", lambda a, i: {"id": i, "role": "ADMIN"}),
    ("deactivateUser", "User", "user { id }", lambda a, i: {"id": i}),
    (
        "createWebhookEndpoint",
        "Pipeline",
        "webhookEndpoint { id }",
        lambda a, i: {"url": URL, "pipelineId": i},
    ),
    (
        "updateWebhookEndpoint",
        "Pipeline",
        "webhookEndpoint { id }",
        lambda a, i: {"id": a.a_endpoint, "pipelineId": i},
    ),
    (
        "createAutomation",
        "WebhookEndpoint",
        "automation { id }",
        lambda a, i: {
            "stageId": a.a_stage,
            "action": "CALL_WEBHOOK",
            "settings": {"endpointId": i},
        },
    ),
]
INPUT_TYPES = {
    "revokeApiToken": "RevokeApiTokenInput",
    "updateWebhookEndpoint": "UpdateWebhookEndpointInput",
    "deleteWebhookEndpoint": "DeleteWebhookEndpointInput",
    "redeliverWebhook": "RedeliverWebhookInput",
    "updateUser": "UpdateUserInput",
    "deactivateUser": "DeactivateUserInput",
    "createWebhookEndpoint": "CreateWebhookEndpointInput",
    "createAutomation": "CreateAutomationInput",
}


@pytest.mark.parametrize(
    ("op", "type_name", "fields", "make"), FOREIGN, ids=[f"{op} {t}" for op, t, _, _ in FOREIGN]
)
async def test_a_mutation_with_firm_bs_id_is_not_found_like_a_made_up_one(
    http: httpx.AsyncClient,
    firm_a: NewFirm,
    firm_b: NewFirm,
    ids: Admin,
    op: str,
    type_name: str,
    fields: str,
    make: Input,
) -> None:
    document = (
        f"mutation($input: {INPUT_TYPES[op]}!) {{ {op}(input: $input) "
        f"{{ errors {{ code message field }} {fields} }} }}"
    )
    before = await snapshot()
    theirs = await post(http, firm_a.token, document, input=make(ids, ids.b_ids()[type_name]))
    made_up = await post(http, firm_a.token, document, input=make(ids, missing(type_name)))
    assert await snapshot() == before
    assert made_up["data"][op]["errors"][0]["code"] == "NOT_FOUND", made_up
    assert theirs == made_up
    still = await post(http, firm_b.token, "{ viewer { id } webhookEndpoints { id enabled } }")
    assert still["data"]["webhookEndpoints"] == [{"id": ids.b_endpoint, "enabled": True}]


async def test_an_email_used_in_firm_b_can_be_invited_in_firm_a(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Admin
) -> None:
    """Emails are unique per firm: B's users are not revealed by a refusal."""
    invite = """mutation($email: String!) { inviteUser(input: {email: $email}) {
        user { email } errors { code } } }"""
    body = await post(http, firm_a.token, invite, email="quinn@b.test")
    assert body["data"]["inviteUser"] == {"user": {"email": "quinn@b.test"}, "errors": []}
    again = await post(http, firm_a.token, invite, email="quinn@b.test")
    assert again["data"]["inviteUser"]["errors"] == [{"code": "INVALID_INPUT"}]
    assert await User.filter(email="quinn@b.test").count() == 2


async def test_firm_bs_endpoints_and_deliveries_are_untouched_by_firm_as_changes(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Admin
) -> None:
    """A's jobs make deliveries for A's endpoints only."""
    b_endpoint = await WebhookEndpoint.get(url=URL, firm_id__not=firm_a.firm.id)
    before = await WebhookDelivery.filter(endpoint_id=b_endpoint.id).count()
    create = """mutation($p: ID!, $c: ID!) { createJob(input: {pipelineId: $p, clientId: $c,
        title: "more"}) { errors { code } } }"""
    a_client = await post(http, firm_a.token, "{ clients { edges { node { id } } } }")
    client_id = a_client["data"]["clients"]["edges"][0]["node"]["id"]
    body = await post(http, firm_a.token, create, p=ids.a_pipeline, c=client_id)
    assert body["data"]["createJob"]["errors"] == []
    assert await WebhookDelivery.filter(endpoint_id=b_endpoint.id).count() == before
    assert await WebhookDelivery.filter(firm_id=firm_a.firm.id).count() == 2
