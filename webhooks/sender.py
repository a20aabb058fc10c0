"""The sender: posts due webhook deliveries, signed, and retries them with backoff.

Claiming a delivery leases it (next_attempt_at moves past the attempt's timeout) in a short
transaction, FOR UPDATE SKIP LOCKED on PostgreSQL so any number of senders share the work; the
request is made outside any transaction. A sender that dies mid-attempt leaves the lease to
expire and another sends the message again under the same id: at least once on the wire,
exactly once for a receiver that deduplicates by webhook-id. After the last retry a delivery
fails; an endpoint failing DISABLE_AFTER times in a row is disabled, and says why.

Fair between firms: due deliveries are claimed round robin by firm
(realtime.background.IN_FIRM_TURNS), and a Sender runs each as its own task, at most
MAX_IN_FLIGHT at once and FIRM_IN_FLIGHT for one firm, claiming more as soon as one ends: a firm
whose endpoints hang holds its few slots, not the sender. Within a firm, endpoints take turns
too, and one that keeps failing (FAILING_AFTER in a row) is tried one delivery at a time, after
healthy ones, with FAILING_TIMEOUT instead of TIMEOUT.
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

from models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, sql
from models.db import is_postgres
from realtime.background import IN_FIRM_TURNS, BackgroundLoop, FirmTurns
from realtime.background import InFlight as BaseInFlight
from webhooks import signing
from webhooks.transport import new_client
from workflow.unit import DELIVERIES
from workflow.webhook_addresses import Refused, scrub
from workflow.webhooks import signing_secret

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds a receiver has to answer (the whole attempt)
FAILING_AFTER = 3  # failures in a row after which an endpoint counts as failing: then it gets
FAILING_TIMEOUT = 1.0  # this long to answer, one delivery at a time
LEASE = timedelta(seconds=TIMEOUT * 2)
BATCH = 20  # deliveries send_due claims and sends together
MAX_IN_FLIGHT = 50  # attempts one Sender has under way at once
FIRM_IN_FLIGHT = 5  # of them for one firm: the rest stay free for the other firms
DISABLE_AFTER = 50  # consecutive failures of an endpoint (hours of retries of many messages)


def message_id(delivery: WebhookDelivery) -> str:
    return delivery.message_id or f"msg_{delivery.id}"


# Due deliveries of enabled endpoints in firm turns, and within a firm in endpoint turns
# (each endpoint's oldest, then each one's next), a failing endpoint's one delivery after the
# healthy ones. Hand-written: tortoise has no window functions. It locks nothing; the chosen
# rows are locked (SKIP LOCKED) and leased by id. `{busy}`: firms at their cap, failing
# endpoints with an attempt in flight.
DUE = (
    'SELECT "id", "firm_id" FROM (SELECT "id", "firm_id", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "failing", "endpoint_turn", "id") AS "turn" FROM '
    '(SELECT d."id", d."firm_id", CASE WHEN e."consecutive_failures" >= ? THEN 1 ELSE 0 END '
    'AS "failing", ROW_NUMBER() OVER (PARTITION BY d."endpoint_id" ORDER BY d."id") '
    'AS "endpoint_turn" FROM "webhook_delivery" d '
    'JOIN "webhook_endpoint" e ON e."id" = d."endpoint_id" '
    'WHERE d."status" = ? AND d."next_attempt_at" <= ? AND e."enabled" = ?{busy}) '
    'AS "by_endpoint" WHERE "failing" = 0 OR "endpoint_turn" = 1) AS "due" '
    f'WHERE "turn" <= ? {IN_FIRM_TURNS}, "id" LIMIT ?'
)


def failing(endpoint: WebhookEndpoint) -> bool:
    return endpoint.consecutive_failures >= FAILING_AFTER


class InFlight(BaseInFlight[WebhookDelivery]):
    """The attempts a sender has under way, by firm and by failing endpoint."""

    def busy_failing_endpoints(self) -> list[int]:
        return sorted({d.endpoint_id for d in self.items.values() if failing(d.endpoint)})


async def _due(limit: int, in_flight: InFlight, turns: FirmTurns) -> list[int]:
    """Ids of up to `limit` due deliveries in turns, within every firm's free slots."""
    full, endpoints = in_flight.full_firms(), in_flight.busy_failing_endpoints()
    busy = "".join(
        [
            f' AND d."firm_id" NOT IN ({", ".join("?" * len(full))})' if full else "",
            f' AND d."endpoint_id" NOT IN ({", ".join("?" * len(endpoints))})' if endpoints else "",
        ]
    )
    # A firm with attempts in flight may get rows it has no slot for: ask for that many more.
    rows = await sql.fetch(
        DUE.format(busy=busy),
        [
            FAILING_AFTER,
            DeliveryStatus.PENDING.value,
            datetime.now(UTC),
            True,
            *full,
            *endpoints,
            FIRM_IN_FLIGHT,
            turns.last_firm,
            limit + len(in_flight),
        ],
    )
    return in_flight.choose(rows, limit)


