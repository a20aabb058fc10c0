"""Feeds: per process, one per watched channel (a pipeline's board, or one job), fanning the
event log out to local subscribers in order, without gaps or duplicates.

A feed knows the last position it delivered (a pipeline's seq, or a job's event id). When the
broker says there is news, or every POLL_INTERVAL anyway, it reads the log after that position
(one query per process, not per subscriber) and hands the events to every subscriber's bounded
queue. Within a pipeline the seq is taken under a lock on the pipeline row, and a job's events
are written under the lock of its pipeline, so "after my position" is exact for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from tortoise.functions import Max

from models import Job, JobEvent, Pipeline
from realtime.broker import Broker

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
BATCH = 500


@dataclass(frozen=True, slots=True)
class FeedKey:
    kind: str  # "pipeline" or "job"
    id: int

    @property
    def channel(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event and the job as it was when the feed read the event. `shared` holds what the
    feed's local subscribers build from it once for all (see resolvers.live)."""

    event: JobEvent
    job: Job | None
    shared: dict[Any, Any] = field(default_factory=dict, compare=False)

    def position(self, kind: str) -> int:
        return self.event.seq if kind == "pipeline" else self.event.id


class Sink(Protocol):
    """What a feed hands its deliveries to, in order, synchronously (a Subscriber, or a
    process-wide group of websocket subscriptions that renders each delivery once)."""

    def offer(self, delivery: Delivery) -> None: ...


class Overflow(Exception):
    """The subscriber stopped reading and its queue filled up."""


class Subscriber:
    """A subscriber's deliveries not yet taken: at most `queue_size`, read by one consumer. (A
    deque and a future: an asyncio.Queue costs ~3 KB more per idle subscriber.)"""

    def __init__(self, on_overflow: Callable[[], None], queue_size: int) -> None:
        self.pending: deque[Delivery] = deque()
        self.queue_size = queue_size
        self.on_overflow = on_overflow
        self.overflowed = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed:
            return
        if len(self.pending) >= self.queue_size:
            self.overflowed = True
            self.on_overflow()
        else:
            self.pending.append(delivery)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next(self) -> Delivery:
        while not self.overflowed and not self.pending:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.overflowed:
            raise Overflow
        return self.pending.popleft()


async def read_log(key: FeedKey, after: int, limit: int = BATCH) -> list[Delivery]:
    """Events of a pipeline (by seq) or of a job (by id) after a position, with their jobs."""
    if key.kind == "pipeline":
        query = JobEvent.filter(pipeline_id=key.id, seq__gt=after).order_by("seq")
    else:
        query = JobEvent.filter(job_id=key.id, id__gt=after).order_by("id")
    events = await query.limit(limit)
    job_ids = {e.job_id for e in events if e.job_id is not None}
    jobs = {job.id: job for job in await Job.filter(id__in=job_ids)} if job_ids else {}
    return [Delivery(e, jobs.get(e.job_id) if e.job_id else None) for e in events]


async def log_position(key: FeedKey) -> int:
    if key.kind == "pipeline":
        # flat=True: values, not the tuples tortoise's typing says
        seq: list[int] = await Pipeline.filter(id=key.id).values_list("event_seq", flat=True)  # type: ignore[assignment]
        return int(seq[0]) if seq else 0
    last = JobEvent.filter(job_id=key.id).annotate(last=Max("id"))
    found: list[int | None] = await last.values_list("last", flat=True)  # type: ignore[assignment]
    return int(found[0] or 0) if found else 0


