"""Dated work: what falls due by the clock (workflow.clock) rather than after a commit.
Reminders now (workflow.reminders); the time-and-recurrence issue's occurrences, deadlines and
date triggers take the same shape. automations.scheduler runs every kind.

A kind of dated work is a function `(limit, progress) -> how many items it did` that does what
is due at clock.now(): each item once whatever the number of schedulers (claimed by id, checked
again under its job's lock, in a change of its own), due items of every firm taken in turns.
`Progress` is what a scheduler keeps from one pass to the next.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from models import sql
from models.db import is_postgres
from models.sql import FirmTurns

# An item whose change failed is passed over for this long (doubling with each failure, at
# most RETRY_MAX), so one broken item neither stops the others nor fills the log every poll.
RETRY_FIRST = 5.0
RETRY_MAX = 3600.0


@dataclass
class Progress:
    """Where one kind of dated work stands in a scheduler: the round robin between firms,
    and the items held back after a failure (failures so far, monotonic time to retry at)."""

    turns: FirmTurns = field(default_factory=FirmTurns)
    held_back: dict[Hashable, tuple[int, float]] = field(default_factory=dict)

    def holding(self) -> set[Hashable]:
        """The items to pass over now."""
        now = time.monotonic()
        return {key for key, (_, retry_at) in self.held_back.items() if retry_at > now}

    def failed(self, key: Hashable) -> None:
        failures = self.held_back.get(key, (0, 0.0))[0] + 1
        delay = min(RETRY_FIRST * 2 ** (failures - 1), RETRY_MAX)
        self.held_back[key] = (failures, time.monotonic() + delay)

    def done(self, key: Hashable) -> None:
        self.held_back.pop(key, None)


DatedWork = Callable[[int, Progress | None], Awaitable[int]]

CLAIM = 'SELECT pg_try_advisory_xact_lock(?, ?) AS "claimed"'


async def claim(lock_class: int, item_id: int) -> bool:
    """Claim a due item for the current transaction, or False if another scheduler holds it.
    On PostgreSQL a transaction-level advisory lock (`lock_class`: the kind's own first key),
    not a row lock: a staff change locks the job, then the item (workflow.unit's lock order),
    and a scheduler holding the item's row while it waits for the job would deadlock with it.
    SQLite has one writer at a time: the check under the job's lock suffices."""
    if not is_postgres():
        return True
    rows = await sql.fetch(CLAIM, [lock_class, item_id])
    return bool(rows[0]["claimed"])
