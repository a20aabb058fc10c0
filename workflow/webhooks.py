"""Webhook endpoints and deliveries: what the firm registers, redelivers, and what a
CALL_WEBHOOK action posts. What each change owes the endpoints: workflow.webhook_outbox.

A URL is registered only if its host is public (workflow.webhook_addresses; the sender checks
again when it connects), a firm has at most MAX_ENDPOINTS_PER_FIRM endpoints, and a signing
secret is stored sealed: the API shows it once, when made or rotated.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from models import (
    DeliveryStatus,
    EventType,
    Firm,
    Job,
    Pipeline,
    WebhookDelivery,
    WebhookEndpoint,
    keys,
)
from models.db import is_postgres
from workflow import shown_once, validation
from workflow.errors import DomainError, ErrorCode, invalid
from workflow.scope import Scope
from workflow.unit import DELIVERIES, change, owe
from workflow.webhook_addresses import POLICY, Refused, check_url
from workflow.webhook_outbox import WEBHOOK_ONLY_TYPES, job_snapshot

URL_MAX = 2000
# Each endpoint gets a delivery of every event it asks for, written in the change's
# transaction: this bounds what one change of a firm writes and what its sender owes.
MAX_ENDPOINTS_PER_FIRM = 20
AUTOMATION_CALL = "AUTOMATION_CALL"  # the type of a CALL_WEBHOOK action's message
EVENT_TYPES = frozenset(EventType) | WEBHOOK_ONLY_TYPES


WEBHOOK_SECRET = b"webhook-secret"  # the purpose signing secrets are sealed for (models.keys)


def new_secret() -> str:
    """A signing secret, noted as shown once (an idempotent replay answers null in its place)."""
    return shown_once.note("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())


def seal_secret(secret: str) -> str:
    return keys.seal(secret.encode(), WEBHOOK_SECRET)


def signing_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's secret in clear, to sign with (one stored before sealing is as it is)."""
    opened = keys.unseal(endpoint.encrypted_secret, WEBHOOK_SECRET)
    return opened.decode() if opened is not None else endpoint.encrypted_secret


async def _url(value: str | None) -> str:
    """An http(s) URL whose host is public (workflow.webhook_addresses: resolved now, and
    checked again by the sender when it connects)."""
    url = (value or "").strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        raise invalid("url", "url must be an http(s) URL with a host") from None
    if len(url) > URL_MAX or parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("url", "url must be an http(s) URL with a host")
    try:
        await check_url(url, POLICY.allow_private)
    except Refused as refused:
        raise invalid(
            "url", f"url refused: {refused}; webhooks go to public addresses only"
        ) from None
    return url


def _event_types(values: Iterable[str]) -> list[str]:
    chosen = sorted(set(values))
    if unknown := [v for v in chosen if v not in EVENT_TYPES]:
        raise invalid("eventTypes", f"unknown event types: {', '.join(unknown[:5])}")
    return chosen


async def create_endpoint(
    scope: Scope,
    url: str,
    event_types: Iterable[str] = (),
    pipeline_id: int | None = None,
    description: str = "",
) -> WebhookEndpoint:
    """An endpoint for the given event types (none: all) of one pipeline (none: all)."""
    if pipeline_id is not None:
        await scope.get(Pipeline, pipeline_id, field="pipelineId")
    checked_url = await _url(url)  # resolves the host: outside the transaction
    chosen, text = _event_types(event_types), validation.text(description, "description", 200)
    async with change(scope):
        firm = Firm.filter(id=scope.firm_id)  # one creation at a time per firm: the cap holds
        await (firm.select_for_update() if is_postgres() else firm).first()
        if await WebhookEndpoint.filter(firm_id=scope.firm_id).count() >= MAX_ENDPOINTS_PER_FIRM:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"a firm has at most {MAX_ENDPOINTS_PER_FIRM} webhook endpoints: delete one first",
            )
        return await WebhookEndpoint.create(
            firm_id=scope.firm_id,
            url=checked_url,
            event_types=chosen,
            pipeline_id=pipeline_id,
            description=text,
            encrypted_secret=seal_secret(new_secret()),
        )


async def update_endpoint(scope: Scope, endpoint_id: int, **changes: Any) -> WebhookEndpoint:
    endpoint = await scope.get(WebhookEndpoint, endpoint_id, field="id")
    if "url" in changes:
        endpoint.url = await _url(changes["url"])
    if "event_types" in changes:
        endpoint.event_types = _event_types(changes["event_types"] or ())
    if "pipeline_id" in changes:
        if changes["pipeline_id"] is not None:
            await scope.get(Pipeline, changes["pipeline_id"], field="pipelineId")
        endpoint.pipeline_id = changes["pipeline_id"]
    if "description" in changes:
        endpoint.description = validation.text(changes["description"] or "", "description", 200)
    if changes.get("enabled") is True:  # re-enabled by hand: start counting failures afresh
        endpoint.enabled, endpoint.disabled_reason, endpoint.consecutive_failures = True, None, 0
    elif changes.get("enabled") is False:
        endpoint.enabled, endpoint.disabled_reason = False, "disabled by the firm"
    if changes.get("rotate_secret"):
        endpoint.encrypted_secret = seal_secret(new_secret())
    async with change(scope):
        await endpoint.save()
    return endpoint


async def delete_endpoint(scope: Scope, endpoint_id: int) -> None:
    endpoint = await scope.get(WebhookEndpoint, endpoint_id, field="id")
    async with change(scope):
        await endpoint.delete()


async def redeliver(scope: Scope, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again, now, with the same message id."""
    delivery = await scope.get(WebhookDelivery, delivery_id, field="deliveryId")
    delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, datetime.now(UTC)
    async with change(scope):
        await delivery.save(update_fields=["status", "next_attempt_at"])
        owe(DELIVERIES)  # the sender of this process is woken after the commit
    return delivery


async def call(scope: Scope, endpoint_id: int, job: Job) -> WebhookDelivery:
    """A CALL_WEBHOOK action's message: the job, posted to one endpoint of the firm."""
    endpoint = await scope.get(WebhookEndpoint, endpoint_id, field="endpointId")
    return await WebhookDelivery.create(
        firm_id=scope.firm_id,
        endpoint_id=endpoint.id,
        event_type=AUTOMATION_CALL,
        next_attempt_at=datetime.now(UTC),
        payload={
            "type": AUTOMATION_CALL,
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {"job": job_snapshot(job)},
        },
    )
