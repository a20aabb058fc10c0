"""BoardEvent: what subscribers of a board or a job receive, with a cursor to resume from."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import strawberry

from models import Job
from realtime.hub import Delivery, FeedKey
from schema.enums import BoardEventKind, BoardEventTypeEnum
from schema.feed_cursors import encode_feed_cursor
from schema.node import encode_id
from schema.types import JobType


@strawberry.type(name="BoardEvent")
class BoardEventType:
    cursor: str = strawberry.field(description="Pass as `after` to resume right after this.")
    type: BoardEventTypeEnum
    job: JobType | None = strawberry.field(
        description="The job as it was when the event was read from the log for delivery "
        "(for a replayed event, its state now); null for STAGE_CHANGED."
    )
    stage_id: strawberry.ID | None = strawberry.field(description="The stage entered, if any.")
    from_stage_id: strawberry.ID | None
    pipeline_id: strawberry.ID
    occurred_at: datetime
    # results of the subscription documents run on this event (schema.shared_events)
    shared_results: strawberry.Private[dict[Any, Any]] = dataclasses.field(default_factory=dict)
    # the job row the delivery read (`job` is made from it): the planned render's root row
    job_row: strawberry.Private[Job | None] = None

    @classmethod
    def from_delivery(cls, delivery: Delivery, key: FeedKey) -> BoardEventType:
        event = delivery.event
        return cls(
            cursor=encode_feed_cursor(key, delivery.position(key.kind)),
            type=BoardEventKind(event.type),
            job=JobType.from_model(delivery.job) if delivery.job else None,
            stage_id=encode_id("Stage", event.to_stage_id) if event.to_stage_id else None,
            from_stage_id=(
                encode_id("Stage", event.from_stage_id) if event.from_stage_id else None
            ),
            pipeline_id=encode_id("Pipeline", event.pipeline_id),
            occurred_at=event.created_at,
            job_row=delivery.job,
        )
