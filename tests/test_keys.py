"""Public ids, cursors and stored secrets made with the deployment's key (models.keys).

One firm must not learn another's activity from ids (sequential ids let it count rows made
between two of its own), a forged id must not name a row, and webhook message ids must not
count the deployment's deliveries.
"""

from __future__ import annotations

import base64

import pytest

from models import JobEvent, WebhookDelivery, WebhookEndpoint, keys
from settings import ConfigError, load
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from workflow import jobs, tasks, webhook_outbox, webhooks
from workflow.firms import NewFirm
from workflow.global_ids import TYPE_NAMES, parse_global_id

CLIENT = """mutation($n: String!) { createClient(input: {name: $n}) { client { id } } }"""


def _readable(global_id: str) -> str:
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4))
    return raw.decode("latin-1")


async def test_ids_say_nothing_of_row_numbers(gql: GraphQL, gql_b: GraphQL) -> None:
    """Firm A's clients made before and after firm B's: A's ids neither read as numbers nor
    follow one another (AES: consecutive rows share no more than chance)."""
    before = (await gql(CLIENT, n="First"))["createClient"]["client"]["id"]
    for n in range(8):
        await gql_b(CLIENT, n=f"B {n}")
    after = (await gql(CLIENT, n="Second"))["createClient"]["client"]["id"]
    for global_id in (before, after):
        assert len(global_id) == 22 and "Client" not in _readable(global_id)
    same = sum(a == b for a, b in zip(before, after, strict=True))
    assert same < 8, (before, after)  # ~22/64 by chance; a counter would share most


async def test_a_tampered_id_is_invalid_never_another_row(gql: GraphQL, firm_a: NewFirm) -> None:
    """Every one-character change of a real id is refused as INVALID_ID: none names a row."""
    real = gid("Client", (await client(firm_a)).id)
    query = "query($id: ID!) { node(id: $id) { id } }"
    alphabet = "AQgw_-"  # each changes the decoded bytes
    for position in range(len(real)):
        for char in alphabet:
            if real[position] == char:
                continue
            forged = real[:position] + char + real[position + 1 :]
            body = await gql(query, expect_errors=True, id=forged)
            assert body["errors"][0]["extensions"]["code"] == "INVALID_ID", forged


def test_every_type_round_trips_and_keeps_its_type() -> None:
    for type_name in TYPE_NAMES:
        for pk in (1, 2, 2**31 - 1):
            assert parse_global_id(gid(type_name, pk)) == (type_name, pk)
    assert parse_global_id("Sm9iOjE") is None  # the old base64("Job:1")


async def test_the_key_kept_in_the_database_is_made_once_and_shared(db: str) -> None:
    """Without SECRET_KEY the first start makes a key and every later start (or process)
    reads the same one: ids stay what they were."""
    await keys.load(None)
    first = gid("Job", 42)
    keys.use_master_key(b"another process, before it loads" + b"x" * 8)
    assert gid("Job", 42) != first
    await keys.load(None)
    assert gid("Job", 42) == first
    await keys.load("a SECRET_KEY wins over the one kept " + "y" * 8)
    assert gid("Job", 42) != first


def test_a_short_secret_key_stops_the_server() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load({"SECRET_KEY": "too short"})
    assert load({"SECRET_KEY": "k" * 32}).secret_key == "k" * 32
    assert load({}).secret_key is None


def test_sealed_values_open_only_for_their_purpose() -> None:
    sealed = keys.seal(b"whsec_abc", b"webhook-secret")
    assert b"whsec" not in base64.urlsafe_b64decode(sealed + "==")
    assert keys.unseal(sealed, b"webhook-secret") == b"whsec_abc"
    assert keys.unseal(sealed, b"feed-cursor") is None
    assert (
        keys.unseal(
            sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], b"webhook-secret"
        )
        is None
    )
    assert keys.seal(b"same", b"p") != keys.seal(b"same", b"p")  # a fresh nonce each time


async def test_webhook_secrets_are_stored_sealed_and_message_ids_are_random(
    firm_a: NewFirm,
) -> None:
    """Nothing is sent: the endpoint (loopback) is only written."""
    scope_firm = firm_a.firm.id
    endpoint = await webhooks.create_endpoint(scope_of(firm_a), "http://127.0.0.1:9/hooks")
    stored = await WebhookEndpoint.get(id=endpoint.id)
    secret = webhooks.signing_secret(stored)
    assert secret.startswith("whsec_") and secret not in stored.encrypted_secret
    deliveries = [
        WebhookDelivery(
            firm_id=scope_firm,
            endpoint_id=endpoint.id,
            event_type="X",
            payload={},
            next_attempt_at=stored.created_at,
        )
        for _ in range(3)
    ]
    await WebhookDelivery.bulk_create(deliveries)
    ids = [d.message_id for d in await WebhookDelivery.all().order_by("id")]
    assert len(set(ids)) == 3 and all(i and i.startswith("msg_") and len(i) == 28 for i in ids)
    assert not any(
        str(d.id) == i.removeprefix("msg_")
        for d, i in zip(await WebhookDelivery.all().order_by("id"), ids, strict=True)
    )


async def test_history_and_webhook_payloads_speak_global_ids(gql: GraphQL, firm_a: NewFirm) -> None:
    """A task's event and an assignee change name their rows by global id, never by number."""
    pipeline, _ = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    task = await tasks.create_task(scope_of(firm_a), card.id, "Collect W-2s")
    await jobs.update_job(scope_of(firm_a), card.id, assignee_ids=[firm_a.owner.id])
    history = (
        await gql(
            """query($id: ID!) { job(id: $id) { history { edges { node {
        type changes } } } } }""",
            id=gid("Job", card.id),
        )
    )["job"]["history"]["edges"]
    changes = [edge["node"]["changes"] for edge in history]
    assert {"task": gid("Task", task.id), "action": "created"}.items() <= next(
        c for c in changes if "task" in c
    ).items()
    assert next(c for c in changes if "assignee_ids" in c)["assignee_ids"] == {
        "from": [],
        "to": [gid("User", firm_a.owner.id)],
    }
    [event] = await JobEvent.filter(job_id=card.id, type="JOB_UPDATED")
    payload = webhook_outbox.event_payload(event, card)
    assert payload["data"]["changes"]["assignee_ids"]["to"] == [gid("User", firm_a.owner.id)]


def test_ids_made_many_at_once_are_the_ids_made_one_by_one() -> None:
    """keys.encode_ids (exports: a page of ids in one cipher and one base64 call)."""
    tag = keys.type_tag("Task")
    pks = [1, 2, 3, 255, 256, 65_537, 123_456_789, 2**31 - 1]
    assert keys.encode_ids(tag, pks) == [keys.encode_id(tag, pk) for pk in pks]
    assert keys.encode_ids(tag, []) == []
