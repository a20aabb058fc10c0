"""One change, one transaction: the unit every domain operation runs in.

A `Change` appends JobEvents with each pipeline's next sequence number, writes the webhook
deliveries those events owe (before commit, with them), and runs after-commit callbacks
(broker publication, runner wake-up) only once the transaction has committed. A change that
writes no event (a client, a person, an automation, a pipeline's name) bumps its firm's
catalog version instead: between them, the pipelines' sequences and that version tell when
any of a firm's board data changed (schema.result_cache relies on it, and models.writes refuses
a write to the tables behind it made outside a change).

Lock order (PostgreSQL; SQLite has one writer and no row locks). Every change takes the row
locks it needs in this order, and never one of an earlier kind once it holds a later one, so
no two changes can wait for each other:

1. Stage rows of a pipeline, in id order, FOR NO KEY UPDATE (`lock_stages`): only changes of
   the stages themselves (create, reorder, delete, a stage's limits). A job entering a stage
   reads it FOR SHARE (workflow.jobs.entered_stage), so that the stage's limits cannot change
   until the entry commits: a change of them waits for the entry, then sees the job in the
   stage, or comes first, and the entry reads the new limits. That read is the first lock of
   a move, a transfer or a new job. A change that holds the job already (an automation's
   action, run under its job's lock; an auto-move) reads the stage without a lock: waiting
   for it there could close a cycle (a change of the stages waiting for a move that waits for
   this job), and its limits are read again under the pipeline's lock
   (workflow.jobs.check_stage_under_lock). A stage's DELETE waits for the jobs entering it,
   whose changes wait for nothing else the deletion holds (it fails on the foreign key then,
   and the deletion starts again from a savepoint).
2. Job rows (`lock_job`, `lock_jobs`; a stage's jobs after the stages): several at once by one
   locking read in id order. A job row is what a job's changes serialise on (its pipeline,
   stage, rank, version); a transfer holds it too, so a locked job cannot leave its pipeline.
3. The rows belonging to a locked job (`lock_item`: task, organizer, invoice; its automation
   runs, with SKIP LOCKED) and the job's writes: its rank under the unique (stage, rank) index,
   retried on a collision (workflow.jobs.save_placed), which may wait for another change's
   uncommitted rank, never while holding a pipeline.
4. The firm's row (counts a firm keeps under a limit; the catalog version at the end).
5. Pipeline rows, in id order, held to COMMIT: only for the sequence and the event. On
   PostgreSQL a change writes its events with placeholder sequences as it goes and numbers
   them at its end, in one of two ways (`finish`):
   - by the database, at COMMIT: a deferred trigger (migration 0019) locks the pipeline and
     numbers the events inside the commit, so no round trip to this process happens under a
     pipeline's lock (a move, most changes: a few events, all in one pipeline);
   - by the change itself, when its events are many or in several pipelines (locked in id
     order) or something before the commit needs the numbers or the locks: a WIP limit to
     count again (`check_under_lock`: exact, since every entry into a stage commits under its
     pipeline's lock; none for a stage without a limit), pipelines held for the caller
     (`lock_pipelines`: a transfer, which logs in two, locks both first), webhook deliveries
     that report them. It locks its pipelines, numbers its events, runs its checks, writes its
     outbox rows (to the endpoints it read before any pipeline lock: `before_pipeline_lock`),
     and commits.
   SQLite (one writer) numbers an event as it writes it, unless the change defers
   (`defer_sequences`). Pipeline locks are FOR NO KEY UPDATE (a job may still be written into
   the pipeline), but for deleting one.

Commit order = sequence order within a pipeline: a sequence is taken under the pipeline's row
lock, which is held until COMMIT, so an earlier sequence of a pipeline is always visible before
a later one commits (subscribers resume from cursors).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from tortoise import timezone
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from models import (
    EventType,
    Firm,
    Invoice,
    Job,
    JobEvent,
    Organizer,
    Pipeline,
    Task,
    WebhookEndpoint,
    sql,
    writes,
)
from models.db import broke_a_deadlock, is_postgres
from workflow import webhook_outbox
from workflow.errors import not_found
from workflow.scope import MAX_ROW_ID, NOBODY, Scope

log = logging.getLogger(__name__)
JobPart = TypeVar("JobPart", Task, Organizer, Invoice)  # what lock_item locks after its job

AfterCommit = Callable[[list[JobEvent]], Awaitable[None]]
_after_commit: list[tuple[AfterCommit, str | None]] = []
# What a committed change can leave for a background loop (see owe).
RUNS, DELIVERIES, EMAILS, EXPORTS = "runs", "deliveries", "emails", "exports"
# Dated work due at once (automations.scheduler): no change leaves any yet, the scheduler polls.
DATED = "dated"


def on_commit(callback: AfterCommit, only_if_owed: str | None = None) -> None:
    """Register a callback that receives the events of every committed change that wrote
    events, or with `only_if_owed`, of every one that left that work (RUNS, DELIVERIES,
    EMAILS)."""
    _after_commit.append((callback, only_if_owed))


def remove_commit_callback(callback: AfterCommit) -> None:
    _after_commit[:] = [entry for entry in _after_commit if entry[0] != callback]


def owe(work: str) -> None:
    """Note that the current change leaves `work` (RUNS, DELIVERIES, EMAILS) to do after its commit:
    the loop that does it is woken then, rather than after every commit."""
    if (unit := _current.get()) is not None:
        unit.owed.add(work)


Check = Callable[[], Awaitable[None]]
_PLACEHOLDERS = 1 << 20  # placeholder sequences per change (see defer_sequences)
TRIGGER_NUMBERS = 8  # at most this many events of a change are numbered by the trigger


class Change:
    def __init__(self, scope: Scope, depth: int = 0) -> None:
        self._scope = scope
        self._depth = depth
        self.events: list[JobEvent] = []
        self.webhook_payloads: list[tuple[JobEvent, dict[str, Any]]] = []
        self.owed: set[str] = set()
        self._pipelines: dict[int, Pipeline] = {}  # read and locked by lock_pipelines
        # On PostgreSQL every change writes its events with placeholder sequences (see
        # defer_sequences); on SQLite, only one that asks to.
        self._deferred: list[JobEvent] | None = [] if is_postgres() else None
        self._placeholder = 0
        self._checks: list[Check] = []
        # Rows this change holds: its jobs (locked), the stages it read share-locked or locked
        # (workflow.jobs.entered_stage, lock_stages): their limits cannot change before COMMIT.
        self.jobs_held: set[int] = set()
        self.stages_held: set[int] = set()
        # The firm's webhook endpoints, read before the change's first pipeline lock (see
        # before_pipeline_lock): what its events owe is written under that lock.
        self.endpoints: list[WebhookEndpoint] | None = None

    def holds_stage(self, stage_id: int) -> bool:
        """Whether no other change can alter the stage before this one commits (on SQLite,
        every row this change reads: it writes alone from its first statement)."""
        return stage_id in self.stages_held or not is_postgres()

    async def before_pipeline_lock(self) -> None:
        """What a change reads before it takes its first pipeline lock, to keep the time it
        holds one short: the firm's webhook endpoints."""
        if self.endpoints is None:
            self.endpoints = await webhook_outbox.endpoints(self.scope.firm_id)

    def defer_sequences(self) -> None:
        """From now on, write events with placeholder sequences (negative, unique to this
        transaction) and give them their pipelines' sequences when the change ends: for a
        change of many events, or one that writes ranks after its first event. What every
        change does on PostgreSQL (see the lock order above); on SQLite, where an event is
        otherwise numbered as it is written, it keeps the numbers in the events' order."""
        if self._deferred is None:
            self._deferred = []

    async def finish(self) -> None:
        """Number the deferred events: leave it to the commit on PostgreSQL if nothing before
        it needs the numbers; else lock their pipelines (in id order), give the events their
        sequences (two statements per pipeline) and run the checks that need the pipelines'
        locks. Called by `change` before the webhook outbox and COMMIT."""
        deferred = self._deferred or []
        if deferred:
            await self.before_pipeline_lock()
        if (
            deferred
            and is_postgres()
            and len(deferred) <= TRIGGER_NUMBERS
            and len({event.pipeline_id for event in deferred}) == 1
            and not (self._checks or self._pipelines)
            and not webhook_outbox.owed(self.endpoints or [], deferred)
        ):
            # Nothing before the commit needs the sequences (no WIP limit to count under the
            # pipeline's lock, no pipeline held for the caller, no delivery to report them),
            # one pipeline's lock is all it takes, and the events are few (the trigger numbers
            # one at a time, ~0.1 ms each under the lock; this process, all in two statements):
            # the database's trigger numbers the events at COMMIT (migration 0019), so that no
            # round trip to this process happens under the lock. The events keep their
            # placeholders in memory: nothing after the commit needs their numbers (the hub's
            # notifications only wake the feeds, which read the log).
            return
        for pipeline_id in sorted({event.pipeline_id for event in deferred}):
            events = [event for event in deferred if event.pipeline_id == pipeline_id]
            rows = await sql.fetch(
                'UPDATE "pipeline" SET "event_seq" = "event_seq" + ? WHERE "id" = ? '
                'RETURNING "event_seq"',
                [len(events), pipeline_id],
            )
            first = int(rows[0]["event_seq"]) - len(events) + 1
            for number, event in enumerate(events):
                event.seq = first + number
            ids = [event.id for event in events]
            if is_postgres():
                await sql.execute(
                    'UPDATE "job_event" SET "seq" = ? + array_position(?::bigint[], "id") - 1 '
                    'WHERE "id" = ANY(?::bigint[])',
                    [first, ids, ids],
                )
            else:
                cases = " ".join(f"WHEN {event.id} THEN {event.seq}" for event in events)
                await sql.execute(
                    f'UPDATE "job_event" SET "seq" = CASE "id" {cases} END WHERE "id" IN '
                    f"({', '.join('?' * len(ids))})",
                    ids,
                )
            if pipeline_id in self._pipelines:
                self._pipelines[pipeline_id].event_seq = first + len(events) - 1
        if deferred:
            for event, payload in self.webhook_payloads:
                payload["data"]["seq"] = event.seq
            deferred.clear()
        for check in self._checks:
            await check()

    def check_under_lock(self, check: Check) -> None:
        """Run `check` at the end of the change, once its pipelines are locked (a WIP limit:
        every entry into a stage commits under its pipeline's lock, so a count made then is
        exact). It raises to refuse the change."""
        self._checks.append(check)

    # Fixed when the change begins: whose firm it writes, and the version it bumps, cannot
    # move under the writes already made.
    @property
    def scope(self) -> Scope:
        return self._scope

    @property
    def depth(self) -> int:
        """How many automations in a row led to this change."""
        return self._depth

    async def lock_pipelines(
        self, ids: Iterable[int], field: str | None = None, *, deleting: bool = False
    ) -> None:
        """Lock pipeline rows of the caller's firm, in id order; NOT_FOUND if one is missing.
        Last in the lock order: see the module's docstring. FOR NO KEY UPDATE, as the sequence's
        UPDATE takes it, so that a job may still be written into the pipeline (its foreign key
        takes a KEY SHARE lock); `deleting` takes FOR UPDATE, which waits for those."""
        await self.before_pipeline_lock()
        strength = " FOR UPDATE" if deleting or not is_postgres() else " FOR NO KEY UPDATE"
        for pipeline_id in sorted(set(ids) - self._pipelines.keys()):
            if not 0 < pipeline_id <= MAX_ROW_ID:
                raise not_found("Pipeline", field)
            rows = await sql.fetch(
                'SELECT * FROM "pipeline" WHERE "firm_id" = ? AND "id" = ?' + strength,
                [self.scope.firm_id, pipeline_id],
            )
            if not rows:
                raise not_found("Pipeline", field)
            self._pipelines[pipeline_id] = Pipeline._init_from_db(**rows[0])

    def pipeline(self, pipeline_id: int) -> Pipeline:
        return self._pipelines[pipeline_id]

    async def lock_job(
        self, job_id: int, field: str = "jobId", with_pipelines: Iterable[int] = ()
    ) -> Job:
        """Lock a job's row (one statement); `with_pipelines` must exist (read, not locked:
        their locks come last, when the change logs in them)."""
        for pipeline_id in with_pipelines:  # NOT_FOUND names the right field
            await self.scope.get(Pipeline, pipeline_id, field="pipelineId")
        job = await self.scope.get(Job, job_id, field=field, lock=True)
        self.jobs_held.add(job.id)
        return job

    async def lock_jobs(
        self, job_ids: Collection[int], in_pipeline: int | None = None
    ) -> dict[int, Job]:
        """Lock many jobs of the caller's firm at once (a bulk call) by one locking read in id
        order. Ids that name no job of the firm are left out. With `in_pipeline`, only that
        pipeline's jobs are locked and answered."""
        wanted = sorted({i for i in job_ids if 0 < i <= MAX_ROW_ID})
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        locking = f'SELECT * FROM "job" WHERE "firm_id" = ? AND "id" IN ({marks})'
        params: list[Any] = [self.scope.firm_id, *wanted]
        if in_pipeline is not None:
            locking += ' AND "pipeline_id" = ?'
            params.append(in_pipeline)
        rows = await sql.fetch(locking + ' ORDER BY "id" FOR UPDATE', params)
        self.jobs_held.update(row["id"] for row in rows)
        return {row["id"]: Job._init_from_db(**row) for row in rows}

    async def lock_stages(self, pipeline_id: int, jobs_of: int | None = None) -> list[Job]:
        """Lock a pipeline's stage rows in id order, FOR NO KEY UPDATE (a job may still enter
        them: its foreign key takes KEY SHARE), first in the lock order: for a change of the
        stages themselves (create, reorder, delete, a stage's limits). With `jobs_of`, then
        lock that stage's jobs, in id order, and answer them."""
        if is_postgres():
            stages = await sql.fetch(
                'SELECT "id" FROM "stage" WHERE "firm_id" = ? AND "pipeline_id" = ? '
                'ORDER BY "id" FOR NO KEY UPDATE',
                [self.scope.firm_id, pipeline_id],
            )
            self.stages_held.update(row["id"] for row in stages)
        if jobs_of is None:
            return []
        rows = await sql.fetch(
            'SELECT * FROM "job" WHERE "stage_id" = ? ORDER BY "id" FOR UPDATE', [jobs_of]
        )
        self.jobs_held.update(row["id"] for row in rows)
        return [Job._init_from_db(**row) for row in rows]

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the change that may fail alone (an item of a bulk call): if it raises, the
        database goes back to where the part began (a savepoint) and so does what the change
        holds in memory (its events, the webhook payloads and work they owe, the locked
        pipelines and their sequences), so the failed part leaves no trace."""
        events, payloads, owed = len(self.events), len(self.webhook_payloads), set(self.owed)
        held = {pipeline_id: p.event_seq for pipeline_id, p in self._pipelines.items()}
        deferred = None if self._deferred is None else len(self._deferred)
        checks = len(self._checks)
        jobs_held, stages_held = set(self.jobs_held), set(self.stages_held)
        try:
            async with in_transaction():
                yield
        except BaseException:
            del self.events[events:]
            del self.webhook_payloads[payloads:]
            del self._checks[checks:]
            self.jobs_held, self.stages_held = jobs_held, stages_held  # their locks went too
            self.owed.intersection_update(owed)
            for pipeline_id in set(self._pipelines) - held.keys():
                del self._pipelines[pipeline_id]  # its lock went with the savepoint
            for pipeline_id, seq in held.items():
                self._pipelines[pipeline_id].event_seq = seq
            if self._deferred is not None:
                del self._deferred[deferred or 0 :]
            raise

    async def lock_item(
        self, model: type[JobPart], item_id: int, field: str = "id"
    ) -> tuple[JobPart, Job]:
        """Lock an item that belongs to a job (task, organizer, invoice), after its job."""
        item = await self.scope.get(model, item_id, field=field)
        job = await self.lock_job(item.job_id, field=field)
        return await self.scope.get(model, item_id, field=field, lock=True), job

    async def record(
        self,
        pipeline_id: int,
        type: EventType,
        job: Job | None = None,
        *,
        from_stage_id: int | None = None,
        to_stage_id: int | None = None,
        from_pipeline_id: int | None = None,
        to_pipeline_id: int | None = None,
        changes: dict[str, Any] | None = None,
    ) -> JobEvent:
        """Append an event to a pipeline's log, with a placeholder sequence (defer_sequences,
        and always on PostgreSQL) or, on SQLite, its sequence."""
        event = JobEvent(
            firm_id=self.scope.firm_id,
            pipeline_id=pipeline_id,
            job_id=job.id if job else None,
            type=type,
            actor_id=self.scope.user_id,
            from_stage_id=from_stage_id,
            to_stage_id=to_stage_id,
            from_pipeline_id=from_pipeline_id,
            to_pipeline_id=to_pipeline_id,
            job_version=job.version if job else None,
            changes=changes or {},
        )
        if self._deferred is not None:
            if not self._placeholder:  # unique among the transactions running now
                self._placeholder = -(await _session_number()) * _PLACEHOLDERS - 1
            self._placeholder -= 1
            event.seq = self._placeholder
            await _insert(event)
            self._deferred.append(event)
        else:  # one writer: the sequence, then the event
            rows = await sql.fetch(
                'UPDATE "pipeline" SET "event_seq" = "event_seq" + 1 WHERE "id" = ? '
                'RETURNING "event_seq"',
                [pipeline_id],
            )
            event.seq = int(rows[0]["event_seq"])
            await _insert(event)
        if pipeline_id in self._pipelines and event.seq > 0:
            self._pipelines[pipeline_id].event_seq = event.seq
        self.events.append(event)
        self.webhook_payloads.append((event, webhook_outbox.event_payload(event, job)))
        return event


_INSERT = (
    'INSERT INTO "job_event" ("firm_id", "pipeline_id", "seq", "job_id", "type", "actor_id", '
    '"from_stage_id", "to_stage_id", "from_pipeline_id", "to_pipeline_id", "job_version", '
    '"changes", "created_at") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING "id"'
)
_CHANGES = JobEvent._meta.fields_map["changes"]
_CREATED_AT = JobEvent._meta.fields_map["created_at"]


async def _insert(event: JobEvent) -> None:
    """Write an event, by hand: every change does (tortoise's save costs more than the
    statement); the fields' own conversions, as its save would."""
    event.created_at = timezone.now()
    rows = await sql.fetch(
        _INSERT,
        [
            event.firm_id,
            event.pipeline_id,
            event.seq,
            event.job_id,
            event.type.value,
            event.actor_id,
            event.from_stage_id,
            event.to_stage_id,
            event.from_pipeline_id,
            event.to_pipeline_id,
            event.job_version,
            _CHANGES.to_db_value(event.changes, event),
            _CREATED_AT.to_db_value(event.created_at, event),
        ],
    )
    event.id = int(rows[0]["id"])
    event._saved_in_db = True


