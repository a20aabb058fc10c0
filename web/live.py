"""Live subscriptions without a task or a generator each.

Per process, one `Group` per watched feed is the hub's only subscriber of that feed
(realtime.hub). Its subscriptions are grouped by `Share`: the same document, operation,
variables, firm and permissions. Each delivery is rendered once per share (`render`: by the
read-path plan when it covers the document, the job subtree from the row the delivery read;
else the document executed with graphql-core on the event as root value) and the same text
is written to every socket of the share, with its operation id around it. An idle subscription is a
`LiveSub` in a share: a few slots, no task, no queue.

A subscription that resumes from a cursor first catches up from the log (its own renders:
a replayed event shows the job as it is now), keeping what the feed hands over meanwhile in
`pending`; it is live once that is sent. `last` (the position it has sent) makes the
hand-over exact: nothing twice, nothing skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError
from graphql.execution import Executor, execute_subscription_event

from realtime.hub import Delivery, Feed, FeedKey, Hub
from resolvers.live import shared_event
from schema import planned
from schema.context import Context
from schema.events import BoardEventType
from schema.extensions import present_error
from schema.loaders import Loaders
from schema.plan import EventPlan
from web.graphql_http import encode_json

log = logging.getLogger("workflow.live")
RenderKey = tuple[Any, ...]


class Share:
    """The subscriptions of one group that ask the same question."""

    __slots__ = ("context", "executor", "key", "plan", "subs")

    def __init__(self, key: RenderKey, executor: Executor[Any], context: Context) -> None:
        self.key, self.executor, self.context = key, executor, context
        self.subs: dict[LiveSub, None] = {}  # insertion-ordered set
        self.plan: EventPlan | None | bool = False  # False: not made yet; None: not covered


class Socket:
    """What a subscription writes to (web.subscriptions.Connection)."""

    __slots__ = ()
    queue_size = 500  # frames that may wait for the client; then overflow()

    def push(self, text: str) -> None:
        raise NotImplementedError

    def overflow(self) -> None:
        raise NotImplementedError

    def frame(self, op_id: str, payload: str) -> str:
        raise NotImplementedError

    def frame_head(self, op_id: str) -> bytes:
        """A next/data message of the operation up to its payload (then the payload and `}`)."""
        raise NotImplementedError

    def push_event(self, head: bytes, payload: bytes) -> None:
        """push(frame(...)) of an event, from its frame_head and its payload's bytes."""
        raise NotImplementedError


class LiveSub:
    """A subscription: the hub's subscriber of its feed, a member of its feed's group."""

    __slots__ = ("feed", "group", "head", "last", "op_id", "pending", "share", "socket")

    def __init__(self, socket: Socket, op_id: str) -> None:
        self.socket, self.op_id = socket, op_id
        self.head = socket.frame_head(op_id)
        self.feed: Feed | None = None
        self.group: Group | None = None
        self.share: Share | None = None
        self.last = 0  # the position of the last event sent, or to start after
        # deliveries handed over while catching up from the log; None once live
        self.pending: deque[Delivery] | None = deque()

    def offer(self, delivery: Delivery) -> None:
        """From the feed, in order, without awaiting."""
        if self.pending is None:
            assert self.group is not None
            self.group.enqueue(delivery)
        elif len(self.pending) >= self.socket.queue_size:
            self.socket.overflow()
        else:
            self.pending.append(delivery)

    def send(self, delivery: Delivery, payload: bytes) -> None:
        """The delivery's payload (rendered, encoded once for its share)."""
        assert self.group is not None
        self.last = delivery.position(self.group.key.kind)
        self.socket.push_event(self.head, payload)

    def leave(self, hub: Hub) -> None:
        """Out of its group and (in the background) its feed; idempotent."""
        if self.group is not None:
            self.group.remove(self)
            self.group = None
        if self.feed is not None:
            hub.detach(self.feed.key, self.feed, self)
            self.feed = None


