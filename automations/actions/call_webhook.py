"""CALL_WEBHOOK: post the job, signed, to one of the firm's webhook endpoints.

The message is a delivery written in the run's transaction, so it exists exactly once per run;
the sender posts it after commit and retries it like any other (see webhooks.sender).
"""

from __future__ import annotations

from typing import Any, TypedDict

from automations import settings as typed
from models import Job, Stage, WebhookEndpoint
from workflow import unit, webhooks
from workflow.scope import Scope


class Settings(TypedDict):
    """The settings kept for CALL_WEBHOOK, as `check` leaves them."""

    endpointId: int


async def check(scope: Scope, stage: Stage, settings: dict[str, Any]) -> Settings:
    typed.only(settings, "CALL_WEBHOOK", typed.keys(Settings))
    endpoint = await typed.record(scope, settings, "endpointId", WebhookEndpoint)
    return {"endpointId": endpoint.id}


async def run(scope: Scope, job: Job, settings: Settings) -> dict[str, Any]:
    delivery = await webhooks.call(scope, settings["endpointId"], job)
    unit.owe(unit.DELIVERIES)
    return {"deliveryId": delivery.id}