async def _session_number() -> int:
    """The database session's process id on PostgreSQL (the driver knows it), 0 on SQLite (one
    writer): what makes a change's placeholder sequences its own."""
    if not is_postgres():
        return 0
    if (pid := sql.backend_pid()) is not None:
        return pid
    rows = await sql.fetch("SELECT pg_backend_pid() AS n", [])
    return int(rows[0]["n"])


_current: ContextVar[Change | None] = ContextVar("workflow_change", default=None)
InEveryChange = Callable[[], Awaitable[object]]
_in_every_change: ContextVar[tuple[InEveryChange, ...]] = ContextVar("in_every_change", default=())


R = TypeVar("R")
DEADLOCK_TRIES = 3


async def retrying_deadlocks(operation: Callable[[], Awaitable[R]]) -> R:
    """Run a domain operation (its own change), again if the database broke a deadlock by
    failing it: that changed nothing, and the lock order leaves only rare ones (a transfer
    into a pipeline being deleted) that the other change has passed the next time."""
    for attempt in range(1, DEADLOCK_TRIES + 1):
        try:
            return await operation()
        except Exception as error:
            if attempt == DEADLOCK_TRIES or not broke_a_deadlock(error) or _current.get():
                raise
            log.warning("a change was chosen to break a deadlock: running it again (%s)", error)
    raise AssertionError("unreachable")


