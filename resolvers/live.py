"""Subscriptions: a board's or a job's events, replayed from a cursor, then live."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from models import Job, JobEvent, Pipeline
from realtime.hub import Delivery, FeedKey, log_position, read_log
from schema.context import Context, Info
from schema.events import BoardEventType
from schema.feed_cursors import decode_feed_cursor
from schema.loaders import Loaders
from workflow.errors import DomainError, ErrorCode, invalid
from workflow.global_ids import decode_id

REPLAY_LIMIT = 1000


async def _backlog(key: FeedKey, start: int, position: int) -> int:
    if key.kind == "pipeline":
        return position - start
    return await JobEvent.filter(job_id=key.id, id__gt=start, id__lte=position).count()


async def stream(info: Info, key: FeedKey, after: str | None) -> AsyncGenerator[BoardEventType]:
    """Every event after the cursor (or from now on) in order, once each, then live ones."""
    start = decode_feed_cursor(after, key)
    context = info.context
    async with context.hub.subscribe(key, context.close_slow_consumer) as (subscriber, position):
        if start is not None and start > position and start > await log_position(key):
            # ahead of this process's feed is fine (another process may have handed it out
            # first); ahead of the log itself, it was never a cursor of this feed
            raise invalid("after", "after is ahead of this feed: it is not one of its cursors")
        if start is not None and await _backlog(key, start, position) > REPLAY_LIMIT:
            raise DomainError(
                ErrorCode.CURSOR_EXPIRED,
                f"more than {REPLAY_LIMIT} events were missed: refetch the board, then "
                "subscribe without after",
                "after",
            )
        last = position if start is None else start
        while last < position:  # replay what the client missed, from the log
            batch = await read_log(key, last)
            if not batch:
                break
            for delivery in batch:
                context.loaders = Loaders(context.scope)  # each event sees fresh data
                yield BoardEventType.from_delivery(delivery, key)
                last = delivery.position(key.kind)
        while True:  # then live: the feed hands over everything after `position`, in order
            delivery = await subscriber.next()
            if delivery.position(key.kind) <= last:
                continue  # already replayed
            yield _shared_event(delivery, key, context)
            last = delivery.position(key.kind)


def _shared_event(delivery: Delivery, key: FeedKey, context: Context) -> BoardEventType:
    """One BoardEvent per live delivery for all of this process's subscribers of the feed,
    with one set of loaders: they are of one firm (the feed's), and schema.shared_events runs
    each distinct subscription document once on it."""
    if "event" not in delivery.shared:
        delivery.shared["event"] = BoardEventType.from_delivery(delivery, key)
        delivery.shared["loaders"] = Loaders(context.scope)
    context.loaders = delivery.shared["loaders"]
    event: BoardEventType = delivery.shared["event"]
    return event


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(description="Every change to a pipeline's board.")
    async def board_updated(
        self, info: Info, pipeline_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[BoardEventType]:
        pk = decode_id(pipeline_id, "Pipeline", "pipelineId")
        await info.context.scope.get(Pipeline, pk, field="pipelineId")
        async for event in stream(info, FeedKey("pipeline", pk), after):
            yield event

    @strawberry.subscription(description="Every change to one job, whichever its pipeline.")
    async def job_updated(
        self, info: Info, job_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[BoardEventType]:
        pk = decode_id(job_id, "Job", "jobId")
        await info.context.scope.get(Job, pk, field="jobId")
        async for event in stream(info, FeedKey("job", pk), after):
            yield event
