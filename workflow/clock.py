"""The time by which dated work falls due (reminders; later, schedules and deadlines): one
clock that a test can set, so time-driven behaviour is tested without waiting for a date.

`now()` is the wall clock (UTC) unless a test holds it:
- in its own process, `frozen(at)` holds it at a moment, which the test moves with `advance`;
- in a server process it started, the TEST_CLOCK_FILE setting names a file holding an ISO
  instant (`configure`): `now()` is that instant, standing still until the test writes another
  (`set_file`, a write-and-rename). For tests only: the server logs it as a WARNING at start,
  and an unreadable file stops it (settings.load).
Timestamps the database writes itself (created_at) stay wall-clock.

The file is read again only when it was replaced: `now()` costs a stat() more (~4 us in all
on the shared test machine, against the wall clock's ~0.7 us); nothing more without a file. A
replacement is seen by its inode (a rename always brings a new one), not by its mtime alone,
which the kernel counts in ticks: two writes in one tick would look alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from settings import clock_file_instant

_fixed: list[datetime] = []  # the moment a test holds the clock at, if any
_file: str | None = None  # TEST_CLOCK_FILE, in a process a test started
_read: tuple[tuple[int, int, int], datetime] | None = None  # (inode, mtime, size), its instant


def now() -> datetime:
    if _fixed:
        return _fixed[-1]
    if _file is None:
        return datetime.now(UTC)
    return _from_file(_file)


def _from_file(path: str) -> datetime:
    global _read
    stat = os.stat(path)
    key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if _read is None or _read[0] != key:
        _read = key, clock_file_instant(path)
    return _read[1]


def configure(path: str | None) -> None:
    """Follow the clock file at `path` from now on (None: the wall clock)."""
    global _file, _read
    _file, _read = path, None
    if path is not None:
        _from_file(path)  # fails here, at start, rather than in the first dated pass


def set_file(path: str | Path, at: datetime) -> None:
    """Set the clock of the processes that follow the file at `path` (whole, by rename: a
    reader never sees half a write)."""
    if at.tzinfo is None:
        raise ValueError("the clock needs a timezone-aware datetime")
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_text(at.astimezone(UTC).isoformat())
    os.replace(partial, target)


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
