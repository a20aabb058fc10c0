"""How much work each firm may have executing at once in this process.

An operation holds its cost (the guard's estimate) while it executes; a firm's operations
together hold at most `capacity`, the next wait, first come first served. So one firm sending
its most expensive documents from many clients has about one MAX_COST of work on the event
loop at a time, and other firms' requests find the loop between its steps instead of behind
all of them. Cheap operations (a board costs a few thousand) still run many at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class FirmSlots:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight: dict[int, int] = {}  # firm -> cost executing
        self.waiting: dict[int, deque[tuple[int, asyncio.Future[None]]]] = {}

    def _fits(self, firm: int, cost: int) -> bool:
        held = self.in_flight.get(firm, 0)
        return held == 0 or held + cost <= self.capacity  # one alone always runs

    async def acquire(self, firm: int, cost: int) -> None:
        if not self.waiting.get(firm) and self._fits(firm, cost):
            self.in_flight[firm] = self.in_flight.get(firm, 0) + cost
            return
        granted = asyncio.get_running_loop().create_future()
        queue = self.waiting.setdefault(firm, deque())
        queue.append((cost, granted))
        try:
            await granted
        except asyncio.CancelledError:  # e.g. the request timed out while waiting
            if granted.done() and not granted.cancelled():
                self.release(firm, cost)  # granted as it was cancelled: give it back
            else:
                with contextlib.suppress(ValueError):  # _grant may have dropped it already
                    queue.remove((cost, granted))
                self._grant(firm)  # the next in line may fit now
            raise

    def release(self, firm: int, cost: int) -> None:
        held = self.in_flight.get(firm, 0) - cost
        if held > 0:
            self.in_flight[firm] = held
        else:
            self.in_flight.pop(firm, None)
        self._grant(firm)

    def _grant(self, firm: int) -> None:
        queue = self.waiting.get(firm)
        while queue:
            cost, granted = queue[0]
            if granted.done():  # cancelled while waiting
                queue.popleft()
                continue
            if not self._fits(firm, cost):
                break
            queue.popleft()
            self.in_flight[firm] = self.in_flight.get(firm, 0) + cost
            granted.set_result(None)
        if not queue:
            self.waiting.pop(firm, None)
