"""Webhook secrets are shown once and URLs are never logged with their credentials (issue 12,
defect 15), and a firm has at most MAX_ENDPOINTS_PER_FIRM endpoints (defect 6)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from docs.examples.verify_webhook import verify
from models import IdempotentRequest, WebhookDelivery, WebhookEndpoint
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from tests.receiver import Receiver
from webhooks import sender
from workflow import webhooks
from workflow.errors import DomainError
from workflow.firms import NewFirm

CREATE = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) {
  webhookEndpoint { id secret secretHint } secret errors { code field message } } }"""
UPDATE = """mutation($id: ID!, $rotate: Boolean!) { updateWebhookEndpoint(input: {id: $id,
  description: "changed", rotateSecret: $rotate}) {
  webhookEndpoint { secret secretHint } secret errors { code } } }"""
ENDPOINTS = "{ webhookEndpoints { id secret secretHint } }"
DEPRECATED = """{ __type(name: "WebhookEndpoint") { fields(includeDeprecated: true) {
  name isDeprecated deprecationReason } } }"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


async def test_a_secret_is_shown_once_when_made_and_once_when_rotated(
    gql: GraphQL, firm_a: NewFirm, receiver: Receiver
) -> None:
    created = (await gql(CREATE, url=receiver.url))["createWebhookEndpoint"]
    secret = created["secret"]
    assert created["errors"] == [] and secret.startswith("whsec_")
    assert created["webhookEndpoint"]["secret"] is None
    assert created["webhookEndpoint"]["secretHint"] == secret[-4:]
    endpoint_id = created["webhookEndpoint"]["id"]
    [listed] = (await gql(ENDPOINTS))["webhookEndpoints"]
    assert listed == {"id": endpoint_id, "secret": None, "secretHint": secret[-4:]}

    kept = (await gql(UPDATE, id=endpoint_id, rotate=False))["updateWebhookEndpoint"]
    assert kept["errors"] == [] and kept["secret"] is None
    assert kept["webhookEndpoint"] == {"secret": None, "secretHint": secret[-4:]}
    rotated = (await gql(UPDATE, id=endpoint_id, rotate=True))["updateWebhookEndpoint"]
    new_secret = rotated["secret"]
    assert rotated["errors"] == [] and new_secret.startswith("whsec_") and new_secret != secret
    assert rotated["webhookEndpoint"] == {"secret": None, "secretHint": new_secret[-4:]}
    [listed] = (await gql(ENDPOINTS))["webhookEndpoints"]
    assert listed["secret"] is None and listed["secretHint"] == new_secret[-4:]

    # The secret shown is the one deliveries are signed with.
    pipeline, _ = await board(firm_a)
    await job(firm_a, pipeline, await client(firm_a))
    async with sender.Sender((60,)).client as http_client:
        assert await sender.send_due(http_client, (60,)) == 1
    [message] = receiver.messages()
    assert verify(new_secret, message.headers, message.body, time.time())
    assert not verify(secret, message.headers, message.body, time.time())


async def test_the_old_secret_field_is_deprecated_and_says_where_the_secret_is(
    gql: GraphQL,
) -> None:
    fields = {f["name"]: f for f in (await gql(DEPRECATED))["__type"]["fields"]}
    assert fields["secret"]["isDeprecated"]
    assert "createWebhookEndpoint" in fields["secret"]["deprecationReason"]
    assert not fields["secretHint"]["isDeprecated"]


async def test_the_secret_is_stored_sealed(gql: GraphQL, receiver: Receiver) -> None:
    secret = (await gql(CREATE, url=receiver.url))["createWebhookEndpoint"]["secret"]
    [stored] = await WebhookEndpoint.all()
    assert secret not in stored.encrypted_secret
    assert secret.removeprefix("whsec_") not in stored.encrypted_secret


CREDENTIALS = ("hook-user", "hook-pass", "tok-123")


async def test_urls_are_logged_and_reported_without_their_credentials(
    firm_a: NewFirm,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failing endpoint with credentials in its URL: nothing the server logs or reports
    (lastError, disabledReason) repeats them, including the HTTP client's request log."""
    monkeypatch.setattr(sender, "DISABLE_AFTER", 2)
    receiver.answer = lambda number, _: (500, 0.0)
    port = receiver.server.server_address[1]
    closed = Receiver()  # never started, and its socket closed: a port that refuses
    closed_port = closed.server.server_address[1]
    closed.server.server_close()
    pipeline, _ = await board(firm_a)
    for where in (f"127.0.0.1:{port}", f"127.0.0.1:{closed_port}"):
        await webhooks.create_endpoint(
            scope_of(firm_a), f"http://hook-user:hook-pass@{where}/hooks?token=tok-123#tok-123"
        )
    caplog.set_level(logging.DEBUG)
    for title in ("first", "second"):
        await job(firm_a, pipeline, await client(firm_a, title), title)
    async with sender.Sender((60,)).client as http_client:
        while await sender.send_due(http_client, (60,)):
            pass
    assert len(receiver.messages()) == 2
    assert receiver.messages()[0].headers["authorization"].startswith("Basic ")  # still sent
    assert f"POST http://127.0.0.1:{port}/…" in caplog.text  # the request log, redacted
    reports = [
        text
        for text in [d.last_error for d in await WebhookDelivery.all()]
        + [e.disabled_reason for e in await WebhookEndpoint.all()]
        if text
    ]
    assert len(reports) == 6  # 4 deliveries' lastError, 2 endpoints' disabledReason
    assert any("HTTP 500" in r for r in reports) and any("ConnectError" in r for r in reports)
    for text in (caplog.text, *reports):
        assert not any(secret in text for secret in CREDENTIALS), text