def current_change() -> Change | None:
    """The change running in this task, if any."""
    return _current.get()


@contextmanager
def writing_with_every_change(write: InEveryChange) -> Iterator[None]:
    """Run `write` in the transaction of every change made while the block runs (in its task
    and the tasks it starts): the serving layer's own record commits, or rolls back, with the
    change (web.idempotency marks its Idempotency-Key claim as having changed something)."""
    token = _in_every_change.set((*_in_every_change.get(), write))
    try:
        yield
    finally:
        _in_every_change.reset(token)


@asynccontextmanager
async def change(scope: Scope, depth: int = 0) -> AsyncIterator[Change]:
    """Run a domain operation in one transaction; publish its events after commit.

    Inside another change (an automation's action run by the runner), the operation joins
    that change: same transaction, same pipeline locks, published with it after its commit.
    """
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    unit = Change(scope, depth)
    token = _current.set(unit)
    try:
        with writes.changing():
            async with in_transaction():
                yield unit
                await unit.finish()
                if unit.events:  # the deliveries owed commit with the events they report
                    firm_id, payloads = unit.events[0].firm_id, unit.webhook_payloads
                    if await webhook_outbox.enqueue(firm_id, payloads, unit.endpoints):
                        unit.owed.add(DELIVERIES)
                elif unit.scope.firm_id != NOBODY.firm_id:
                    await Firm.filter(id=unit.scope.firm_id).update(
                        catalog_version=F("catalog_version") + 1
                    )
                for write in _in_every_change.get():
                    await write()
    finally:
        _current.reset(token)
    for callback, only_if_owed in list(_after_commit):
        if not (only_if_owed in unit.owed if only_if_owed else unit.events):
            continue
        try:
            await callback(unit.events)
        except Exception:  # the log is committed; subscribers recover by replay
            log.exception("after-commit callback failed")
