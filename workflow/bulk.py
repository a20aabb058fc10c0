"""Bulk operations: bulkMoveJobs, bulkUpdateJobs, bulkArchiveJobs and createJobs, each on many
jobs (MAX_JOBS, or MAX_CREATED clients) in one call.

A call is one change (one transaction): what its items share is read once (the target stage
and its automations, the jobs by one statement, their pipelines locked once in id order, the
place after the stage's last job), and each item is the single mutation's own part for one job
(workflow.jobs: enter_stage, apply_update, archive_locked, new_job; create_job_from_template),
so it logs the same events, records the same automation runs and owes the same webhooks.

- Refused whole, before anything runs (the payload's errors, no results): more ids than the
  limit, an id given twice, and what the whole call shares (the stage, the pipeline or
  template, the assignees, the tags asked for).
- Per item (its result's errors): an id that is malformed (INVALID_ID) or names no job of the
  firm (NOT_FOUND), and what the single mutation would answer for that job.
- Not atomic (the default): each item runs in a savepoint (Change.savepoint); a failed item is
  rolled back alone, leaving no trace, and the others are written.
- Atomic: all or nothing. The failures known before anything is written (ids that name
  nothing, archived jobs, jobs of another pipeline) are found for every item; otherwise the
  first item that fails stops the call. Either way nothing is written, every result's job is
  null, the failed items carry their errors, and the payload's errors hold BULK_REFUSED (field
  `atomic`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models import (
    Client,
    CustomFieldEntity,
    Job,
    JobStatus,
    JobTemplate,
    Pipeline,
    Priority,
    sql,
)
from workflow import custom_fields, jobs, validation
from workflow.errors import DomainError, ErrorCode, invalid, not_found
from workflow.global_ids import decode_id
from workflow.periods import Period
from workflow.scope import Scope
from workflow.stage_entry import ClientFacts, stage_automations
from workflow.templates import check_title_for, create_job_from_template
from workflow.unit import Change, change

MAX_JOBS = 100  # jobIds of one call
MAX_CREATED = 500  # clientIds of one createJobs


@dataclass
class Item:
    """One item of a call, in input order: the id as given, its row id (None if malformed),
    the job once done (None if the item failed), its errors."""

    given: str
    pk: int | None
    job: Job | None = None
    errors: list[DomainError] = field(default_factory=list)


@dataclass
class Outcome:
    items: list[Item]
    errors: list[DomainError]


class _Abort(Exception):
    """An atomic call met a failed item: roll the whole change back."""


class _NoneDone(Exception):
    """No item changed anything (each failed, or already was as asked): nothing is committed,
    not even the firm's catalog version, which a change that logs no event bumps. Every
    change a bulk item makes logs an event."""


def _items(ids: list[str], type_name: str, field_name: str, limit: int) -> list[Item]:
    """The call's items, each id decoded on its own; more than `limit` ids, or one given
    twice, refuses the call."""
    if len(ids) > limit:
        raise invalid(field_name, f"at most {limit} ids in {field_name}; {len(ids)} given")
    items = []
    for given in ids:
        try:
            items.append(Item(given, decode_id(given, type_name, field_name)))
        except DomainError as error:
            items.append(Item(given, None, errors=[error]))
    seen: set[object] = set()
    for item in items:
        key = item.pk if item.pk is not None else item.given
        if key in seen:
            raise invalid(field_name, f"{field_name} holds {item.given} more than once")
        seen.add(key)
    return items


async def _call(
    scope: Scope, items: list[Item], body: Callable[[Change], Awaitable[None]]
) -> Outcome:
    """Run `body` as one change; an atomic abort answers every item without its job. No
    items: nothing to do, and nothing read."""
    if not items:
        return Outcome([], [])
    try:
        async with change(scope) as unit:
            unit.defer_sequences()
            await body(unit)
    except _NoneDone:
        return Outcome(items, [])
    except _Abort:
        for item in items:
            item.job = None
        failed = sum(1 for item in items if item.errors)
        refused = DomainError(
            ErrorCode.BULK_REFUSED,
            f"atomic call refused, nothing written: {failed} of {len(items)} items failed "
            "(see their results)",
            "atomic",
        )
        return Outcome(items, [refused])
    return Outcome(items, [])


async def _each(
    unit: Change, items: list[Item], atomic: bool, work: Callable[[Item], Awaitable[Job]]
) -> None:
    """Each item not yet failed, in input order: in a savepoint of its own, or (atomic) the
    first failure aborting the call. Failures known before any write abort an atomic call
    at once."""
    if atomic and any(item.errors for item in items):
        raise _Abort
    for item in items:
        if item.errors:
            continue
        try:
            if atomic:
                item.job = await work(item)
            else:
                async with unit.savepoint():
                    item.job = await work(item)
        except DomainError as error:
            item.errors.append(error)
            if atomic:
                raise _Abort from None
    if not unit.events:
        raise _NoneDone


def _not_found(item: Item, field_name: str) -> None:
    item.errors.append(not_found("Job", field_name))


async def _client_facts(client_ids: set[int]) -> dict[int, ClientFacts]:
    """The tags and custom field values of these clients, in one statement (what stage
    automations' conditions read)."""
    if not client_ids:
        return {}
    rows = await Client.filter(id__in=client_ids).values_list("id", "tags", "custom_fields")
    return {client_id: (list(tags), dict(values)) for client_id, tags, values in rows}


# Moves ----------------------------------------------------------------------------------


async def bulk_move_jobs(
    scope: Scope, job_ids: list[str], stage_id: int, *, atomic: bool = False
) -> Outcome:
    """Move each job to `stage_id` (a stage of its pipeline), last there, in input order, as
    moveJob with no place given: a job already in the stage is answered unchanged."""
    items = _items(job_ids, "Job", "jobIds", MAX_JOBS)
    pks = [item.pk for item in items if item.pk is not None]

    async def body(unit: Change) -> None:
        # The jobs' locks first, the pipeline's last (at the end: workflow.unit).
        stage = await jobs.entered_stage(scope, stage_id)
        automations = await stage_automations(stage.id)
        locked = await unit.lock_jobs(pks, in_pipeline=stage.pipeline_id)
        others = set(pks) - locked.keys()
        elsewhere = (
            {j.id: j for j in await scope.query(Job).filter(id__in=others)} if others else {}
        )
        for item in items:
            if item.errors or item.pk is None:
                continue
            job = locked.get(item.pk) or elsewhere.get(item.pk)
            if job is None:
                _not_found(item, "jobIds")
                continue
            try:
                jobs.check_move(job, stage, "jobIds")
            except DomainError as error:
                item.errors.append(error)
        entering = [
            job
            for job in locked.values()
            if job.stage_id != stage.id and job.status != JobStatus.ARCHIVED
        ]
        places = await jobs.Places.of(unit, stage, len(entering), automations)
        facts = await _client_facts({j.client_id for j in entering} if automations else set())

        async def move(item: Item) -> Job:
            assert item.pk is not None
            job = locked[item.pk]
            if job.stage_id == stage.id:
                return job  # already there, and no place asked for: nothing changes
            await jobs.enter_stage(
                unit,
                job,
                stage,
                rank=places.next(),
                automations=automations,
                client=facts.get(job.client_id, ([], {})),
                check_wip=False,  # Places checks the stage at the end
            )
            places.took(job.status == JobStatus.ACTIVE)
            return job

        await _each(unit, items, atomic, move)

    return await _call(scope, items, body)


# Updates --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagChange:
    add: list[str]
    remove: list[str]

    def apply(self, tags: list[str]) -> list[str]:
        kept = [tag for tag in tags if tag not in self.remove]
        return validation.tags([*kept, *self.add], "addTags")


# What each kind of change asked of bulkUpdateJobs makes of one job: the fields it gives
# workflow.jobs.apply_update, from the call's (checked) value and the job's current values.
# One more kind of change is one more line here (and its check in bulk_update_jobs).
EDITS: dict[str, Callable[[Any, Job], dict[str, Any]]] = {
    "tags": lambda tags, job: {"tags": tags.apply(job.tags)},
    "priority": lambda priority, job: {"priority": priority},
    "due_date": lambda due_date, job: {"due_date": due_date},
    "custom_fields": lambda values, job: {"custom_fields": values},  # merged by apply_update
}


async def bulk_update_jobs(
    scope: Scope,
    job_ids: list[str],
    *,
    add_tags: list[str] | None = None,
    remove_tags: list[str] | None = None,
    assignee_ids: list[int] | None = None,
    priority: Priority | None = None,
    due_date: date | None = None,
    due_date_given: bool = False,
    custom_field_values: Any = None,
    atomic: bool = False,
) -> Outcome:
    """Change each job as updateJob would: tags added and removed (merged into each job's),
    its assignees replaced by `assignee_ids` (None: left as they are; []: none), its
    priority, its due date (`due_date_given` with None clears it), its custom field values
    (merged over each job's, as updateJob does). One JOB_UPDATED event per job that changed,
    with what changed; none for a job that already had those values."""
    items = _items(job_ids, "Job", "jobIds", MAX_JOBS)
    asked: dict[str, Any] = {}
    if add_tags or remove_tags:
        change_tags = TagChange(
            validation.tags(add_tags or [], "addTags"),
            validation.tags(remove_tags or [], "removeTags"),
        )
        if both := sorted(set(change_tags.add) & set(change_tags.remove)):
            raise invalid("removeTags", f"tags both added and removed: {both}")
        asked["tags"] = change_tags
    if priority is not None:
        asked["priority"] = priority
    if due_date_given:
        asked["due_date"] = due_date
    if custom_field_values is not None:
        asked["custom_fields"] = custom_field_values
    pks = [item.pk for item in items if item.pk is not None]

    async def body(unit: Change) -> None:
        users = None if assignee_ids is None else await jobs.users_of(scope, assignee_ids)
        defined = None
        if custom_field_values is not None:  # checked once: every job gets the same values
            defined = await custom_fields.definitions(scope.firm_id, CustomFieldEntity.JOB)
            custom_fields.merge_values(defined, {}, custom_field_values, creating=False)
        locked = await unit.lock_jobs(pks)
        assigned: dict[int, list[int]] = {pk: [] for pk in locked}
        if assignee_ids is not None and locked:
            rows = await sql.fetch(
                'SELECT "job_id", "user_id" FROM "job_assignee" WHERE "job_id" IN '
                f"({', '.join('?' * len(locked))})",
                list(locked),
            )
            for row in rows:
                assigned[row["job_id"]].append(row["user_id"])
        for item in items:
            if item.pk is not None and not item.errors and item.pk not in locked:
                _not_found(item, "jobIds")
            elif item.pk is not None and not item.errors:
                job = locked[item.pk]
                if job.status == JobStatus.ARCHIVED and (asked or assignee_ids is not None):
                    item.errors.append(
                        DomainError(
                            ErrorCode.JOB_ARCHIVED,
                            "the job is archived: restore it first",
                            "jobIds",
                        )
                    )

        async def update(item: Item) -> Job:
            assert item.pk is not None
            job = locked[item.pk]
            changes: dict[str, Any] = {}
            for key, value in asked.items():
                changes |= EDITS[key](value, job)
            await jobs.apply_update(
                unit,
                job,
                changes,
                assignee_ids,
                users=users,
                assigned=assigned[job.id],
                defined=defined,
                field="jobIds",
            )
            return job

        await _each(unit, items, atomic, update)

    return await _call(scope, items, body)


# Archiving ------------------------------------------------------------------------------


async def bulk_archive_jobs(scope: Scope, job_ids: list[str], *, atomic: bool = False) -> Outcome:
    """Archive each job as archiveJob would (JOB_ARCHIVED for one that already is)."""
    items = _items(job_ids, "Job", "jobIds", MAX_JOBS)
    pks = [item.pk for item in items if item.pk is not None]

    async def body(unit: Change) -> None:
        locked = await unit.lock_jobs(pks)
        for item in items:
            if item.pk is None or item.errors:
                continue
            if item.pk not in locked:
                _not_found(item, "jobIds")
            elif locked[item.pk].status == JobStatus.ARCHIVED:
                item.errors.append(
                    DomainError(ErrorCode.JOB_ARCHIVED, "the job is archived", "jobIds")
                )

        async def archive(item: Item) -> Job:
            assert item.pk is not None
            job = locked[item.pk]
            await jobs.archive_locked(unit, job, "jobIds")
            return job

        await _each(unit, items, atomic, archive)

    return await _call(scope, items, body)


# Creation -------------------------------------------------------------------------------


async def create_jobs(
    scope: Scope,
    client_ids: list[str],
    *,
    pipeline_id: int | None = None,
    template_id: int | None = None,
    title: str | None = None,
    period: Period | None = None,
    atomic: bool = False,
) -> Outcome:
    """A job for each client, in input order, last in the stage it starts in: in
    `pipeline_id`'s first stage with `title` (required; `period` is recorded on the job), or
    from `template_id` as createJobFromTemplate makes it (its title rule, with `period`; no
    `title` then)."""
    if (pipeline_id is None) == (template_id is None):
        raise invalid("pipelineId", "give exactly one of pipelineId and templateId")
    clean_title: str | None = None
    if template_id is None:
        if title is None:
            raise invalid("title", "title is required without templateId")
        clean_title = validation.name(title, "title")
    elif title is not None:
        raise invalid("title", "a template gives its jobs their title: leave title out")
    items = _items(client_ids, "Client", "clientIds", MAX_CREATED)
    pks = [item.pk for item in items if item.pk is not None]

    async def body(unit: Change) -> None:
        template: JobTemplate | None = None
        if template_id is not None:
            template = await scope.get(JobTemplate, template_id, field="templateId")
            # the same for every item: refused whole rather than item by item
            check_title_for(template.title_template, period.frequency if period else None, "period")
            pipeline, stage_id = template.pipeline_id, template.stage_id
        else:
            assert pipeline_id is not None
            pipeline, stage_id = pipeline_id, None
        await scope.get(Pipeline, pipeline, field="pipelineId")  # its lock comes at the end
        stage = (  # share-locked, as every stage a job enters (workflow.jobs.entered_stage)
            await jobs.entered_stage(scope, stage_id)
            if stage_id is not None
            else await jobs.first_stage(pipeline)
        )
        clients = {c.id: c for c in await scope.query(Client).filter(id__in=pks)} if pks else {}
        for item in items:
            if item.pk is not None and not item.errors and item.pk not in clients:
                item.errors.append(not_found("Client", "clientIds"))
        places = await jobs.Places.of(unit, stage, len(clients))

        async def create(item: Item) -> Job:
            assert item.pk is not None
            client = clients[item.pk]
            if template is not None:
                job = await create_job_from_template(unit, template, client, period, places=places)
            else:
                assert clean_title is not None
                job = await jobs.new_job(
                    unit,
                    pipeline,
                    client.id,
                    clean_title,
                    stage_id=None,
                    priority=Priority.NORMAL,
                    start_date=None,
                    due_date=None,
                    tags=[],
                    assignee_ids=[],
                    period=period.label if period else None,
                    places=places,
                    client=(list(client.tags), client.custom_fields),
                )
            places.took()
            return job

        await _each(unit, items, atomic, create)

    return await _call(scope, items, body)
