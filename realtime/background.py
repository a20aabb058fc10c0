"""A background loop that does its work when woken (after commits) and every POLL_INTERVAL:
the shape of the automation runner, the webhook sender and the scheduler; and (from
models.sql, where the domain's dated work reaches it too) the round robin between firms by
which they take due work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from models.sql import IN_FIRM_TURNS, FirmTurns

log = logging.getLogger(__name__)
POLL_INTERVAL = 1.0

__all__ = ["IN_FIRM_TURNS", "POLL_INTERVAL", "BackgroundLoop", "FirmTurns"]


class FirmItem(Protocol):
    """A unit of background work of one firm: a webhook delivery, an email."""

    @property
    def id(self) -> int: ...

    @property
    def firm_id(self) -> int: ...


Item = TypeVar("Item", bound=FirmItem)


class InFlight(Generic[Item]):
    """The attempts a loop (the webhook sender, the mailer) has under way, and how many are
    each firm's: at most `per_firm` at once, so a firm whose attempts hang holds its few
    slots, not the loop."""

    def __init__(self, per_firm: int) -> None:
        self.per_firm = per_firm
        self.items: dict[int, Item] = {}
        self.firms: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self.items)

    def add(self, item: Item) -> None:
        self.items[item.id] = item
        self.firms[item.firm_id] += 1

    def remove(self, item: Item) -> None:
        if self.items.pop(item.id, None) is None:
            return
        self.firms[item.firm_id] -= 1
        self.firms = +self.firms  # without the zeros

    def full_firms(self) -> list[int]:
        return [firm for firm, count in self.firms.items() if count >= self.per_firm]

    def choose(self, rows: Sequence[Mapping[str, Any]], limit: int) -> list[int]:
        """The ids of up to `limit` due rows (each with its id and firm_id, in turns) that
        fit in their firms' free slots. The query asks for len(self) rows more than `limit`:
        a firm with attempts in flight may get rows it has no slot for."""
        taken: Counter[int] = Counter()
        chosen: list[int] = []
        for row in rows:
            if self.firms[row["firm_id"]] + taken[row["firm_id"]] < self.per_firm:
                taken[row["firm_id"]] += 1
                chosen.append(row["id"])
                if len(chosen) == limit:
                    break
        return chosen


class BackgroundLoop:
    name = "background"
    owed_work: str | None = None  # what a commit must leave for this loop to be woken by it

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel: work in flight rolls back (runs) or leaves its lease to expire (webhooks)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wake(self, _: object = None) -> None:
        self._wake.set()

    async def work(self) -> None:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_INTERVAL):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.work()
            except Exception:
                log.exception("%s failed; retrying", self.name)
