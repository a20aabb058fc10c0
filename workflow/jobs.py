"""Jobs: create, update, archive, move within a pipeline, transfer to another pipeline."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from asyncpg.exceptions import IntegrityConstraintViolationError, LockNotAvailableError
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.transactions import in_transaction

from models import (
    Automation,
    Client,
    CustomField,
    CustomFieldEntity,
    EventType,
    Job,
    JobEvent,
    JobStatus,
    Pipeline,
    Priority,
    Stage,
    User,
    sql,
)
from models.db import is_postgres
from workflow import clock, custom_fields, deadlines, ranking, validation
from workflow.errors import DomainError, ErrorCode, invalid
from workflow.scope import Scope
from workflow.stage_entry import (
    ARCHIVED,
    LEFT_STAGE,
    ClientFacts,
    cancel_dated_runs,
    due_date_changed,
    on_stage_entry,
    stage_automations,
)
from workflow.unit import Change, change, current_change


async def first_stage(pipeline_id: int, job_id: int | None = None) -> Stage:
    """The pipeline's first stage, share-locked as `entered_stage`."""
    share = _may_share_lock(job_id)
    rows = await sql.fetch(
        'SELECT * FROM "stage" WHERE "pipeline_id" = ? ORDER BY "position", "id" LIMIT 1'
        + (" FOR SHARE" if share else ""),
        [pipeline_id],
    )
    assert rows, "a pipeline always keeps at least one stage"
    return _held(Stage._init_from_db(**rows[0]), share)


async def entered_stage(scope: Scope, stage_id: int, job_id: int | None = None) -> Stage:
    """The stage a job (`job_id`, or a new one) is to enter, share-locked until the change
    commits: a change of its limits (workflow.pipelines.update_stage, which locks the stage
    first) either waits for this one, and then sees the job in it, or comes first, and this
    reads its limits. Not if the change holds the job already (an automation's action): then
    read without a lock (workflow.unit's lock order), its limits read again under the
    pipeline's lock (check_stage_under_lock)."""
    share = _may_share_lock(job_id)
    return _held(await scope.get(Stage, stage_id, field="stageId", share=share), share)


def _may_share_lock(job_id: int | None) -> bool:
    unit = current_change()
    return is_postgres() and not (unit is not None and job_id in unit.jobs_held)


def _held(stage: Stage, share: bool) -> Stage:
    if share and (unit := current_change()) is not None:
        unit.stages_held.add(stage.id)
    return stage


