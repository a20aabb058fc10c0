"""A background loop that does its work when woken (after commits) and every POLL_INTERVAL:
the shape of the automation runner and the webhook sender; and the round robin between firms
by which both take due work."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)
POLL_INTERVAL = 1.0


# Due work in firm turns: `turn` numbers each firm's due items (ROW_NUMBER() OVER (PARTITION
# BY firm_id ...), SQLite 3.25+ and PostgreSQL); every firm's first item comes before any
# firm's second, and among firms the one after the firm served last goes first (bound: the
# last firm's id). So a firm with thousands of due items delays another firm's item by one
# item per busy firm, not by its backlog, and no firm stays at the back of a round.
IN_FIRM_TURNS = 'ORDER BY "turn", CASE WHEN "firm_id" > ? THEN 0 ELSE 1 END, "firm_id"'


class FirmTurns:
    """Where the round robin between firms stands: the firm served last (0: none yet)."""

    def __init__(self) -> None:
        self.last_firm = 0

    def served(self, firm_id: int) -> None:
        self.last_firm = firm_id


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