class Feed:
    def __init__(self, key: FeedKey, position: int) -> None:
        self.key = key
        self.position = position
        self.subscribers: set[Sink] = set()
        self._wanted = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"feed-{key.channel}")

    def notify(self, _: str = "") -> None:
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                while batch := await read_log(self.key, self.position):
                    for delivery in batch:  # no await in here: a joiner sees all or nothing
                        for subscriber in list(self.subscribers):
                            subscriber.offer(delivery)
                    self.position = batch[-1].position(self.key.kind)
            except Exception:  # the database hiccuped: the next poll tries again
                log.exception("feed %s could not read the log", self.key.channel)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Hub:
    """The process's feeds, created on first subscriber and dropped with the last."""

    def __init__(self, broker: Broker, queue_size: int = 500) -> None:
        self.broker = broker
        self.queue_size = queue_size
        self.feeds: dict[FeedKey, Feed] = {}
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.broker.start()
        self._poller = asyncio.create_task(self._poll(), name="feed-poller")

    async def close(self) -> None:
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for feed in list(self.feeds.values()):
            await feed.stop()
        self.feeds.clear()
        await self.broker.close()

    def wake_all(self) -> None:
        for feed in self.feeds.values():
            feed.notify()

    async def publish(self, events: list[JobEvent]) -> None:
        """After commit: tell every process which channels have news. In the background, so
        a slow or absent Redis never delays the mutation (feeds poll the log anyway)."""
        task = asyncio.create_task(self._notify(events))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _notify(self, events: list[JobEvent]) -> None:
        # A notification only wakes the feeds, which read the log: it says which event (its
        # sequence may not be known here: workflow.unit.Change.finish).
        for event in events:
            pipeline = FeedKey("pipeline", event.pipeline_id)
            await self.broker.publish(pipeline.channel, str(event.id))
            if event.job_id is not None:
                await self.broker.publish(FeedKey("job", event.job_id).channel, str(event.id))

    @contextlib.asynccontextmanager
    async def subscribe(
        self, key: FeedKey, on_overflow: Callable[[], None]
    ) -> AsyncIterator[tuple[Subscriber, int]]:
        """A subscriber to a feed, and the position after which its queue starts.

        Joining and leaving are shielded from cancellation (a client that hangs up mid-way):
        half-done, they would leave a feed, or a Redis subscription, that nobody reads."""
        subscriber = Subscriber(on_overflow, self.queue_size)
        feed, position = await self.attach(key, subscriber)
        try:
            yield subscriber, position
        finally:
            await asyncio.shield(self._in_background(self._leave(key, feed, subscriber)))

    async def attach(self, key: FeedKey, sink: Sink) -> tuple[Feed, int]:
        """Add a sink to the key's feed (made if needed), and the position after which it is
        handed every delivery (it may be handed some before this returns). Shielded from
        cancellation: a half-done join is undone in the background."""
        joining = asyncio.ensure_future(self._join(key, sink))
        try:
            feed, position = await asyncio.shield(joining)
        except BaseException:
            joining.add_done_callback(
                lambda done: (
                    done.cancelled()
                    or done.exception()
                    or (self._in_background(self._leave(key, done.result()[0], sink)))
                )
            )
            raise
        return feed, position

    def detach(self, key: FeedKey, feed: Feed, sink: Sink) -> None:
        """Remove a sink (in the background: the feed and its Redis subscription go with
        the last one)."""
        self._in_background(self._leave(key, feed, sink))

    async def _join(self, key: FeedKey, subscriber: Sink) -> tuple[Feed, int]:
        async with self._lock:
            feed = self.feeds.get(key)
            if feed is None:
                feed = Feed(key, await log_position(key))
                self.feeds[key] = feed
                await self.broker.listen(key.channel, feed.notify)
                feed.notify()  # whatever committed between reading the position and listening
            feed.subscribers.add(subscriber)
            return feed, feed.position

    async def _leave(self, key: FeedKey, feed: Feed, subscriber: Sink) -> None:
        async with self._lock:
            feed.subscribers.discard(subscriber)
            if not feed.subscribers and self.feeds.get(key) is feed:
                del self.feeds[key]
                await self.broker.unlisten(key.channel, feed.notify)
                await feed.stop()

    def _in_background(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _poll(self) -> None:
        """Catch up every feed whose log moved without a notification reaching us."""
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                await self._poll_once()
            except Exception:
                log.exception("feed poll failed")

    async def _poll_once(self) -> None:
        pipelines = {k.id: f for k, f in self.feeds.items() if k.kind == "pipeline"}
        jobs = {k.id: f for k, f in self.feeds.items() if k.kind == "job"}
        if pipelines:
            for pk, seq in await Pipeline.filter(id__in=list(pipelines)).values_list(
                "id", "event_seq"
            ):
                if seq > pipelines[pk].position:
                    pipelines[pk].notify()
        if jobs:
            latest = JobEvent.filter(job_id__in=list(jobs)).annotate(last=Max("id"))
            rows = await latest.group_by("job_id").values_list("job_id", "last")
            for pk, last in rows:
                if last > jobs[pk].position:
                    jobs[pk].notify()
