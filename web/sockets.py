"""Open websockets: how many each token and firm may hold, how fast they may start
subscriptions, and closed as soon as the token they authenticated with stops working.

A revocation (token revoked, user deactivated or their role changed) is announced on the
broker's "access" channel, so every process closes its sockets of that token or user with 4401
at once; a periodic re-check of every open socket's token covers a lost announcement.

The limits are per process (MAX_SOCKETS_PER_TOKEN, MAX_SOCKETS_PER_FIRM,
SUBSCRIPTION_STARTS_PER_10S, FIRM_SUBSCRIPTION_STARTS_PER_10S): they keep one firm from taking
a process's connections and event loop; with several processes a firm may hold that much on
each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from realtime.broker import Broker
from workflow.firms import live_token_ids
from workflow.scope import Scope

log = logging.getLogger(__name__)
CHANNEL = "access"
REVOKED_CLOSE_CODE = 4401
RECHECK_INTERVAL = 10.0
START_WINDOW = 10.0  # seconds: subscription starts are counted per 10 s


class StartLimits:
    """Subscription starts per token and per firm: token buckets that hold up to `per_token`
    (`per_firm`) starts and refill continuously over `window` seconds, so a client may start
    a board's worth of subscriptions at once, then one every window/limit seconds. 0: no limit.
    """

    def __init__(
        self,
        per_token: int,
        per_firm: int,
        window: float = START_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_token, self.per_firm, self.window, self.clock = per_token, per_firm, window, clock
        self.buckets: dict[tuple[str, int], tuple[float, float]] = {}  # key: (level, at)
        self._pruned = clock()

    def take(self, scope: Scope) -> float:
        """Count one start of the scope's token and firm: 0, or (counting nothing) the seconds
        until one is allowed."""
        now = self.clock()
        levels: list[tuple[tuple[str, int], float]] = []
        wait = 0.0
        for key, limit in (
            (("token", scope.token_id or 0), self.per_token),
            (("firm", scope.firm_id), self.per_firm),
        ):
            if not limit:
                continue
            level, at = self.buckets.get(key, (float(limit), now))
            level = min(float(limit), level + (now - at) * limit / self.window)
            levels.append((key, level))
            if level < 1:
                wait = max(wait, (1 - level) * self.window / limit)
        for key, level in levels:
            self.buckets[key] = (level if wait else level - 1, now)
        if now - self._pruned >= self.window:  # a bucket untouched for a window is full:
            self.buckets = {  # the same as none
                key: bucket for key, bucket in self.buckets.items() if now - bucket[1] < self.window
            }
            self._pruned = now
        return wait


class Socket(Protocol):
    """An open websocket (web.subscriptions.Connection)."""

    @property
    def closed(self) -> bool: ...

    async def close(self, code: int, reason: str) -> None: ...


class OpenSockets:
    def __init__(
        self,
        broker: Broker,
        max_per_token: int = 0,
        max_per_firm: int = 0,
        starts: StartLimits | None = None,
    ) -> None:
        self.broker = broker
        self.max_per_token, self.max_per_firm = max_per_token, max_per_firm
        self.starts = starts or StartLimits(0, 0)
        self.sockets: dict[Socket, Scope] = {}
        self.per_token: Counter[int] = Counter()
        self.per_firm: Counter[int] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        self._recheck: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.broker.listen(CHANNEL, self._on_message)
        self._recheck = asyncio.create_task(self._recheck_forever(), name="socket-recheck")

    async def close(self) -> None:
        await self.broker.unlisten(CHANNEL, self._on_message)
        if self._recheck:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recheck

    def admit(self, websocket: Socket, scope: Scope) -> str | None:
        """Count the socket for its token and firm; or, if either holds its limit already,
        why not (and count nothing)."""
        token = scope.token_id or 0
        if self.max_per_token and self.per_token[token] >= self.max_per_token:
            return f"this token has {self.max_per_token} open websockets already"
        if self.max_per_firm and self.per_firm[scope.firm_id] >= self.max_per_firm:
            return f"this firm has {self.max_per_firm} open websockets already"
        self.sockets[websocket] = scope
        self.per_token[token] += 1
        self.per_firm[scope.firm_id] += 1
        return None

    def remove(self, websocket: Socket) -> None:
        """The socket is gone (or going): it no longer counts."""
        scope = self.sockets.pop(websocket, None)
        if scope is None:
            return
        token = scope.token_id or 0
        for counter, key in ((self.per_token, token), (self.per_firm, scope.firm_id)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    async def announce(self, token_ids: list[int], user_ids: list[int]) -> None:
        """Tell every process (this one included) to close these tokens' and users' sockets."""
        message = json.dumps({"tokens": token_ids, "users": user_ids})
        await self.broker.publish(CHANNEL, message)

    def _on_message(self, message: str) -> None:
        try:
            revoked = json.loads(message)
            tokens, users = set(revoked["tokens"]), set(revoked["users"])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed access message: %.100s", message)
            return
        self._close_where(lambda s: s.token_id in tokens or s.user_id in users)

    def _close_where(self, revoked: Callable[[Scope], bool]) -> None:
        for websocket, scope in list(self.sockets.items()):
            if revoked(scope) and not websocket.closed:
                self.remove(websocket)
                task = asyncio.create_task(
                    websocket.close(REVOKED_CLOSE_CODE, "token no longer valid")
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_INTERVAL)
            try:
                await self._close_dead_tokens()
            except Exception:
                log.exception("re-checking open websockets' tokens failed; will retry")

    async def _close_dead_tokens(self) -> None:
        open_tokens = {s.token_id for s in self.sockets.values() if s.token_id}
        dead = open_tokens - await live_token_ids(open_tokens)
        if dead:
            self._close_where(lambda s: s.token_id in dead)