async def render(share: Share, event: BoardEventType, loaders: Loaders) -> str:
    """The `payload` of a next/data message for the share's document on this event (JSON
    text, without the operation id). The one place where an event becomes bytes: by the
    read-path plan when it covers the document (the same text), else by the executor."""
    if planned.PLANNING.get():
        text = await render_planned(share, event)
        answered = planned.ANSWERED.get()
        if answered is not None:
            answered.append("resolvers" if text is None else "planned")
        if text is not None:
            return text
    executor = share.executor.build_per_event_executor(event)
    template = share.context
    context = Context(template.request, template.scope, template.request_id)
    context.loaders = loaders
    executor.context_value = context
    outcome = execute_subscription_event(executor)
    result = await outcome if isinstance(outcome, Awaitable) else outcome
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [
            present_error(error, template.request_id).formatted for error in result.errors
        ]
    return encode_json(payload).decode()


async def render_planned(share: Share, event: BoardEventType) -> str | None:
    """`render` by the share's plan (made once per share); None: the executor renders it."""
    if share.plan is False:
        share.plan = planned.event_plan_of(share.executor)
    plan = share.plan
    if not isinstance(plan, EventPlan):
        return None
    firm_id = share.context.scope.firm_id
    data = await planned.answer_event(plan, event, firm_id, share.executor.variable_values)
    return None if data is None else encode_json({"data": data}).decode()


async def render_shared(share: Share, delivery: Delivery, key: FeedKey) -> str:
    """`render` once per share and live delivery, for every subscription that sends it."""
    cached = delivery.shared.get(share.key)
    if cached is None:
        event = shared_event(delivery, key, share.context.scope)
        cached = delivery.shared[share.key] = asyncio.ensure_future(
            render(share, event, delivery.shared["loaders"])
        )
    payload: str = await cached
    return payload


class Group:
    """One feed's subscriptions in this process, by share: renders each live delivery once
    per share, in order, for those that are live."""

    def __init__(self, key: FeedKey, feeds: LiveFeeds) -> None:
        self.key, self.feeds = key, feeds
        self.shares: dict[RenderKey, Share] = {}
        self.queue: deque[Delivery] = deque()
        self.last_queued: Delivery | None = None
        self.drainer: asyncio.Task[None] | None = None

    def enqueue(self, delivery: Delivery) -> None:
        """Each live subscription hands the delivery over; it is queued once."""
        if delivery is self.last_queued:
            return
        self.last_queued = delivery
        self.queue.append(delivery)
        if self.drainer is None:
            self.drainer = asyncio.create_task(self._drain(), name=f"live-{self.key.channel}")

    async def _drain(self) -> None:
        try:
            while self.queue:
                delivery = self.queue.popleft()
                position = delivery.position(self.key.kind)
                shares = [
                    share
                    for share in self.shares.values()
                    if any(sub.pending is None and sub.last < position for sub in share.subs)
                ]
                if not shares:
                    continue
                try:
                    payloads = await asyncio.gather(
                        *(render_shared(share, delivery, self.key) for share in shares)
                    )
                except Exception:
                    log.exception("rendering an event of %s failed", self.key.channel)
                    continue
                for share, text in zip(shares, payloads, strict=True):
                    payload = text.encode()  # once for every socket of the share
                    for sub in list(share.subs):
                        if sub.pending is None and sub.last < position:
                            sub.send(delivery, payload)
        finally:
            self.drainer = None
            if not self.queue:
                self.last_queued = None

    def add(self, sub: LiveSub, key: RenderKey, make: Callable[[], Share]) -> None:
        """The subscription, catching up, in the share of `key` (made by `make` if new)."""
        share = self.shares.get(key)
        if share is None:
            share = self.shares[key] = make()
        share.subs[sub] = None
        sub.group, sub.share = self, share

    def remove(self, sub: LiveSub) -> None:
        share = sub.share
        assert share is not None
        share.subs.pop(sub, None)
        if not share.subs and self.shares.get(share.key) is share:
            del self.shares[share.key]
            if not self.shares:
                self.feeds.dispose(self)


class LiveFeeds:
    """The process's groups, made with their first subscription and dropped with the last."""

    def __init__(self, hub: Hub, queue_size: int) -> None:
        self.hub, self.queue_size = hub, queue_size
        self.groups: dict[FeedKey, Group] = {}

    def group(self, key: FeedKey) -> Group:
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, self)
        return group

    def dispose(self, group: Group) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]
        group.queue.clear()


def error_payload(errors: list[GraphQLError]) -> str:
    return encode_json({"data": None, "errors": [error.formatted for error in errors]}).decode()
