"""Subscriptions: a board's or a job's events, replayed from a cursor, then live.

The websocket handler (web.subscriptions) serves them without a task or a generator per
subscription: it opens the source with `open_source`, joins the feed, checks the cursor with
`check_resume` and replays from the log itself. The strawberry fields below define the
schema (and serve any other transport the same way, through `stream`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

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


async def _board(context: Context, pipeline_id: str) -> FeedKey:
    pk = decode_id(pipeline_id, "Pipeline", "pipelineId")
    await context.scope.get(Pipeline, pk, field="pipelineId")
    return FeedKey("pipeline", pk)


async def _job(context: Context, job_id: str) -> FeedKey:
    pk = decode_id(job_id, "Job", "jobId")
    await context.scope.get(Job, pk, field="jobId")
    return FeedKey("job", pk)


# The subscription root fields, by GraphQL name: the feed each one follows, and the name of
# its argument that names it.
SOURCES: dict[str, tuple[Callable[[Context, str], Awaitable[FeedKey]], str]] = {
    "boardUpdated": (_board, "pipelineId"),
    "jobUpdated": (_job, "jobId"),
}


async def open_source(
    context: Context, field: str, args: dict[str, Any]
) -> tuple[FeedKey, int | None]:
    """The feed a subscription field follows and the position to resume after (None: from
    now on); raises a DomainError for what the caller may not see or a bad cursor."""
    opener, argument = SOURCES[field]
    key = await opener(context, args[argument])
    return key, decode_feed_cursor(args.get("after"), key)


async def check_resume(key: FeedKey, start: int | None, position: int) -> None:
    """Whether a subscription that joined the feed at `position` may resume after `start`."""
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


async def stream(info: Info, field: str, args: dict[str, Any]) -> AsyncGenerator[BoardEventType]:
    """Every event after the cursor (or from now on) in order, once each, then live ones."""
    context = info.context
    key, start = await open_source(context, field, args)
    async with context.hub.subscribe(key, context.close_slow_consumer) as (subscriber, position):
        await check_resume(key, start, position)
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
            event = shared_event(delivery, key, context.scope)
            context.loaders = delivery.shared["loaders"]
            yield event
            last = delivery.position(key.kind)


def shared_event(delivery: Delivery, key: FeedKey, scope: Any) -> BoardEventType:
    """One BoardEvent per live delivery for all of this process's subscribers of the feed,
    with one set of loaders (`delivery.shared["loaders"]`): they are of one firm (the
    feed's), and each distinct subscription document runs once on it."""
    if "event" not in delivery.shared:
        delivery.shared["event"] = BoardEventType.from_delivery(delivery, key)
        delivery.shared["loaders"] = Loaders(scope)
    event: BoardEventType = delivery.shared["event"]
    return event


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(description="Every change to a pipeline's board.")
    async def board_updated(
        self, info: Info, pipeline_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[BoardEventType]:
        args = {"pipelineId": pipeline_id, "after": after}
        async for event in stream(info, "boardUpdated", args):
            yield event

    @strawberry.subscription(description="Every change to one job, whichever its pipeline.")
    async def job_updated(
        self, info: Info, job_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[BoardEventType]:
        async for event in stream(info, "jobUpdated", {"jobId": job_id, "after": after}):
            yield event
