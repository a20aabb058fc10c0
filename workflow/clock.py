"""The time by which dated work falls due (reminders; later, schedules and deadlines): one
clock that a test can set, so time-driven behaviour is tested without waiting for a date.

`now()` is the wall clock (UTC) unless `frozen(at)` holds it at a moment, which the test then
moves with `advance`. Timestamps the database writes itself (created_at) stay wall-clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_fixed: list[datetime] = []  # the moment a test holds the clock at, if any


def now() -> datetime:
    return _fixed[-1] if _fixed else datetime.now(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Hold the clock at `at` (timezone-aware) inside the block; `advance` moves it."""
    if at.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware datetime")
    _fixed.append(at)
    try:
        yield
    finally:
        _fixed.pop()


def advance(by: timedelta) -> datetime:
    """Move a frozen clock forward; the new time."""
    if not _fixed:
        raise RuntimeError("the clock is not frozen")
    _fixed[-1] += by
    return _fixed[-1]
