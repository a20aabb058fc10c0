"""Rate limits in query cost per minute, per token and per firm (and, with longer windows,
the portal's sign-in links per address and per client IP).

Fixed windows, of one minute unless the caller says otherwise. With Redis the counters are
shared by every process (INCRBY on a key that expires with its window); without it they live
in this process, which is then the only one. A request over a limit is refused and its cost
given back, so refused retries do not dig the hole deeper. If Redis is unreachable the limit
is not enforced: availability of the firm's work matters more than the limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
WINDOW = 60.0

Budget = tuple[str, int]  # (counter key, cost allowed per window; 0 = unlimited)


class RateLimiter(Protocol):
    async def charge(self, budgets: Sequence[Budget], cost: int, window: float = WINDOW) -> float:
        """Spend `cost` on every budget of the current `window`-second window; the seconds to
        wait if one is exhausted, else 0."""
        ...

    async def close(self) -> None: ...


def _window(now: float, length: float) -> tuple[int, float]:
    """The current window's number and the seconds left in it."""
    return int(now // length), length - now % length


class InProcessRateLimiter:
    def __init__(self) -> None:
        self.spent: dict[tuple[str, float, int], int] = {}  # (key, window, its number)

    async def charge(self, budgets: Sequence[Budget], cost: int, window: float = WINDOW) -> float:
        number, left = _window(time.time(), window)
        active = [((key, window, number), limit) for key, limit in budgets if limit]
        if any(self.spent.get(key, 0) + cost > limit for key, limit in active):
            return left
        if len(self.spent) > 10_000:  # forget finished windows
            now = time.time()
            self.spent = {k: v for k, v in self.spent.items() if k[2] == int(now // k[1])}
        for key, _ in active:
            self.spent[key] = self.spent.get(key, 0) + cost
        return 0.0

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)

    async def charge(self, budgets: Sequence[Budget], cost: int, window: float = WINDOW) -> float:
        number, left = _window(time.time(), window)
        suffix = "" if window == WINDOW else f":{window:g}s"  # the one-minute keys as they were
        active = [(f"ratelimit:{key}{suffix}:{number}", limit) for key, limit in budgets if limit]
        if not active:
            return 0.0
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, _ in active:
                    pipe.incrby(key, cost)
                    pipe.expire(key, int(window) * 2)
                totals = (await pipe.execute())[::2]
            if all(total <= limit for total, (_, limit) in zip(totals, active, strict=True)):
                return 0.0
            async with self.client.pipeline(transaction=False) as pipe:
                for key, _ in active:
                    pipe.decrby(key, cost)
                await pipe.execute()
            return left
        except (RedisError, OSError) as error:
            log.warning("rate limits not enforced: Redis unreachable (%s)", error)
            return 0.0

    async def close(self) -> None:
        await self.client.aclose()


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else InProcessRateLimiter()