def _check_version(job: Job, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != job.version:
        raise DomainError(
            ErrorCode.VERSION_CONFLICT,
            f"the job is at version {job.version}, not {expected_version}: reload it",
            "expectedVersion",
        )


def _check_active(job: Job, field: str = "jobId") -> None:
    if job.status == JobStatus.ARCHIVED:
        raise DomainError(ErrorCode.JOB_ARCHIVED, "the job is archived", field)


def _check_room(stage: Stage, active: int) -> None:
    if stage.wip_limit is not None and active >= stage.wip_limit:
        raise DomainError(
            ErrorCode.WIP_LIMIT_REACHED,
            f"stage {stage.name!r} already holds its limit of {stage.wip_limit} active jobs",
            "stageId",
        )


async def _check_wip(stage: Stage, job_id: int | None = None) -> None:
    if stage.wip_limit is None:
        return
    active = Job.filter(stage_id=stage.id, status=JobStatus.ACTIVE)
    if job_id is not None:
        active = active.exclude(id=job_id)
    _check_room(stage, await active.count())


def check_stage_under_lock(
    unit: Change, stage: Stage, job_id: int | None = None, entering: Job | None = None
) -> None:
    """The stage's WIP limit checked again when the change ends, under its pipeline's lock,
    with the limit as it is then (one statement): exact, since every entry into the stage
    commits under that lock (workflow.unit). `job_id`: the job entering, not counted (a
    COMPLETED job may not enter a full stage either); None: the stage must simply not hold
    more than its limit (a bulk call, a stage deletion: their items were checked one by one).

    Nothing to check for a stage without a limit that the change holds (`Change.holds_stage`):
    its limits cannot change before the commit. A stage read without a lock (by an
    automation's action, an auto-move: workflow.unit) may have changed meanwhile: then its
    time limit too is read again, and the `entering` job's deadline follows it (a change of
    the stage writes its limits under the pipeline's lock, and rewrites the deadlines of the
    jobs it saw)."""
    if stage.wip_limit is None and unit.holds_stage(stage.id):
        return

    async def check() -> None:
        rows = await sql.fetch(
            'SELECT "name", "wip_limit", "time_limit_days", (SELECT COUNT(*) FROM "job" WHERE '
            '"stage_id" = ? AND "status" = ? AND "id" <> ?) AS "active" FROM "stage" '
            'WHERE "id" = ?',
            [stage.id, JobStatus.ACTIVE.value, job_id or 0, stage.id],
        )
        if not rows:
            return
        row = rows[0]
        if entering is not None and row["time_limit_days"] != stage.time_limit_days:
            assert entering.stage_entered_at is not None
            deadlines.enter(entering, row["time_limit_days"], entering.stage_entered_at)
            await _update(entering, deadlines.FIELDS)
        if row["wip_limit"] is not None:
            as_now = Stage(id=stage.id, name=row["name"], wip_limit=row["wip_limit"])
            _check_room(as_now, int(row["active"]) - (job_id is None))

    unit.check_under_lock(check)


# The unique (stage, rank) index and the job's stage foreign key, as PostgreSQL names them.
RANK_INDEX, STAGE_KEY = "uid_job_stage_i_8c8e98", "job_stage_id_fkey"


async def save_placed(
    job: Job, fields: list[str], place: Callable[[int], Awaitable[str]], create: bool = False
) -> None:
    """Write a job with the rank `place` gives (for the attempt: 0, 1, ...), again with a new
    rank if another change took that one meanwhile (a savepoint each try, on PostgreSQL:
    changes do not serialise on the pipeline any more, and SQLite has one writer). A stage
    deleted meanwhile: NOT_FOUND."""
    for attempt in range(_PLACE_TRIES):
        job.rank = await place(attempt)
        if not is_postgres():
            await (job.save(force_create=True) if create else _update(job, fields))
            return
        try:
            async with in_transaction():
                await (job.save(force_create=True) if create else _update(job, fields))
            return
        except (IntegrityError, IntegrityConstraintViolationError) as error:
            if STAGE_KEY in str(error):  # deleted since we read it
                raise DomainError(ErrorCode.NOT_FOUND, "Stage not found", "stageId") from error
            if RANK_INDEX not in str(error):
                raise
            if create:
                job.id = None  # type: ignore[assignment]
                job._saved_in_db = False
    raise DomainError(
        ErrorCode.VERSION_CONFLICT, "the stage is too busy to place the job: try again", "stageId"
    )


_PLACE_TRIES = 8


async def _update(job: Job, fields: list[str]) -> None:
    """job.save(update_fields=fields), written by hand: every move runs it, and tortoise's
    query building costs more than the statement (updated_at is set as save would)."""
    meta = Job._meta
    values = [meta.fields_map[name].to_db_value(getattr(job, name), job) for name in fields]
    columns = ", ".join(f'"{meta.fields_db_projection[name]}" = ?' for name in fields)
    await sql.execute(f'UPDATE "job" SET {columns} WHERE "id" = ?', [*values, job.id])


def check_move(job: Job, stage: Stage, field: str = "jobId") -> None:
    """What moveJob refuses of a locked job, whatever the target stage holds: an archived job
    (JOB_ARCHIVED on `field`), or a stage of another pipeline."""
    _check_active(job, field)
    if stage.pipeline_id != job.pipeline_id:
        raise DomainError(
            ErrorCode.WRONG_PIPELINE,
            "the stage belongs to another pipeline: use transferJob",
            "stageId",
        )


async def _last_rank(stage_id: int) -> str | None:
    last = Job.filter(stage_id=stage_id).order_by("-rank").first().values_list("rank", flat=True)
    rank: str | None = await last  # type: ignore[assignment]
    return rank


@dataclass
class Places:
    """A stage as a bulk call reads it once, its jobs locked: its enabled
    automations, places after its last job for every job the call may add (one rank read for
    all, evenly spaced), and its active jobs against its WIP limit. `next` is the place of the
    job entering now (WIP_LIMIT_REACHED if the stage is full); `took` says it entered, once the
    job's part of the call has succeeded (a failed job's place serves the next one). The
    stage is checked again under its pipeline's lock at the end (a concurrent move may have
    filled it: the whole call is refused then)."""

    stage: Stage
    automations: list[Automation]
    ranks: list[str]
    active: int
    used: int = 0

    @classmethod
    async def of(
        cls, unit: Change, stage: Stage, count: int, automations: list[Automation] | None = None
    ) -> Places:
        ranks = ranking.many(await _last_rank(stage.id), None, count)
        if any(len(rank) > ranking.REBALANCE_LENGTH for rank in ranks):
            await _respread(unit, stage.id, None)
            ranks = ranking.many(await _last_rank(stage.id), None, count)
        active = 0
        if stage.wip_limit is not None:
            active = await Job.filter(stage_id=stage.id, status=JobStatus.ACTIVE).count()
        check_stage_under_lock(unit, stage)  # the count above is not under the lock
        if automations is None:
            automations = await stage_automations(stage.id)
        return cls(stage, automations, ranks, active)

    def next(self) -> str:
        _check_room(self.stage, self.active)
        return self.ranks[self.used]

    def took(self, active: bool = True) -> None:
        self.used += 1
        self.active += active  # a COMPLETED job takes a place, and no room


async def _rank_in(
    unit: Change,
    stage_id: int,
    job_id: int | None,
    before_id: int | None,
    after_id: int | None,
    *,
    respread: bool = True,
    attempt: int = 0,
) -> str:
    """A rank placing the job right after `after_id`, or right before `before_id`, or last.
    `attempt` > 0: another change took the rank read before (save_placed); changes dropping
    jobs in the same gap at once would read the same rank again, so a retry takes a random
    place in the gap, a few halvings deep (each retry deeper: they part quickly)."""
    others = Job.filter(stage_id=stage_id)
    if job_id is not None:
        others = others.exclude(id=job_id)

    async def anchor_and_neighbour(anchor_id: int, field: str, after: bool) -> list[str]:
        """The anchor's rank and its neighbour's on the side the job goes, in one statement."""
        if anchor_id == job_id:
            raise invalid(field, "a job cannot be placed next to itself")
        compare, order = (">=", "ASC") if after else ("<=", "DESC")
        rows = await sql.fetch(  # by hand: this is every drag and drop
            'SELECT "id", "rank" FROM "job" WHERE "stage_id" = ? AND "id" <> ? AND "rank" '
            f'{compare} (SELECT "rank" FROM "job" WHERE "id" = ? AND "stage_id" = ?) '
            f'ORDER BY "rank" {order} LIMIT 2',
            [stage_id, job_id or 0, anchor_id, stage_id],  # ids start at 1
        )
        if not rows or rows[0]["id"] != anchor_id:
            raise DomainError(ErrorCode.NOT_FOUND, "no such job in the target stage", field)
        return [str(row["rank"]) for row in rows]

    low: str | None
    high: str | None
    if after_id is not None:
        low, *rest = await anchor_and_neighbour(after_id, "afterJobId", after=True)
        high = rest[0] if rest else None
        if before_id is not None:
            before = (await anchor_and_neighbour(before_id, "beforeJobId", after=False))[0]
            if not low < before:
                raise invalid("beforeJobId", "beforeJobId must come after afterJobId")
    elif before_id is not None:
        high, *rest = await anchor_and_neighbour(before_id, "beforeJobId", after=False)
        low = rest[0] if rest else None
    else:
        # first() and flat=True: the value itself, not the tuple tortoise's typing says
        low = await others.order_by("-rank").first().values_list("rank", flat=True)  # type: ignore[assignment]
        high = None
    rank = ranking.between(low, high)
    for _ in range(2 * attempt):
        low, high = (rank, high) if _retries.random() < 0.5 else (low, rank)
        rank = ranking.between(low, high)
    if len(rank) > ranking.REBALANCE_LENGTH and respread:
        await _respread(unit, stage_id, job_id)
        return await _rank_in(unit, stage_id, job_id, before_id, after_id, respread=False)
    return rank


_retries = random.Random()


async def _respread(unit: Change, stage_id: int, moving_id: int | None) -> None:
    """Give a stage's jobs evenly spaced ranks again: the one write of many rows, and rare.
    Each renumbered job is changed like any other: version + 1 and a JOB_MOVED event.

    The change already holds the moving job's row, so it may not wait for the others' (the
    lock order, workflow.unit): it takes them without waiting, and if one is held, or a
    spread rank is taken meanwhile, it renumbers nothing this time (a savepoint) and the job
    takes a longer rank (the column holds 255 characters; the next move renumbers)."""
    unit.defer_sequences()  # its events come before the mover's ranks are written
    try:
        async with unit.savepoint():
            rows = await sql.fetch(
                'SELECT * FROM "job" WHERE "stage_id" = ? ORDER BY "id"'
                + (" FOR UPDATE NOWAIT" if is_postgres() else ""),
                [stage_id],
            )
            jobs = sorted((Job._init_from_db(**row) for row in rows), key=lambda j: j.rank)
            for job in jobs:  # clear the way first: (stage, rank) is unique at every statement
                await Job.filter(id=job.id).update(rank=f"~{job.id}")
            for job, key in zip(jobs, ranking.spread(len(jobs)), strict=True):
                job.rank = key
                if job.id == moving_id:  # its own move follows, as one change
                    await job.save(update_fields=["rank"])
                    continue
                job.version += 1
                await job.save(update_fields=["rank", "version", "updated_at"])
                await unit.record(
                    job.pipeline_id,
                    EventType.JOB_MOVED,
                    job,
                    from_stage_id=stage_id,
                    to_stage_id=stage_id,
                    changes={"rank": key, "renumbered": True},
                )
    except (OperationalError, IntegrityError, LockNotAvailableError):  # held, or taken: not now
        return


async def enter_stage(
    unit: Change,
    job: Job,
    stage: Stage,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    skip_automations: Collection[int] = (),
    automations: list[Automation] | None = None,
    rank: str | None = None,
    client: ClientFacts | None = None,
    check_wip: bool = True,
) -> JobEvent:
    """Move a locked job to another stage of its pipeline, log it and, unless the job is
    archived, run the stage's entry hook. A bulk call gives the job's `rank` (see Places) and
    its client's facts, read once for all its jobs. The stage's WIP limit is checked again
    under its pipeline's lock at the end (`check_wip`: unless the caller checks the whole
    stage then)."""
    from_stage_id = job.stage_id
    await cancel_dated_runs(job, LEFT_STAGE)
    given = [rank] if rank else []

    async def place(attempt: int) -> str:  # the bulk call's place first, then one read now
        if given:
            return given.pop()
        return await _rank_in(unit, stage.id, job.id, before_id, after_id, attempt=attempt)

    job.stage_id = stage.id
    deadlines.enter(job, stage.time_limit_days, clock.now())
    job.version += 1
    entered = ["stage_id", "stage_entered_at", *deadlines.FIELDS]
    await save_placed(job, ["rank", *entered, "version", "updated_at"], place)
    if check_wip:
        check_stage_under_lock(unit, stage, job.id, entering=job)
    event = await unit.record(
        job.pipeline_id,
        EventType.JOB_MOVED,
        job,
        from_stage_id=from_stage_id,
        to_stage_id=stage.id,
        changes={"rank": job.rank},
    )
    if job.status != JobStatus.ARCHIVED:
        await on_stage_entry(unit, job, stage, event, skip_automations, automations, client=client)
    return event


async def create_job(
    scope: Scope,
    pipeline_id: int,
    client_id: int,
    title: str,
    *,
    stage_id: int | None = None,
    priority: Priority = Priority.NORMAL,
    start_date: date | None = None,
    due_date: date | None = None,
    tags: list[str] | None = None,
    assignee_ids: list[int] | None = None,
    custom_field_values: Any = None,
) -> Job:
    """Create a job in its pipeline's first stage (or `stage_id`), last in that stage, with
    the custom field values given (checked: workflow.custom_fields)."""
    clean_title = validation.name(title, "title")
    clean_tags = validation.tags(tags or [])
    _check_dates(start_date, due_date)
    async with change(scope) as unit:
        values = await custom_fields.values_for(
            scope, CustomFieldEntity.JOB, {}, custom_field_values, creating=True
        )
        return await new_job(
            unit,
            pipeline_id,
            client_id,
            clean_title,
            stage_id=stage_id,
            priority=priority,
            start_date=start_date,
            due_date=due_date,
            tags=clean_tags,
            assignee_ids=assignee_ids or [],
            custom_field_values=values,
        )


async def new_job(
    unit: Change,
    pipeline_id: int,
    client_id: int,
    title: str,
    *,
    stage_id: int | None,
    priority: Priority,
    start_date: date | None,
    due_date: date | None,
    tags: list[str],
    assignee_ids: list[int],
    period: str | None = None,
    template_id: int | None = None,
    recurring_schedule_id: int | None = None,
    changes: dict[str, Any] | None = None,
    before_entry: Callable[[Job], Awaitable[object]] | None = None,
    custom_field_values: dict[str, Any] | None = None,
    places: Places | None = None,
    client: ClientFacts | None = None,
) -> Job:
    """The one way a job comes to be (createJob, jobs from templates): checked values in, the
    job written last in its stage, its JOB_CREATED event (with `changes`), then `before_entry`
    (what else the job starts with, e.g. its checklist), then the stage-entry hook. A bulk
    call gives `places` (its stage, read once; the caller has checked the client, and gives
    its tags) and takes the place once the job's part of the call has succeeded."""
    scope = unit.scope
    automations: list[Automation] | None = None
    given: list[str] = []
    if places is None:
        await scope.get(Pipeline, pipeline_id, field="pipelineId")
        stage = await _stage_of(scope, pipeline_id, stage_id)
        await _check_wip(stage)  # at once, and again under the pipeline's lock
        check_stage_under_lock(unit, stage)
        await scope.get(Client, client_id, field="clientId")
        assignees = await users_of(scope, assignee_ids)
    else:
        stage, automations, given = places.stage, places.automations, [places.next()]
        assignees = await users_of(scope, assignee_ids)

    async def place(attempt: int) -> str:  # the bulk call's place first, then one read now
        if given:
            return given.pop()
        return await _rank_in(unit, stage.id, None, None, None, attempt=attempt)

    job = Job(
        firm_id=scope.firm_id,
        client_id=client_id,
        pipeline_id=pipeline_id,
        stage_id=stage.id,
        title=title,
        rank="",
        priority=priority,
        start_date=start_date,
        due_date=due_date,
        tags=tags,
        period=period,
        template_id=template_id,
        recurring_schedule_id=recurring_schedule_id,
        custom_fields=custom_field_values or {},
    )
    deadlines.enter(job, stage.time_limit_days, clock.now())
    await save_placed(job, [], place, create=True)
    if assignees:
        await job.assignees.add(*assignees)
    event = await unit.record(
        pipeline_id, EventType.JOB_CREATED, job, to_stage_id=stage.id, changes=changes
    )
    if before_entry is not None:
        await before_entry(job)
    await on_stage_entry(unit, job, stage, event, automations=automations, client=client)
    return job


async def _stage_of(
    scope: Scope, pipeline_id: int, stage_id: int | None, job_id: int | None = None
) -> Stage:
    if stage_id is None:
        return await first_stage(pipeline_id, job_id)
    stage = await entered_stage(scope, stage_id, job_id)
    if stage.pipeline_id != pipeline_id:
        raise DomainError(
            ErrorCode.WRONG_PIPELINE, "the stage belongs to another pipeline", "stageId"
        )
    return stage


async def users_of(scope: Scope, user_ids: list[int]) -> list[User]:
    wanted = set(user_ids)
    users = await scope.query(User).filter(id__in=wanted, is_active=True) if wanted else []
    if len(users) != len(wanted):
        raise DomainError(ErrorCode.NOT_FOUND, "assignee not found", "assigneeIds")
    return users


def _check_dates(start: date | None, due: date | None) -> None:
    if start and due and due < start:
        raise invalid("dueDate", "dueDate must not be before startDate")


UPDATABLE = {
    "title",
    "priority",
    "start_date",
    "due_date",
    "tags",
    "status",
    "client_id",
    "custom_fields",
}


async def update_job(
    scope: Scope, job_id: int, expected_version: int | None = None, **changes: Any
) -> Job:
    """Change any of title, priority, dates, tags, status (ACTIVE or COMPLETED), client,
    assignee_ids, custom_fields (merged over the job's: workflow.custom_fields). Restoring an
    archived job is setting its status back to ACTIVE."""
    assignee_ids: list[int] | None = changes.pop("assignee_ids", None)
    if unknown := set(changes) - UPDATABLE:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    if "title" in changes:
        changes["title"] = validation.name(changes["title"], "title")
    if "tags" in changes:
        changes["tags"] = validation.tags(changes["tags"] or [])
    if changes.get("status") == JobStatus.ARCHIVED:
        raise invalid("status", "use archiveJob to archive a job")
    async with change(scope) as unit:
        job = await unit.lock_job(job_id, field="id")
        _check_version(job, expected_version)
        await apply_update(unit, job, changes, assignee_ids)
    return job


async def apply_update(
    unit: Change,
    job: Job,
    changes: dict[str, Any],
    assignee_ids: list[int] | None = None,
    *,
    users: list[User] | None = None,
    assigned: list[int] | None = None,
    defined: dict[str, CustomField] | None = None,
    field: str = "id",
) -> bool:
    """updateJob's part for one locked job, its values checked: the changes that differ from
    the job's, written with one JOB_UPDATED event saying from what to what (none if nothing
    differs); whether the job changed. A bulk call gives the assignees' `users`, each job's
    `assigned` ids and the JOB custom field definitions, read once for all its jobs."""
    if job.status == JobStatus.ARCHIVED and (set(changes) - {"status"} or assignee_ids is not None):
        raise DomainError(ErrorCode.JOB_ARCHIVED, "the job is archived: restore it first", field)
    if changes.get("status") == JobStatus.ACTIVE and job.status != JobStatus.ACTIVE:
        stage = await Stage.get(id=job.stage_id)
        await _check_wip(stage, job.id)
        check_stage_under_lock(unit, stage, job.id)
    _check_dates(changes.get("start_date", job.start_date), changes.get("due_date", job.due_date))
    if "client_id" in changes:
        await unit.scope.get(Client, changes["client_id"], field="clientId")
    diff = {
        key: {"from": _jsonable(getattr(job, key)), "to": _jsonable(value)}
        for key, value in changes.items()
        if getattr(job, key) != value and key != "custom_fields"
    }
    if "custom_fields" in changes:  # merged over the job's; the diff names the changed keys
        if defined is None:
            defined = await custom_fields.definitions(unit.scope.firm_id, CustomFieldEntity.JOB)
        changes["custom_fields"] = custom_fields.merge_values(
            defined, job.custom_fields, changes["custom_fields"] or {}, creating=False
        )
        if values := custom_fields.diff(job.custom_fields, changes["custom_fields"]):
            diff["custom_fields"] = values
    if assignee_ids is not None:
        if users is None:
            users = await users_of(unit.scope, assignee_ids)
        if assigned is None:
            assigned = [u.id for u in await job.assignees.all()]
        before = sorted(assigned)
        if before != sorted(u.id for u in users):
            await job.assignees.clear()
            if users:
                await job.assignees.add(*users)
            diff["assignee_ids"] = {"from": before, "to": sorted(u.id for u in users)}
    if not diff:
        return False
    for key in diff.keys() - {"assignee_ids"}:
        setattr(job, key, changes[key])
    scheduled: list[str] = []
    if diff.keys() & {"due_date", "status"}:
        deadlines.reschedule(job, clock.now())
        scheduled = deadlines.FIELDS
    job.version += 1
    await job.save(
        update_fields=[*(diff.keys() - {"assignee_ids"}), *scheduled, "version", "updated_at"]
    )
    await unit.record(job.pipeline_id, EventType.JOB_UPDATED, job, changes=diff)
    if "due_date" in diff:
        await due_date_changed(unit, job)
    return True


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def archive_job(scope: Scope, job_id: int, expected_version: int | None = None) -> Job:
    async with change(scope) as unit:
        job = await unit.lock_job(job_id, field="id")
        _check_version(job, expected_version)
        await archive_locked(unit, job, "id")
    return job


async def archive_locked(unit: Change, job: Job, field: str) -> None:
    """archiveJob's part for one locked job (JOB_ARCHIVED on `field` if it already is)."""
    _check_active(job, field)
    previous = job.status
    job.status = JobStatus.ARCHIVED
    deadlines.reschedule(job, clock.now())  # archived jobs announce nothing
    job.version += 1
    await job.save(update_fields=["status", *deadlines.FIELDS, "version", "updated_at"])
    await cancel_dated_runs(job, ARCHIVED)
    await unit.record(
        job.pipeline_id,
        EventType.JOB_ARCHIVED,
        job,
        changes={"status": {"from": previous, "to": job.status}},
    )


async def move_job(
    scope: Scope,
    job_id: int,
    stage_id: int,
    *,
    before_job_id: int | None = None,
    after_job_id: int | None = None,
    expected_version: int | None = None,
    skip_automations: Collection[int] = (),
    seen: Callable[[Stage], object] | None = None,
) -> Job:
    """Move a job to a stage of its pipeline, or to another place in its stage.

    `after_job_id` puts it right after that job, `before_job_id` right before it; with neither
    it goes last. Entering another stage runs that stage's automations, except the ones the
    mover chose to skip for this move. `seen` is given the stage once the move is made (the
    caller's payload shows it: no second read).
    """
    async with change(scope) as unit:
        # Read before the job is locked: every statement under a lock holds up the job's (and,
        # at the end, the pipeline's) other changes.
        stage = await entered_stage(scope, stage_id, job_id)
        automations = await stage_automations(stage.id)
        job = await unit.lock_job(job_id)
        _check_version(job, expected_version)
        check_move(job, stage)
        if stage.id != job.stage_id:  # its WIP limit: checked at the end, under the lock
            await enter_stage(
                unit,
                job,
                stage,
                before_id=before_job_id,
                after_id=after_job_id,
                skip_automations=skip_automations,
                automations=automations,
            )
        elif before_job_id is None and after_job_id is None:
            pass  # already in that stage, and no place asked for: nothing changes
        else:
            await _reorder(unit, job, stage, before_job_id, after_job_id)
    if seen is not None:
        seen(stage)
    return job


async def _reorder(
    unit: Change, job: Job, stage: Stage, before_job_id: int | None, after_job_id: int | None
) -> None:
    """moveJob's part for a locked job given another place in its own stage."""
    job.version += 1
    await save_placed(
        job,
        ["rank", "version", "updated_at"],
        lambda attempt: _rank_in(
            unit, stage.id, job.id, before_job_id, after_job_id, attempt=attempt
        ),
    )
    await unit.record(
        job.pipeline_id,
        EventType.JOB_MOVED,
        job,
        from_stage_id=stage.id,
        to_stage_id=stage.id,
        changes={"rank": job.rank},
    )


async def transfer_job(
    scope: Scope,
    job_id: int,
    pipeline_id: int,
    *,
    stage_id: int | None = None,
    expected_version: int | None = None,
) -> Job:
    """Move a job into another pipeline: its first stage, or `stage_id`; last in that stage.

    The source pipeline logs JOB_TRANSFERRED_OUT and the target JOB_TRANSFERRED_IN.
    """
    async with change(scope) as unit:
        # The stage the job enters first (share-locked), then the job: workflow.unit's lock
        # order. A missing job or pipeline is still the first error.
        await scope.get(Pipeline, pipeline_id, field="pipelineId")
        if job_id not in unit.jobs_held:
            await scope.get(Job, job_id, field="jobId")
        stage = await _stage_of(scope, pipeline_id, stage_id, job_id)
        job = await unit.lock_job(job_id, field="jobId")
        _check_version(job, expected_version)
        _check_active(job)
        if pipeline_id == job.pipeline_id:
            raise invalid("pipelineId", "the job is already in this pipeline: use moveJob")
        await _check_wip(stage, job.id)  # at once, and again under the pipeline's lock
        check_stage_under_lock(unit, stage, job.id, entering=job)
        from_stage_id, from_pipeline_id = job.stage_id, job.pipeline_id
        await cancel_dated_runs(job, LEFT_STAGE)
        job.pipeline_id, job.stage_id = pipeline_id, stage.id
        deadlines.enter(job, stage.time_limit_days, clock.now())
        job.version += 1
        await save_placed(
            job,
            [
                "rank",
                "pipeline_id",
                "stage_id",
                "stage_entered_at",
                *deadlines.FIELDS,
                "version",
                "updated_at",
            ],
            lambda attempt: _rank_in(unit, stage.id, job.id, None, None, attempt=attempt),
        )
        # logged in two pipelines: both locked now, in id order (workflow.unit)
        await unit.lock_pipelines([from_pipeline_id, pipeline_id])
        for log, kind in (
            (from_pipeline_id, EventType.JOB_TRANSFERRED_OUT),
            (pipeline_id, EventType.JOB_TRANSFERRED_IN),
        ):
            event = await unit.record(
                log,
                kind,
                job,
                from_stage_id=from_stage_id,
                from_pipeline_id=from_pipeline_id,
                to_stage_id=stage.id,
                to_pipeline_id=pipeline_id,
            )
        await on_stage_entry(unit, job, stage, event)
    return job
