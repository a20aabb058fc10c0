"""The export runner: claims waiting exports, writes each one's file from one snapshot
(exporter.snapshot), finishes it with an EXPORT_FINISHED webhook, and deletes files past
their retention. It runs where the automation runner runs (web.workers), is woken after
startExport commits, and polls.

Exactly once, whichever process picks an export up: claiming leases it in a short transaction
(FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer): status RUNNING, lease_until,
attempts + 1. Only the attempt that holds the lease (the same attempts) finishes it, in one
transaction that also writes its webhook deliveries. A worker that dies leaves the lease to
expire; the next claim takes the export again (a new attempt, a new file), up to
MAX_ATTEMPTS, then FAILED.

Fair between firms: one export of a firm runs at a time across every process (FIRM_RUNNING;
claims are serialised by a transaction-level advisory lock on PostgreSQL, so two processes
cannot both see a firm idle), due exports are taken in firm turns (models.sql.IN_FIRM_TURNS),
and a runner runs at most MAX_RUNNING at once: a firm with many exports queued delays another
firm by one export at most.

A file is written under a temporary name with mode 0600 and renamed to its final name in the
transaction that marks the export FINISHED; the sweep (by workflow.clock, so tests move time)
deletes it once expires_at has passed and marks the export EXPIRED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from exporter.snapshot import PipelineGone, write_jobs
from models import Export, ExportStatus, sql
from models.db import is_postgres
from realtime.background import IN_FIRM_TURNS, BackgroundLoop, FirmTurns
from workflow import clock, exports, unit
from workflow.global_ids import global_id
from workflow.scope import NOBODY
from workflow.webhook_outbox import EXPORT_FINISHED, enqueue_messages

log = logging.getLogger("workflow.exports")

LEASE = timedelta(minutes=15)  # an attempt still running after this is taken for dead
MAX_ATTEMPTS = 3
FIRM_RUNNING = 1  # exports of one firm running at once, across every process
MAX_RUNNING = 2  # exports one runner has under way at once
CLAIM_LOCK = 7_346_201  # the advisory lock that serialises claims on PostgreSQL
SWEEP_BATCH = 100

# Due exports in firm turns, oldest first within a firm, leaving out firms already at their
# cap. Hand-written: tortoise has no window functions.
DUE = (
    'SELECT "id", "firm_id" FROM (SELECT "id", "firm_id", ROW_NUMBER() OVER '
    '(PARTITION BY "firm_id" ORDER BY "id") AS "turn" FROM "export" '
    'WHERE ("status" = ? OR ("status" = ? AND "lease_until" <= ?)) AND "attempts" < ? '
    'AND "firm_id" NOT IN (SELECT "firm_id" FROM "export" WHERE "status" = ? '
    'AND "lease_until" > ? GROUP BY "firm_id" HAVING COUNT(*) >= ?)) AS "due" '
    f'WHERE "turn" <= ? {IN_FIRM_TURNS}, "id" LIMIT ?'
)


async def claim(limit: int = 1, turns: FirmTurns | None = None) -> list[Export]:
    """Lease up to `limit` due exports in firm turns, at most FIRM_RUNNING of a firm."""
    turns = turns or FirmTurns()
    now = clock.now()
    running, pending = ExportStatus.RUNNING.value, ExportStatus.PENDING.value
    async with in_transaction():
        if is_postgres():
            await sql.fetch("SELECT pg_advisory_xact_lock(?)", [CLAIM_LOCK])
        # Leases that expired on their last attempt: out of attempts.
        await Export.filter(
            status=ExportStatus.RUNNING, lease_until__lte=now, attempts__gte=MAX_ATTEMPTS
        ).update(status=ExportStatus.FAILED, error="the export did not finish in its attempts")
        rows = await sql.fetch(
            DUE,
            [
                pending,
                running,
                now,
                MAX_ATTEMPTS,
                running,
                now,
                FIRM_RUNNING,
                FIRM_RUNNING,
                turns.last_firm,
                limit,
            ],
        )
        chosen = [row["id"] for row in rows]
        if not chosen:
            return []
        due = Export.filter(id__in=chosen, status__in=(ExportStatus.PENDING, ExportStatus.RUNNING))
        if is_postgres():
            due = due.select_for_update(skip_locked=True)
        order = {export_id: n for n, export_id in enumerate(chosen)}
        claimed = sorted(
            (e for e in await due if e.status == ExportStatus.PENDING or _expired(e, now)),
            key=lambda e: order[e.id],
        )
        if not claimed:
            return []
        await Export.filter(id__in=[e.id for e in claimed]).update(
            status=ExportStatus.RUNNING, lease_until=now + LEASE, attempts=F("attempts") + 1
        )
    for export in claimed:
        export.attempts += 1
        export.status = ExportStatus.RUNNING
    turns.served(claimed[-1].firm_id)
    return claimed


def _expired(export: Export, now: datetime) -> bool:
    return export.lease_until is not None and export.lease_until <= now


def _open_part(folder: Path, export: Export) -> tuple[Path, BinaryIO]:
    """A new file for this attempt, readable by the server's user alone (0600)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = folder / f".{export.id}-{export.attempts}-{secrets.token_hex(8)}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return part, os.fdopen(fd, "wb", buffering=1 << 20)


