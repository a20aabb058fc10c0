"""The sender: posts due webhook deliveries, signed, and retries them with backoff.

Claiming a delivery leases it (next_attempt_at moves past the attempt's timeout) in a short
transaction, FOR UPDATE SKIP LOCKED on PostgreSQL so any number of senders share the work; the
request is made outside any transaction. A sender that dies mid-attempt leaves the lease to
expire and another sends the message again under the same id: at least once on the wire,
exactly once for a receiver that deduplicates by webhook-id. After the last retry a delivery
fails; an endpoint failing DISABLE_AFTER times in a row is disabled, and says why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from automations.background import BackgroundLoop
from models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from models.db import is_postgres
from webhooks import signing
from workflow.unit import DELIVERIES
from workflow.webhooks import signing_secret

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds a receiver has to answer
LEASE = timedelta(seconds=TIMEOUT * 2)
BATCH = 20
DISABLE_AFTER = 50  # consecutive failures of an endpoint (hours of retries of many messages)


def message_id(delivery: WebhookDelivery) -> str:
    return delivery.message_id or f"msg_{delivery.id}"


async def claim(limit: int = BATCH) -> list[WebhookDelivery]:
    """Lease the oldest due deliveries of enabled endpoints."""
    now = datetime.now(UTC)
    async with in_transaction():
        due = (
            WebhookDelivery.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
            )
            .order_by("id")
            .limit(limit)
        )
        if is_postgres():
            due = due.select_for_update(skip_locked=True)
        deliveries = await due
        if not deliveries:
            return []
        await WebhookDelivery.filter(id__in=[d.id for d in deliveries]).update(
            next_attempt_at=now + LEASE, attempts=F("attempts") + 1
        )
    endpoints = {
        e.id: e
        for e in await WebhookEndpoint.filter(id__in={d.endpoint_id for d in deliveries})
    }
    for delivery in deliveries:
        delivery.attempts += 1
        delivery.endpoint = endpoints[delivery.endpoint_id]
    return deliveries


async def attempt(client: httpx.AsyncClient, delivery: WebhookDelivery) -> tuple[int | None, str]:
    """Post one delivery; (HTTP status or None, error text or "")."""
    endpoint = delivery.endpoint
    body = orjson.dumps(delivery.payload)
    secret = signing_secret(endpoint)
    headers = signing.headers(secret, message_id(delivery), int(time.time()), body)
    try:
        response = await client.post(endpoint.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


async def record(
    delivery: WebhookDelivery, status_code: int | None, error: str, schedule: Sequence[float]
) -> None:
    """Store an attempt's outcome: delivered, retried later, or failed for good."""
    now = datetime.now(UTC)
    async with in_transaction():
        endpoint = await WebhookEndpoint.filter(id=delivery.endpoint_id).select_for_update().first()
        if endpoint is None:
            return  # deleted meanwhile, with its deliveries
        if not error:
            fields = {"status": DeliveryStatus.DELIVERED, "delivered_at": now,
                      "last_status_code": status_code, "last_error": None}
            endpoint.consecutive_failures = 0
        else:
            retry = delivery.attempts <= len(schedule)
            fields = {
                "status": DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED,
                "next_attempt_at": now + timedelta(seconds=schedule[delivery.attempts - 1])
                if retry else delivery.next_attempt_at,
                "last_status_code": status_code, "last_error": error,
            }
            endpoint.consecutive_failures += 1
            if endpoint.enabled and endpoint.consecutive_failures >= DISABLE_AFTER:
                endpoint.enabled = False
                endpoint.disabled_reason = (
                    f"disabled after {endpoint.consecutive_failures} failed deliveries in a "
                    f"row; last: {error}"
                )
                log.warning("webhook endpoint %s disabled: %s", endpoint.id, error)
        await WebhookDelivery.filter(id=delivery.id).update(**fields)
        await endpoint.save(
            update_fields=["consecutive_failures", "enabled", "disabled_reason"]
        )


async def send_due(client: httpx.AsyncClient, schedule: Sequence[float]) -> int:
    """Send one batch of due deliveries concurrently; how many were attempted."""
    deliveries = await claim()

    async def one(delivery: WebhookDelivery) -> None:
        status_code, error = await attempt(client, delivery)
        await record(delivery, status_code, error, schedule)

    await asyncio.gather(*(one(d) for d in deliveries))
    return len(deliveries)


class Sender(BackgroundLoop):
    """Sends deliveries in the background: woken after commits, and polling."""

    name = "webhook-sender"
    owed_work = DELIVERIES  # woken after commits that leave it this

    def __init__(self, schedule: Sequence[float]) -> None:
        super().__init__()
        self.schedule = tuple(schedule)
        self.client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)

    async def stop(self) -> None:
        await super().stop()
        await self.client.aclose()

    async def work(self) -> None:
        while await send_due(self.client, self.schedule) == BATCH:
            pass
