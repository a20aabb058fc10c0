"""Fairness between firms for webhook deliveries: one firm's backlog (or dead endpoints) does
not queue another firm's deliveries behind it (round robin by firm, a per-firm cap on
deliveries in flight, short timeouts for endpoints that keep failing), on both backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from tests.factories import scope_of
from tests.hanging import HangingReceiver
from tests.receiver import Receiver
from webhooks import sender
from workflow import webhooks
from workflow.firms import NewFirm

NOWHERE = "http://127.0.0.1:9/hooks"  # loopback, and never sent to by the claim tests


@pytest.fixture(autouse=True)
def _loopback_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE", "true")  # receivers here are on 127.0.0.1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    with HangingReceiver() as running:
        yield running


async def _deliveries(
    firm: NewFirm, count: int, url: str = NOWHERE, failures: int = 0
) -> tuple[WebhookEndpoint, list[WebhookDelivery]]:
    """An endpoint of the firm (`failures` in a row so far) with `count` due deliveries."""
    endpoint = await webhooks.create_endpoint(scope_of(firm), url)
    await WebhookEndpoint.filter(id=endpoint.id).update(consecutive_failures=failures)
    now = datetime.now(UTC)
    await WebhookDelivery.bulk_create(
        [
            WebhookDelivery(
                firm_id=firm.firm.id,
                endpoint_id=endpoint.id,
                event_type="JOB_MOVED",
                payload={"type": "JOB_MOVED", "n": n},
                next_attempt_at=now,
            )
            for n in range(count)
        ]
    )
    deliveries = await WebhookDelivery.filter(endpoint_id=endpoint.id).order_by("id")
    return endpoint, list(deliveries)


async def _until(condition: Callable[[], bool], within: float) -> None:
    """Wait, without blocking the loop the sender runs on, for what no event announces."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.02)


async def test_a_firms_delivery_is_claimed_among_the_first(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    await _deliveries(firm_a, 100)
    _, [mine] = await _deliveries(firm_b, 1)
    claimed = await sender.claim(limit=5)
    assert mine.id in [d.id for d in claimed[:2]]
    assert len(claimed) == 5
    leased = await WebhookDelivery.filter(id__in=[d.id for d in claimed])
    assert all(d.attempts == 1 and d.next_attempt_at > datetime.now(UTC) for d in leased)
    rest = []
    while more := await sender.claim(limit=50):  # the rest, a firm's share per claim
        assert len(more) <= sender.FIRM_IN_FLIGHT
        rest += more
    every = await WebhookDelivery.all().values_list("id", flat=True)
    assert sorted(d.id for d in claimed + rest) == sorted(every)  # each leased once


async def test_a_firm_at_its_cap_in_flight_gets_no_more_until_one_ends(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    await _deliveries(firm_a, 100)
    flight = sender.InFlight(sender.FIRM_IN_FLIGHT)
    for delivery in await sender.claim(limit=50):
        flight.add(delivery)
    assert flight.firms == {firm_a.firm.id: sender.FIRM_IN_FLIGHT}
    _, [mine] = await _deliveries(firm_b, 1)
    assert [d.id for d in await sender.claim(limit=50, in_flight=flight)] == [mine.id]
    ended = next(iter(flight.items.values()))
    flight.remove(ended)
    [again] = await sender.claim(limit=50, in_flight=flight)
    assert again.firm_id == firm_a.firm.id


async def test_an_endpoint_that_keeps_failing_gets_one_attempt_at_a_time_after_healthy_ones(
    firm_a: NewFirm,
) -> None:
    failing, _ = await _deliveries(firm_a, 10, failures=sender.FAILING_AFTER)
    healthy, _ = await _deliveries(firm_a, 2)
    claimed = await sender.claim(limit=50)
    assert [d.endpoint_id for d in claimed] == [healthy.id, healthy.id, failing.id]
    flight = sender.InFlight(sender.FIRM_IN_FLIGHT)
    for delivery in claimed:
        flight.add(delivery)
    assert await sender.claim(limit=50, in_flight=flight) == []  # its one is still in flight


async def test_an_endpoint_that_keeps_failing_gets_the_short_timeout(
    firm_a: NewFirm, hanging: HangingReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender, "FAILING_TIMEOUT", 0.2)  # the test's clock: no 1 s wait
    await _deliveries(firm_a, 1, url=hanging.url, failures=sender.FAILING_AFTER)
    [delivery] = await sender.claim()
    worker = sender.Sender((60,))
    try:
        await worker.deliver(delivery)
    finally:
        await worker.stop()
    stored = await WebhookDelivery.get(id=delivery.id)
    assert (stored.status, stored.last_error) == (DeliveryStatus.PENDING, "no answer within 0.2 s")
    assert (await WebhookEndpoint.get(id=delivery.endpoint_id)).consecutive_failures == 4


async def test_dead_endpoints_of_one_firm_do_not_hold_up_another_firms_delivery(
    firm_a: NewFirm, firm_b: NewFirm, hanging: HangingReceiver, receiver: Receiver
) -> None:
    for _ in range(5):
        await _deliveries(firm_a, 20, url=hanging.url)
    _, [mine] = await _deliveries(firm_b, 1, url=receiver.url)
    worker = sender.Sender((60,))
    worker.start()
    try:
        # Well under the 5 s a dead endpoint is given: B's message is sent beside A's
        # attempts in flight, not after them, and A holds no more than its share.
        await _until(lambda: len(receiver.messages()) == 1, within=3)
        await _until(lambda: hanging.accepted >= sender.FIRM_IN_FLIGHT, within=3)
        assert hanging.open_connections() == sender.FIRM_IN_FLIGHT
    finally:
        await worker.stop()
    assert receiver.messages()[0].message_id == sender.message_id(mine)
