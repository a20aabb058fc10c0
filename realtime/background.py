"""A background loop that does its work when woken (after commits) and every POLL_INTERVAL:
the shape of the automation runner, the webhook sender and the scheduler; and (from
models.sql, where the domain's dated work reaches it too) the round robin between firms by
which they take due work."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from models.sql import IN_FIRM_TURNS, FirmTurns

log = logging.getLogger(__name__)
POLL_INTERVAL = 1.0

__all__ = ["IN_FIRM_TURNS", "POLL_INTERVAL", "BackgroundLoop", "FirmTurns"]


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