async def test_a_firm_has_at_most_so_many_endpoints(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, receiver: Receiver
) -> None:
    for _ in range(webhooks.MAX_ENDPOINTS_PER_FIRM):
        await webhooks.create_endpoint(scope_of(firm_a), receiver.url)
    refused = (await gql(CREATE, url=receiver.url))["createWebhookEndpoint"]
    assert refused["webhookEndpoint"] is None and refused["secret"] is None
    [error] = refused["errors"]
    assert error["code"] == "INVALID_INPUT"
    assert f"at most {webhooks.MAX_ENDPOINTS_PER_FIRM} webhook endpoints" in error["message"]
    assert await WebhookEndpoint.filter(firm_id=firm_a.firm.id).count() == 20
    assert (await gql_b(CREATE, url=receiver.url))["createWebhookEndpoint"]["errors"] == []
    # Deleting one makes room again.
    first = await WebhookEndpoint.filter(firm_id=firm_a.firm.id).order_by("id").first()
    assert first is not None
    deleted = await gql(
        """mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) {
      errors { code } } }""",
        id=gid("WebhookEndpoint", first.id),
    )
    assert deleted["deleteWebhookEndpoint"]["errors"] == []
    assert (await gql(CREATE, url=receiver.url))["createWebhookEndpoint"]["errors"] == []


async def test_concurrent_creations_stop_at_the_cap(firm_a: NewFirm, receiver: Receiver) -> None:
    scope = scope_of(firm_a)
    for _ in range(webhooks.MAX_ENDPOINTS_PER_FIRM - 1):
        await webhooks.create_endpoint(scope, receiver.url)
    outcomes = await asyncio.gather(
        *(webhooks.create_endpoint(scope, receiver.url) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(o, WebhookEndpoint) for o in outcomes) == 1
    assert all(isinstance(o, (WebhookEndpoint, DomainError)) for o in outcomes), outcomes
    assert await WebhookEndpoint.filter(firm_id=firm_a.firm.id).count() == 20


async def test_a_replayed_creation_or_rotation_never_repeats_the_secret(
    http: httpx.AsyncClient, firm_a: NewFirm, receiver: Receiver
) -> None:
    """Idempotency-Key replays (web.idempotency) answer null where the secret was."""

    async def send(query: str, key: str, **variables: Any) -> httpx.Response:
        return await http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {firm_a.token}", "Idempotency-Key": key},
        )

    first = await send(CREATE, "hook", url=receiver.url)
    secret = first.json()["data"]["createWebhookEndpoint"]["secret"]
    replay = await send(CREATE, "hook", url=receiver.url)
    assert replay.headers["idempotent-replayed"] == "true"
    answer = replay.json()["data"]["createWebhookEndpoint"]
    assert secret.startswith("whsec_") and answer["secret"] is None and secret not in replay.text
    assert (
        answer["webhookEndpoint"]
        == first.json()["data"]["createWebhookEndpoint"]["webhookEndpoint"]
    )
    endpoint_id = answer["webhookEndpoint"]["id"]
    rotated = await send(UPDATE, "rotate", id=endpoint_id, rotate=True)
    new_secret = rotated.json()["data"]["updateWebhookEndpoint"]["secret"]
    replay = await send(UPDATE, "rotate", id=endpoint_id, rotate=True)
    assert replay.headers["idempotent-replayed"] == "true"
    assert new_secret.startswith("whsec_") and new_secret not in replay.text
    assert replay.json()["data"]["updateWebhookEndpoint"]["secret"] is None
    stored = await IdempotentRequest.all().values_list("response", flat=True)
    assert len(stored) == 2 and not any("whsec_" in text for text in stored)
