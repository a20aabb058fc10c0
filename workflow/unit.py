"""One change, one transaction: the unit every domain operation runs in.

A `Change` locks the pipelines it touches (in id order, so concurrent changes cannot deadlock),
appends JobEvents with each pipeline's next sequence number, writes the webhook deliveries
those events owe (before commit, with them), and runs after-commit callbacks
(broker publication, runner wake-up) only once the transaction has committed. A change that
writes no event (a client, a person, an automation, a pipeline's name) bumps its firm's
catalog version instead: between them, the pipelines' sequences and that version tell when
any of a firm's board data changed (schema.result_cache relies on it, and models.writes refuses
a write to the tables behind it made outside a change).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

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
    sql,
    writes,
)
from workflow import webhook_outbox
from workflow.errors import not_found
from workflow.scope import MAX_ROW_ID, NOBODY, Scope

log = logging.getLogger(__name__)
JobPart = TypeVar("JobPart", Task, Organizer, Invoice)  # what lock_item locks after its job

AfterCommit = Callable[[list[JobEvent]], Awaitable[None]]
_after_commit: list[tuple[AfterCommit, str | None]] = []
# What a committed change can leave for a background loop (see owe).
RUNS, DELIVERIES, EMAILS = "runs", "deliveries", "emails"
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


class _JobMoved(Exception):
    """The job changed pipeline between reading it and locking it."""


class Change:
    def __init__(self, scope: Scope, depth: int = 0) -> None:
        self._scope = scope
        self._depth = depth
        self.events: list[JobEvent] = []
        self.webhook_payloads: list[tuple[JobEvent, dict[str, Any]]] = []
        self.owed: set[str] = set()
        self._pipelines: dict[int, Pipeline] = {}
        self._unwritten: set[int] | None = None  # see defer_sequences

    def defer_sequences(self) -> None:
        """Write each pipeline's sequence once, when the change ends, rather than at each event:
        for a change of many events (a bulk call). The pipelines are locked to its end, and
        their rows are read only by other transactions, which see the final value."""
        if self._unwritten is None:
            self._unwritten = set()

    async def write_sequences(self) -> None:
        """The sequences deferred so far (see defer_sequences), one statement per pipeline."""
        for pipeline_id in sorted((self._unwritten or set()) & self._pipelines.keys()):
            await sql.execute(
                'UPDATE "pipeline" SET "event_seq" = ? WHERE "id" = ?',
                [self._pipelines[pipeline_id].event_seq, pipeline_id],
            )
        if self._unwritten is not None:
            self._unwritten.clear()

    # Fixed when the change begins: whose firm it writes, and the version it bumps, cannot
    # move under the writes already made.
    @property
    def scope(self) -> Scope:
        return self._scope

    @property
    def depth(self) -> int:
        """How many automations in a row led to this change."""
        return self._depth

    async def lock_pipelines(self, ids: Iterable[int], field: str | None = None) -> None:
        """Lock pipeline rows of the caller's firm; NOT_FOUND if one is missing."""
        for pipeline_id in sorted(set(ids) - self._pipelines.keys()):
            self._pipelines[pipeline_id] = await self.scope.get(
                Pipeline, pipeline_id, field=field, lock=True
            )

    def pipeline(self, pipeline_id: int) -> Pipeline:
        return self._pipelines[pipeline_id]

    async def lock_job(
        self, job_id: int, field: str = "jobId", with_pipelines: Iterable[int] = ()
    ) -> Job:
        """Lock a job, its pipeline and `with_pipelines`: pipelines first, like every change."""
        for pipeline_id in with_pipelines:  # NOT_FOUND names the right field
            await self.scope.get(Pipeline, pipeline_id, field="pipelineId")
        for _ in range(3):
            job = await self.scope.get(Job, job_id, field=field)
            held = set(self._pipelines)
            try:
                # A savepoint: if the job was transferred meanwhile, rolling back to it releases
                # the locks just taken, so the next attempt again locks in id order.
                async with in_transaction():
                    await self.lock_pipelines([job.pipeline_id, *with_pipelines])
                    job = await self.scope.get(Job, job_id, field=field, lock=True)
                    if job.pipeline_id not in self._pipelines:
                        raise _JobMoved
                return job
            except _JobMoved:
                for pipeline_id in set(self._pipelines) - held:
                    del self._pipelines[pipeline_id]
        raise not_found("Job", field)  # transferred back and forth under us: give up cleanly

    async def lock_jobs(
        self, job_ids: Collection[int], in_pipeline: int | None = None
    ) -> dict[int, Job]:
        """Lock many jobs of the caller's firm at once (a bulk call), in a number of statements
        that does not grow with them: their pipelines first, in id order, then the jobs by one
        locking read. Ids that name no job of the firm are left out. With `in_pipeline` (locked
        by the caller), only that pipeline's jobs are locked and answered."""
        wanted = sorted({i for i in job_ids if 0 < i <= MAX_ROW_ID})
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        locking = f'SELECT * FROM "job" WHERE "firm_id" = ? AND "id" IN ({marks})'
        if in_pipeline is not None:
            rows = await sql.fetch(
                locking + ' AND "pipeline_id" = ? FOR UPDATE',
                [self.scope.firm_id, *wanted, in_pipeline],
            )
            return {row["id"]: Job._init_from_db(**row) for row in rows}
        for _ in range(3):
            seen = await sql.fetch(locking, [self.scope.firm_id, *wanted])
            held = set(self._pipelines)
            try:
                async with in_transaction():  # a savepoint, as in lock_job
                    await self.lock_pipelines({row["pipeline_id"] for row in seen})
                    found = [row["id"] for row in seen]
                    rows = (
                        await sql.fetch(
                            f'SELECT * FROM "job" WHERE "firm_id" = ? AND "id" IN '
                            f"({', '.join('?' * len(found))}) FOR UPDATE",
                            [self.scope.firm_id, *found],
                        )
                        if found
                        else []
                    )
                    jobs = {row["id"]: Job._init_from_db(**row) for row in rows}
                    if any(job.pipeline_id not in self._pipelines for job in jobs.values()):
                        raise _JobMoved
                return jobs
            except _JobMoved:
                for pipeline_id in set(self._pipelines) - held:
                    del self._pipelines[pipeline_id]
        raise not_found("Job", "jobIds")  # transferred back and forth under us

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the change that may fail alone (an item of a bulk call): if it raises, the
        database goes back to where the part began (a savepoint) and so does what the change
        holds in memory (its events, the webhook payloads and work they owe, the locked
        pipelines and their sequences), so the failed part leaves no trace."""
        events, payloads, owed = len(self.events), len(self.webhook_payloads), set(self.owed)
        held = {pipeline_id: p.event_seq for pipeline_id, p in self._pipelines.items()}
        unwritten = None if self._unwritten is None else set(self._unwritten)
        try:
            async with in_transaction():
                yield
        except BaseException:
            del self.events[events:]
            del self.webhook_payloads[payloads:]
            self.owed.intersection_update(owed)
            for pipeline_id in set(self._pipelines) - held.keys():
                del self._pipelines[pipeline_id]  # its lock went with the savepoint
            for pipeline_id, seq in held.items():
                self._pipelines[pipeline_id].event_seq = seq
            if unwritten is not None and self._unwritten is not None:
                self._unwritten.intersection_update(unwritten)
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
        """Append an event to a locked pipeline's log."""
        pipeline = self._pipelines[pipeline_id]
        pipeline.event_seq += 1
        if self._unwritten is not None:
            self._unwritten.add(pipeline_id)
        else:
            await sql.execute(
                'UPDATE "pipeline" SET "event_seq" = ? WHERE "id" = ?',
                [pipeline.event_seq, pipeline_id],
            )
        event = await JobEvent.create(
            firm_id=self.scope.firm_id,
            pipeline_id=pipeline_id,
            seq=pipeline.event_seq,
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
        self.events.append(event)
        self.webhook_payloads.append((event, webhook_outbox.event_payload(event, job)))
        return event


_current: ContextVar[Change | None] = ContextVar("workflow_change", default=None)
InEveryChange = Callable[[], Awaitable[object]]
_in_every_change: ContextVar[tuple[InEveryChange, ...]] = ContextVar("in_every_change", default=())


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
                await unit.write_sequences()
                if unit.events:  # the deliveries owed commit with the events they report
                    if await webhook_outbox.enqueue(unit.events[0].firm_id, unit.webhook_payloads):
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
