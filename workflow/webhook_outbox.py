"""What each change owes the firm's webhook endpoints: one delivery per event per endpoint
that asks for it.

`enqueue` runs inside every change's transaction (workflow.unit) and writes the deliveries, so
a delivery exists exactly when its change committed. The sender (webhooks.sender) posts them
after commit and retries; a delivery's id is the message id a receiver deduplicates by. A
payload carries the job as it was at that event, and for updates the previous values beside
the new ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models import Job, JobEvent, WebhookDelivery, WebhookEndpoint, sql
from workflow.global_ids import global_id, optional_global_id, public_changes

# Message types that are no board event (models.EventType): an export finished.
EXPORT_FINISHED = "EXPORT_FINISHED"
WEBHOOK_ONLY_TYPES = frozenset({EXPORT_FINISHED})


def job_snapshot(job: Job) -> dict[str, Any]:
    return {
        "id": global_id("Job", job.id),
        "title": job.title,
        "pipelineId": global_id("Pipeline", job.pipeline_id),
        "stageId": global_id("Stage", job.stage_id),
        "clientId": global_id("Client", job.client_id),
        "status": str(job.status),
        "priority": str(job.priority),
        "version": job.version,
        "rank": job.rank,
        "startDate": job.start_date.isoformat() if job.start_date else None,
        "dueDate": job.due_date.isoformat() if job.due_date else None,
        "stageDueAt": job.stage_due_at.isoformat() if job.stage_due_at else None,
        "tags": list(job.tags),
        "customFields": dict(job.custom_fields),
    }


def event_payload(event: JobEvent, job: Job | None) -> dict[str, Any]:
    """The body of an event's message (Standard Webhooks shape: type, timestamp, data)."""
    return {
        "type": str(event.type),
        "timestamp": event.created_at.isoformat(),
        "data": {
            "eventId": global_id("JobEvent", event.id),
            "pipelineId": global_id("Pipeline", event.pipeline_id),
            "seq": event.seq,
            "job": job_snapshot(job) if job else None,
            "stageId": optional_global_id("Stage", event.to_stage_id),
            "fromStageId": optional_global_id("Stage", event.from_stage_id),
            "fromPipelineId": optional_global_id("Pipeline", event.from_pipeline_id),
            "actorId": optional_global_id("User", event.actor_id),
            "changes": public_changes(event.changes),
        },
    }


def _wants(endpoint: WebhookEndpoint, event_type: str, pipeline_id: int) -> bool:
    return (not endpoint.event_types or event_type in endpoint.event_types) and (
        endpoint.pipeline_id is None or endpoint.pipeline_id == pipeline_id
    )


async def endpoints(firm_id: int) -> list[WebhookEndpoint]:
    """The firm's enabled endpoints (by hand: every change that logs an event reads them,
    before it takes a pipeline's lock)."""
    rows = await sql.fetch(
        'SELECT * FROM "webhook_endpoint" WHERE "firm_id" = ? AND "enabled" = ?', [firm_id, True]
    )
    return [WebhookEndpoint._init_from_db(**row) for row in rows]


def owed(endpoints: list[WebhookEndpoint], events: list[JobEvent]) -> bool:
    """Whether any of these endpoints asks for any of these events."""
    return any(
        _wants(endpoint, str(event.type), event.pipeline_id)
        for event in events
        for endpoint in endpoints
    )


async def enqueue(
    firm_id: int,
    payloads: list[tuple[JobEvent, dict[str, Any]]],
    to: list[WebhookEndpoint] | None = None,
) -> int:
    """Write the deliveries owed for these events (inside the change's transaction) to the
    firm's endpoints (`to`, if the change has read them); how many."""
    if not payloads:
        return 0
    messages = [(str(event.type), event.pipeline_id, payload) for event, payload in payloads]
    return await enqueue_messages(firm_id, messages, to)


async def enqueue_messages(
    firm_id: int,
    messages: list[tuple[str, int, dict[str, Any]]],
    to: list[WebhookEndpoint] | None = None,
) -> int:
    """Write the deliveries owed for these messages (type, pipeline id, payload), each to the
    firm's endpoints (`to`, if read already) that ask for its type and pipeline, in the current
    transaction; how many."""
    targets = await endpoints(firm_id) if to is None else to
    now = datetime.now(UTC)
    deliveries = [
        WebhookDelivery(
            firm_id=firm_id,
            endpoint_id=endpoint.id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
        )
        for event_type, pipeline_id, payload in messages
        for endpoint in targets
        if _wants(endpoint, event_type, pipeline_id)
    ]
    if deliveries:
        await WebhookDelivery.bulk_create(deliveries)
    return len(deliveries)
