"""Outbound webhooks against a real HTTP receiver: retried, given up and disabled when they
keep failing, delivered exactly once by webhook-id across a server killed mid-delivery (signed,
retried after 500 and redelivered by a running server: tests/test_webhooks_server.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from automations import manage, runner
from docs.examples.verify_webhook import verify
from models import ActionType, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.factories import board, client, job, scope_of
from tests.live import MOVE, make_board
from tests.receiver import Receiver
from tests.servers import ServerProcess, graphql
from webhooks import sender
from webhooks.transport import new_client
from workflow import jobs, webhooks
from workflow.firms import NewFirm
from workflow.webhooks import signing_secret

ENDPOINT = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url}) {
  webhookEndpoint { id } secret errors { code message } } }"""
LOG = """{ webhookEndpoints { enabled deliveries { edges { node { id messageId eventType status
  attempts lastStatusCode } } } } }"""
RENAME = """mutation($j: ID!) { updateJob(input: {id: $j, title: "renamed"}) {
  errors { code } } }"""
REDELIVER = """mutation($d: ID!) { redeliverWebhook(input: {deliveryId: $d}) {
  webhookDelivery { status } errors { code } } }"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _log(server: ServerProcess, token: str) -> list[dict]:
    endpoints = graphql(server, token, LOG)["webhookEndpoints"]
    return [e["node"] for e in endpoints[0]["deliveries"]["edges"]]


def _wait_delivered(server: ServerProcess, token: str, count: int, timeout: float = 40) -> list:
    deadline = time.monotonic() + timeout
    while True:
        log = _log(server, token)
        if len(log) == count and all(d["status"] == "DELIVERED" for d in log):
            return log
        assert time.monotonic() < deadline, log
        time.sleep(0.2)


@pytest.mark.slow
def test_every_event_arrives_exactly_once_by_id_across_a_killed_server(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    server = ServerProcess(tmp_path, DATABASE_URL=database_url).start()
    try:
        board_ = make_board(server, jobs=5)
        graphql(server, board_.token, ENDPOINT, url=receiver.url)
        # The first message is answered slowly: the server dies while it is in flight.
        receiver.answer = lambda number, _: (204, 3.0 if number == 1 else 0.0)
        for job_id in board_.jobs[:3]:
            graphql(server, board_.token, MOVE, j=job_id, s=board_.stages[1])
        receiver.wait_for(lambda received: len(received) >= 1)
        assert server.process is not None
        server.process.kill()
        server.process.wait(timeout=10)
        server.start()
        for job_id in board_.jobs[3:]:
            graphql(server, board_.token, MOVE, j=job_id, s=board_.stages[1])
        log = _wait_delivered(server, board_.token, 5, timeout=60)
    finally:
        server.stop()

    messages = receiver.messages()
    unique = {m.message_id: m.event for m in messages}
    assert set(unique) == {d["messageId"] for d in log}  # each event, by id, exactly once
    assert len(unique) == 5
    assert sorted(e["data"]["job"]["id"] for e in unique.values()) == sorted(board_.jobs)
    assert len(messages) >= 6  # the one in flight when the server died was sent again
    assert [m.message_id for m in messages].count(messages[0].message_id) >= 2


async def _send_all(schedule: tuple[float, ...]) -> None:
    async with new_client(sender.TIMEOUT) as http_client:  # the sender's own kind of client
        while await sender.send_due(http_client, schedule):
            pass


async def test_a_failing_delivery_gives_up_after_its_last_retry(
    firm_a: NewFirm, receiver: Receiver
) -> None:
    receiver.answer = lambda number, _: (500, 0.0)
    pipeline, stages = await board(firm_a)
    await webhooks.create_endpoint(scope_of(firm_a), receiver.url, ["JOB_CREATED"])
    await job(firm_a, pipeline, await client(firm_a))
    await _send_all((0, 0))
    [delivery] = await WebhookDelivery.all()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.FAILED,
        3,
        500,
    )
    assert len(receiver.messages()) == 3


async def test_an_endpoint_failing_many_times_in_a_row_is_disabled(
    firm_a: NewFirm, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender, "DISABLE_AFTER", 4)
    receiver.answer = lambda number, _: (503, 0.0)
    pipeline, _ = await board(firm_a)
    endpoint = await webhooks.create_endpoint(scope_of(firm_a), receiver.url)
    await job(firm_a, pipeline, await client(firm_a))
    await _send_all((0, 0, 0, 0, 0, 0))
    await endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason and "HTTP 503" in endpoint.disabled_reason
    assert len(receiver.messages()) == 4  # nothing more is sent to a disabled endpoint
    await job(firm_a, pipeline, await client(firm_a, "Blake"), "another")
    assert await WebhookDelivery.filter(endpoint_id=endpoint.id).count() == 1


async def test_endpoints_get_only_the_event_types_and_pipeline_they_asked_for(
    firm_a: NewFirm, receiver: Receiver
) -> None:
    pipeline, stages = await board(firm_a)
    other, _ = await board(firm_a, name="Payroll")
    scope = scope_of(firm_a)
    moves = await webhooks.create_endpoint(scope, receiver.url, ["JOB_MOVED"])
    payroll = await webhooks.create_endpoint(scope, receiver.url, [], other.id)
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope, card.id, stages[1].id)
    await job(firm_a, other, await client(firm_a, "Blake"))
    types = {
        endpoint.id: sorted(
            await WebhookDelivery.filter(endpoint_id=endpoint.id).values_list(
                "event_type", flat=True
            )
        )
        for endpoint in (moves, payroll)
    }
    assert types == {moves.id: ["JOB_MOVED"], payroll.id: ["JOB_CREATED"]}


async def test_call_webhook_action_posts_the_job_signed(
    firm_a: NewFirm, receiver: Receiver
) -> None:
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    endpoint = await webhooks.create_endpoint(scope, receiver.url, ["STAGE_CHANGED"])
    await manage.create_automation(
        scope, stages[1].id, ActionType.CALL_WEBHOOK, {"endpointId": endpoint.id}
    )
    card = await job(firm_a, pipeline, await client(firm_a), "2025 return for Avery")
    await jobs.move_job(scope, card.id, stages[1].id)
    assert await runner.run_due() == 1
    await _send_all((0,))
    [message] = receiver.messages()
    assert verify(signing_secret(endpoint), message.headers, message.body, time.time())
    assert message.event["type"] == "AUTOMATION_CALL"
    assert message.event["data"]["job"]["title"] == "2025 return for Avery"
    assert await WebhookEndpoint.filter(id=endpoint.id, enabled=True).exists()