async def claim(
    limit: int = BATCH, in_flight: InFlight | None = None, turns: FirmTurns | None = None
) -> list[WebhookDelivery]:
    """Lease up to `limit` due deliveries of enabled endpoints, in firm turns (continuing
    `turns`), leaving out what `in_flight` already holds its share of."""
    in_flight, turns = in_flight or InFlight(FIRM_IN_FLIGHT), turns or FirmTurns()
    now = datetime.now(UTC)
    async with in_transaction():
        chosen = await _due(limit, in_flight, turns)
        if not chosen:
            return []
        due = WebhookDelivery.filter(  # still due: another sender may have leased it meanwhile
            id__in=chosen, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        if is_postgres():
            due = due.select_for_update(skip_locked=True)
        order = {delivery_id: n for n, delivery_id in enumerate(chosen)}
        deliveries = sorted(await due, key=lambda d: order[d.id])
        if not deliveries:
            return []
        await WebhookDelivery.filter(id__in=[d.id for d in deliveries]).update(
            next_attempt_at=now + LEASE, attempts=F("attempts") + 1
        )
    endpoints = {
        e.id: e for e in await WebhookEndpoint.filter(id__in={d.endpoint_id for d in deliveries})
    }
    for delivery in deliveries:
        delivery.attempts += 1
        delivery.endpoint = endpoints[delivery.endpoint_id]
    turns.served(deliveries[-1].firm_id)
    return deliveries


async def attempt(client: httpx.AsyncClient, delivery: WebhookDelivery) -> tuple[int | None, str]:
    """Post one delivery; (HTTP status or None, error text or "")."""
    endpoint = delivery.endpoint
    body = orjson.dumps(delivery.payload)
    secret = signing_secret(endpoint)
    headers = signing.headers(secret, message_id(delivery), int(time.time()), body)
    try:
        response = await client.post(endpoint.url, content=body, headers=headers)
    except Refused as error:  # not a public address (webhooks.transport): nothing was sent
        return None, f"refused: {error}"[:500]
    except (httpx.HTTPError, httpx.InvalidURL) as error:  # its text may quote the URL
        return None, scrub(f"{type(error).__name__}: {error}", endpoint.url)[:500]
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
            fields = {
                "status": DeliveryStatus.DELIVERED,
                "delivered_at": now,
                "last_status_code": status_code,
                "last_error": None,
            }
            endpoint.consecutive_failures = 0
        else:
            retry = delivery.attempts <= len(schedule)
            fields = {
                "status": DeliveryStatus.PENDING if retry else DeliveryStatus.FAILED,
                "next_attempt_at": now + timedelta(seconds=schedule[delivery.attempts - 1])
                if retry
                else delivery.next_attempt_at,
                "last_status_code": status_code,
                "last_error": error,
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
        await endpoint.save(update_fields=["consecutive_failures", "enabled", "disabled_reason"])


async def deliver(
    client: httpx.AsyncClient, delivery: WebhookDelivery, schedule: Sequence[float]
) -> None:
    """Attempt a claimed delivery within its endpoint's time, and record the outcome."""
    seconds = FAILING_TIMEOUT if failing(delivery.endpoint) else TIMEOUT
    try:
        # The whole attempt, not each read: a receiver trickling its answer cannot hold on
        # past the lease.
        async with asyncio.timeout(seconds):
            status_code, error = await attempt(client, delivery)
    except TimeoutError:
        status_code, error = None, f"no answer within {seconds:g} s"
    await record(delivery, status_code, error, schedule)


async def send_due(client: httpx.AsyncClient, schedule: Sequence[float]) -> int:
    """Send one batch of due deliveries (in firm turns) concurrently; how many were attempted.
    For draining in tests and tools: the Sender does not wait for a batch."""
    deliveries = await claim()
    await asyncio.gather(*(deliver(client, d, schedule) for d in deliveries))
    return len(deliveries)


class Sender(BackgroundLoop):
    """Sends deliveries in the background, woken after commits, polling, and whenever an
    attempt ends: each delivery is its own task, so a slow receiver holds up only its slot."""

    name = "webhook-sender"
    owed_work = DELIVERIES  # woken after commits that leave it this

    def __init__(
        self,
        schedule: Sequence[float],
        max_in_flight: int = MAX_IN_FLIGHT,
        allow_private: bool | None = None,
    ) -> None:
        super().__init__()
        self.schedule = tuple(schedule)
        # Connects only to checked addresses; allow_private None: WEBHOOK_ALLOW_PRIVATE's POLICY.
        self.client = new_client(TIMEOUT, allow_private)
        self.max_in_flight = max_in_flight
        self.in_flight = InFlight(FIRM_IN_FLIGHT)
        self.turns = FirmTurns()
        self._attempts: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """Attempts in flight are cancelled: their leases expire and they are sent again."""
        await super().stop()
        for task in self._attempts:
            task.cancel()
        await asyncio.gather(*self._attempts, return_exceptions=True)
        await self.client.aclose()

    async def work(self) -> None:
        free = self.max_in_flight - len(self.in_flight)
        if free <= 0:
            return  # an attempt that ends wakes us
        for delivery in await claim(free, self.in_flight, self.turns):
            self.in_flight.add(delivery)
            task = asyncio.create_task(self.deliver(delivery), name=f"webhook-{delivery.id}")
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)

    async def deliver(self, delivery: WebhookDelivery) -> None:
        try:
            await deliver(self.client, delivery, self.schedule)
        except Exception:  # recording failed (database away): the lease expires, sent again
            log.exception("webhook delivery %s: its attempt was not recorded", delivery.id)
        finally:
            self.in_flight.remove(delivery)
            self._wake.set()  # a slot is free