def finished_payload(export: Export, job_count: int, url: str) -> dict[str, object]:
    return {
        "type": EXPORT_FINISHED,
        "timestamp": clock.now().isoformat(),
        "data": {
            "exportId": global_id("Export", export.id),
            "pipelineId": global_id("Pipeline", export.pipeline_id),
            "jobCount": job_count,
            "url": url,
        },
    }


async def run(export: Export, fixed: Callable[[], Awaitable[None]] | None = None) -> bool:
    """Write a claimed export's file and finish it; True if this attempt finished it.
    `fixed` runs once its snapshot is fixed (tests change the board there)."""
    config = exports.CONFIG
    part, file = _open_part(config.folder, export)
    try:
        with file as out:
            written = await write_jobs(
                export.firm_id, export.pipeline_id, export.include, out, fixed
            )
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())
        return await _finish(export, part, written.event_seq, written.job_count)
    except PipelineGone:
        await _fail(export, "the pipeline was deleted", retry=False)
        return False
    except Exception as error:
        log.exception("export %s failed (attempt %s)", export.id, export.attempts)
        await _fail(export, f"{type(error).__name__}: {error}"[:500], retry=True)
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


async def _finish(export: Export, part: Path, event_seq: int, job_count: int) -> bool:
    name = f"{export.id}-{secrets.token_hex(12)}.jsonl"
    final = exports.CONFIG.folder / name
    url = exports.url(global_id("Export", export.id))
    now = clock.now()
    try:
        # A change of no firm: no catalog version to bump, and the sender is woken after it
        # commits (the deliveries it owes).
        async with unit.change(NOBODY):
            os.replace(part, final)
            mine = await Export.filter(
                id=export.id, status=ExportStatus.RUNNING, attempts=export.attempts
            ).update(
                status=ExportStatus.FINISHED,
                event_seq=event_seq,
                job_count=job_count,
                file_name=name,
                finished_at=now,
                expires_at=now + exports.CONFIG.retention,
                lease_until=None,
                error=None,
            )
            if not mine:  # the lease passed to another attempt: its file wins
                raise _LostLease
            payload = finished_payload(export, job_count, url)
            if await enqueue_messages(
                export.firm_id, [(EXPORT_FINISHED, export.pipeline_id, payload)]
            ):
                unit.owe(unit.DELIVERIES)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            final.unlink()
        if isinstance(error, _LostLease):
            log.warning("export %s: attempt %s lost its lease", export.id, export.attempts)
            return False
        raise
    return True


class _LostLease(Exception):
    pass


async def _fail(export: Export, error: str, *, retry: bool) -> None:
    """Record a failed attempt (only the one holding the lease): waiting again while
    attempts remain, FAILED after the last."""
    again = retry and export.attempts < MAX_ATTEMPTS
    await Export.filter(id=export.id, status=ExportStatus.RUNNING, attempts=export.attempts).update(
        status=ExportStatus.PENDING if again else ExportStatus.FAILED,
        lease_until=None,
        error=error,
    )


async def sweep(limit: int = SWEEP_BATCH) -> int:
    """Delete the files of exports past their retention (by workflow.clock); how many."""
    expired = (
        await Export.filter(status=ExportStatus.FINISHED, expires_at__lte=clock.now())
        .order_by("expires_at")
        .limit(limit)
    )
    for export in expired:
        if (path := exports.file_path(export)) is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if expired:
        await Export.filter(id__in=[e.id for e in expired], status=ExportStatus.FINISHED).update(
            status=ExportStatus.EXPIRED, file_name=None
        )
    return len(expired)


async def run_due(limit: int = MAX_RUNNING) -> int:
    """Claim and run due exports until none is left (tests and tools); how many finished."""
    finished = 0
    while claimed := await claim(limit):
        results = await asyncio.gather(*(run(export) for export in claimed))
        finished += sum(results)
    return finished


class ExportRunner(BackgroundLoop):
    """Runs exports in the background, each as its own task (at most MAX_RUNNING), woken
    after startExport commits, whenever one ends, and polling (leases that expired, the
    sweep)."""

    name = "exports"
    owed_work = unit.EXPORTS

    def __init__(self, max_running: int = MAX_RUNNING) -> None:
        super().__init__()
        self.max_running = max_running
        self.turns = FirmTurns()
        self._running: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """Cancel the loop and the exports under way: their leases expire, and they run
        again elsewhere (their partial files are removed)."""
        await super().stop()
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def work(self) -> None:
        await sweep()
        free = self.max_running - len(self._running)
        if free <= 0:
            return
        for export in await claim(free, self.turns):
            task = asyncio.create_task(self._run(export), name=f"export-{export.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, export: Export) -> None:
        try:
            await run(export)
        except Exception:  # recording failed (database away): the lease expires, run again
            log.exception("export %s: its outcome was not recorded", export.id)
        finally:
            self._wake.set()  # a slot is free
