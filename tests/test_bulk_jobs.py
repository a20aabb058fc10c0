"""Bulk mutations (workflow.bulk): bulkMoveJobs, bulkUpdateJobs, bulkArchiveJobs, createJobs.

Each item does what the single mutation does (events, automation runs, webhook deliveries,
compared with single mutations' outcomes); by default a failed item fails alone and leaves no
trace, `atomic: true` writes nothing when one fails; limits and duplicates refuse the call
before anything runs; a retried call with its Idempotency-Key writes nothing again; a call's
cost, and so the rate limits, count its items; and moving 100 jobs costs a fixed number of
statements plus a few per job.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import httpx
import pytest
from graphql import parse

import settings
from api import schema
from automations import manage
from models import (
    ActionType,
    AutomationRun,
    AutomationTrigger,
    CustomFieldEntity,
    CustomFieldType,
    EventType,
    Job,
    JobEvent,
    JobStatus,
    Permission,
    Pipeline,
    Stage,
    Task,
    User,
    WebhookDelivery,
)
from models.db import is_postgres
from schema.guard import analyze
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, job, scope_of
from tests.mutations import snapshot
from web.app import create_app
from web.middleware import RequestLog
from workflow import custom_fields, jobs, periods, templates, unit, webhooks
from workflow.errors import DomainError, ErrorCode
from workflow.firms import NewFirm

RESULTS = "results { jobId clientId job { id title version rank tags priority dueDate period"
RESULTS += " stage { id } } errors { code field message } } errors { code field message }"
MOVE = f"""mutation($input: BulkMoveJobsInput!) {{ bulkMoveJobs(input: $input) {{ {RESULTS} }} }}"""
UPDATE = f"""mutation($input: BulkUpdateJobsInput!) {{ bulkUpdateJobs(input: $input) {{
  {RESULTS} }} }}"""
ARCHIVE = f"""mutation($input: BulkArchiveJobsInput!) {{ bulkArchiveJobs(input: $input) {{
  {RESULTS} }} }}"""
CREATE = f"""mutation($input: CreateJobsInput!) {{ createJobs(input: $input) {{ {RESULTS} }} }}"""
SINGLE_MOVE = """mutation($input: MoveJobInput!) { moveJob(input: $input) {
  job { id } errors { code } } }"""
URL = "http://127.0.0.1:9/hook"


async def cards(firm: NewFirm, pipeline: Pipeline, count: int, prefix: str = "job") -> list[Job]:
    avery = await client(firm)
    return [await job(firm, pipeline, avery, f"{prefix} {n}") for n in range(count)]


def ids(*rows: Job) -> list[str]:
    return [gid("Job", row.id) for row in rows]


async def in_stage(stage: Stage) -> list[str]:
    return [j.title for j in await Job.filter(stage_id=stage.id).order_by("rank")]


async def history(job_id: int) -> list[tuple[Any, ...]]:
    """A job's events as comparable across boards: type, version and stage positions."""
    positions = {s.id: s.position for s in await Stage.all()}
    return [
        (
            e.type,
            e.job_version,
            positions.get(e.from_stage_id or 0),
            positions.get(e.to_stage_id or 0),
            sorted(e.changes),
        )
        for e in await JobEvent.filter(job_id=job_id).order_by("id")
    ]


async def runs(job_id: int) -> list[tuple[Any, ...]]:
    return [
        (r.action, r.status, r.trigger, r.error)
        for r in await AutomationRun.filter(job_id=job_id).order_by("id")
    ]


async def deliveries(job_id: int) -> list[str]:
    gids = gid("Job", job_id)
    return [
        d.event_type
        for d in await WebhookDelivery.all().order_by("id")
        if (d.payload["data"]["job"] or {}).get("id") == gids
    ]


async def seq_matches_log(pipeline: Pipeline) -> bool:
    """The pipeline's sequence is its log's last number: a failed item left no gap."""
    fresh = await Pipeline.get(id=pipeline.id)
    last = await JobEvent.filter(pipeline_id=pipeline.id).order_by("-seq").first()
    return last is not None and fresh.event_seq == last.seq


# ---------------------------------------------------------------------------------- moves


async def test_bulk_move_moves_each_job_last_in_input_order(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    already = await cards(firm_a, pipeline, 1, "there")
    await jobs.move_job(scope_of(firm_a), already[0].id, stages[1].id)
    a, b, c = await cards(firm_a, pipeline, 3)
    data = (await gql(MOVE, input={"jobIds": ids(c, a, b), "stageId": gid("Stage", stages[1].id)}))[
        "bulkMoveJobs"
    ]
    assert data["errors"] == []
    assert [r["jobId"] for r in data["results"]] == ids(c, a, b)
    assert all(r["errors"] == [] and r["job"]["version"] == 2 for r in data["results"])
    assert {r["job"]["stage"]["id"] for r in data["results"]} == {gid("Stage", stages[1].id)}
    assert [r["clientId"] for r in data["results"]] == [gid("Client", a.client_id)] * 3
    assert await in_stage(stages[1]) == ["there 0", "job 2", "job 0", "job 1"]
    assert await in_stage(stages[0]) == []
    # a job already in the stage is answered unchanged, with no event
    again = (await gql(MOVE, input={"jobIds": ids(a), "stageId": gid("Stage", stages[1].id)}))[
        "bulkMoveJobs"
    ]
    assert again["results"][0]["job"]["version"] == 2 and again["results"][0]["errors"] == []
    assert await JobEvent.filter(job_id=a.id).count() == 2


async def test_each_moved_job_logs_runs_and_owes_exactly_what_a_single_move_does(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """Two boards alike, each with a stage-entry automation (one with a condition that holds
    for some jobs only) and a webhook endpoint: one board's jobs moved one by one by moveJob,
    the other's by one bulkMoveJobs. Each job's events, runs and deliveries are the same."""
    scope = scope_of(firm_a)
    await webhooks.create_endpoint(scope, URL)
    boards = []
    for name in ("Singles", "Bulk"):
        pipeline, stages = await board(firm_a, name=name)
        await manage.create_automation(
            scope, stages[1].id, ActionType.CREATE_TASK, {"title": "Check"}
        )
        await manage.create_automation(
            scope,
            stages[1].id,
            ActionType.CREATE_TASK,
            {"title": "Rush"},
            conditions={"jobTagsAll": ["rush"]},
        )
        made = await cards(firm_a, pipeline, 4, name)
        for card in made[:2]:
            await jobs.update_job(scope, card.id, tags=["rush"])
        boards.append((stages, made))
    (single_stages, singles), (bulk_stages, bulked) = boards
    for card in singles:
        moved = await gql(
            SINGLE_MOVE,
            input={"jobId": gid("Job", card.id), "stageId": gid("Stage", single_stages[1].id)},
        )
        assert moved["moveJob"]["errors"] == []
    data = await gql(
        MOVE, input={"jobIds": ids(*bulked), "stageId": gid("Stage", bulk_stages[1].id)}
    )
    assert data["bulkMoveJobs"]["errors"] == []
    for one, many in zip(singles, bulked, strict=True):
        assert await history(many.id) == await history(one.id)
        assert await runs(many.id) == await runs(one.id)
        assert await deliveries(many.id) == await deliveries(one.id)
    assert len(await runs(bulked[0].id)) == 2 and len(await runs(bulked[3].id)) == 2
    assert (await runs(bulked[3].id))[1][1] == "SKIPPED"  # its conditions did not hold


async def test_a_failed_item_fails_alone_and_leaves_no_trace(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    other, _ = await board(firm_a, ("Lead", "Won"), name="Leads")
    good, archived, full = await cards(firm_a, pipeline, 3)
    elsewhere = (await cards(firm_a, other, 1, "lead"))[0]
    await jobs.archive_job(scope_of(firm_a), archived.id)
    b_pipeline, _ = await board(firm_b)
    theirs = (await cards(firm_b, b_pipeline, 1, "theirs"))[0]
    await Stage.filter(id=stages[1].id).update(wip_limit=1)
    given = [
        gid("Job", good.id),
        gid("Job", theirs.id),  # another firm's: as a missing id
        gid("Job", 999_999),
        "not-an-id",
        gid("Job", archived.id),
        gid("Job", elsewhere.id),
        gid("Job", full.id),  # the stage holds its limit of 1 once `good` is in
    ]
    data = (await gql(MOVE, input={"jobIds": given, "stageId": gid("Stage", stages[1].id)}))[
        "bulkMoveJobs"
    ]
    assert data["errors"] == []
    assert [r["jobId"] for r in data["results"]] == given
    codes = [[(e["code"], e["field"]) for e in r["errors"]] for r in data["results"]]
    assert codes == [
        [],
        [("NOT_FOUND", "jobIds")],
        [("NOT_FOUND", "jobIds")],
        [("INVALID_ID", "jobIds")],
        [("JOB_ARCHIVED", "jobIds")],
        [("WRONG_PIPELINE", "stageId")],
        [("WIP_LIMIT_REACHED", "stageId")],
    ]
    assert data["results"][1] == data["results"][2] | {"jobId": given[1]}
    assert [r["job"] is not None for r in data["results"]] == [True] + [False] * 6
    assert await in_stage(stages[1]) == ["job 0"]
    assert (await Job.get(id=full.id)).version == 1
    assert await JobEvent.filter(job_id=full.id).count() == 1
    assert await seq_matches_log(pipeline)
    assert (await Job.get(id=theirs.id)).version == 1


async def test_an_atomic_call_with_a_failed_item_writes_nothing(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    a, b, c = await cards(firm_a, pipeline, 3)
    await jobs.archive_job(scope_of(firm_a), b.id)
    before = await snapshot()
    given = [*ids(a, b), gid("Job", 999_999), *ids(c)]
    data = (
        await gql(
            MOVE, input={"jobIds": given, "stageId": gid("Stage", stages[1].id), "atomic": True}
        )
    )["bulkMoveJobs"]
    assert [(e["code"], e["field"]) for e in data["errors"]] == [("BULK_REFUSED", "atomic")]
    assert [r["job"] for r in data["results"]] == [None] * 4
    codes = [[e["code"] for e in r["errors"]] for r in data["results"]]
    assert codes == [[], ["JOB_ARCHIVED"], ["NOT_FOUND"], []]
    assert await snapshot() == before
    # a failure met while writing (the stage full after one job) refuses it all the same
    await Stage.filter(id=stages[1].id).update(wip_limit=1)
    before = await snapshot()
    data = (
        await gql(
            MOVE,
            input={"jobIds": ids(a, c), "stageId": gid("Stage", stages[1].id), "atomic": True},
        )
    )["bulkMoveJobs"]
    assert data["errors"][0]["code"] == "BULK_REFUSED"
    codes = [[e["code"] for e in r["errors"]] for r in data["results"]]
    assert codes == [[], ["WIP_LIMIT_REACHED"]]
    assert await snapshot() == before
    assert await in_stage(stages[1]) == []
    # and with every item fine, an atomic call moves them all
    await Stage.filter(id=stages[1].id).update(wip_limit=None)
    data = (
        await gql(
            MOVE,
            input={"jobIds": ids(a, c), "stageId": gid("Stage", stages[1].id), "atomic": True},
        )
    )["bulkMoveJobs"]
    assert data["errors"] == [] and await in_stage(stages[1]) == ["job 0", "job 2"]


@pytest.mark.parametrize("op", ["bulkUpdateJobs", "bulkArchiveJobs", "createJobs"])
async def test_every_bulk_mutation_is_all_or_nothing_when_atomic(
    gql: GraphQL, firm_a: NewFirm, op: str
) -> None:
    """One item names nothing: atomic, nothing is written; not atomic, the others are."""
    pipeline, _ = await board(firm_a)
    a, b = await cards(firm_a, pipeline, 2)
    document, given = {
        "bulkUpdateJobs": (
            UPDATE,
            {"jobIds": [*ids(a), gid("Job", 999_999), *ids(b)], "addTags": ["x"]},
        ),
        "bulkArchiveJobs": (ARCHIVE, {"jobIds": [*ids(a), gid("Job", 999_999), *ids(b)]}),
        "createJobs": (
            CREATE,
            {
                "clientIds": [gid("Client", a.client_id), gid("Client", 999_999)],
                "pipelineId": gid("Pipeline", pipeline.id),
                "title": "New",
            },
        ),
    }[op]
    before = await snapshot()
    refused = (await gql(document, input=given | {"atomic": True}))[op]
    assert [e["code"] for e in refused["errors"]] == ["BULK_REFUSED"]
    assert [r["job"] for r in refused["results"]] == [None] * len(refused["results"])
    assert [bool(r["errors"]) for r in refused["results"]][:2] == [False, True]
    assert await snapshot() == before
    done = (await gql(document, input=given))[op]
    assert done["errors"] == []
    assert [r["job"] is not None for r in done["results"]][:2] == [True, False]
    assert await snapshot() != before
    assert await seq_matches_log(pipeline)


@pytest.mark.parametrize(
    ("document", "field", "extra"),
    [
        (MOVE, "jobIds", {"stageId": "STAGE"}),
        (UPDATE, "jobIds", {"priority": "HIGH"}),
        (ARCHIVE, "jobIds", {}),
        (CREATE, "clientIds", {"pipelineId": "PIPELINE", "title": "2026 return"}),
    ],
)
async def test_too_many_ids_or_one_given_twice_refuse_the_call_before_anything_runs(
    gql: GraphQL, firm_a: NewFirm, document: str, field: str, extra: dict[str, str]
) -> None:
    pipeline, stages = await board(firm_a)
    a, b = await cards(firm_a, pipeline, 2)
    names = {"STAGE": gid("Stage", stages[1].id), "PIPELINE": gid("Pipeline", pipeline.id)}
    extra = {key: names.get(value, value) for key, value in extra.items()}
    kind, row = ("Client", a.client_id) if field == "clientIds" else ("Job", a.id)
    limit = 500 if field == "clientIds" else 100
    name = document.split("{")[1].split("(")[0].strip()
    before = await snapshot()
    over = [gid(kind, n) for n in range(1, limit + 2)]
    data = (await gql(document, input={field: over, **extra}))[name]
    assert data["results"] == []
    assert [(e["code"], e["field"]) for e in data["errors"]] == [("INVALID_INPUT", field)]
    twice = (await gql(document, input={field: [gid(kind, row), gid(kind, row)], **extra}))[name]
    assert twice["results"] == []
    assert [(e["code"], e["field"]) for e in twice["errors"]] == [("INVALID_INPUT", field)]
    assert await snapshot() == before
    empty = (await gql(document, input={field: [], **extra}))[name]
    assert empty == {"results": [], "errors": []}
    assert await snapshot() == before
    exactly = [gid(kind, n) for n in range(1, limit + 1)]
    full = (await gql(document, input={field: exactly, **extra}))[name]
    assert len(full["results"]) == limit and full["errors"] == []


async def test_a_foreign_or_made_up_stage_refuses_the_call_like_move_job(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    pipeline, _ = await board(firm_a)
    _, b_stages = await board(firm_b)
    a = (await cards(firm_a, pipeline, 1))[0]
    before = await snapshot()
    answers = [
        (await gql(MOVE, input={"jobIds": ids(a), "stageId": stage}))["bulkMoveJobs"]
        for stage in (gid("Stage", b_stages[1].id), gid("Stage", 999_999))
    ]
    assert answers[0] == answers[1]
    assert answers[0]["results"] == []
    assert [(e["code"], e["field"]) for e in answers[0]["errors"]] == [("NOT_FOUND", "stageId")]
    assert await snapshot() == before


# ---------------------------------------------------------------------------- statements

# token lookup; the stage and its automations; the jobs locked by one statement; the stage's
# last rank; then per job its dated runs skipped, the job and its event (with a placeholder
# sequence); at the end the webhook endpoints, and on SQLite the pipeline's sequence and the
# events' (PostgreSQL numbers one event at COMMIT: the stage has no WIP limit to count again
# under the pipeline's lock); the payload's stages (one load). 100 moveJobs cost 100 x 9 on
# PostgreSQL (tests/test_query_count.py).
FIXED_STATEMENTS = {"postgres": 7, "sqlite": 9}
# PostgreSQL leaves no more than workflow.unit.TRIGGER_NUMBERS events to the commit: 100 are
# numbered by the change (the pipeline's sequence, the events').
MANY_NUMBERED = {"postgres": 2, "sqlite": 0}
PER_JOB_STATEMENTS = 3


async def test_moving_100_jobs_costs_a_fixed_number_of_statements_and_three_per_job(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    scope = scope_of(firm_a)
    made = [await jobs.create_job(scope, pipeline.id, avery.id, f"job {n}") for n in range(101)]
    await gql("{ viewer { name } }")  # the token's last use is written once a minute
    counts = []
    for moving in (made[:1], made[1:]):
        sql_statements.statements.clear()
        data = await gql(
            MOVE, input={"jobIds": ids(*moving), "stageId": gid("Stage", stages[1].id)}
        )
        assert data["bulkMoveJobs"]["errors"] == []
        assert all(r["errors"] == [] for r in data["bulkMoveJobs"]["results"])
        counts.append(len(sql_statements.statements))
    fixed = FIXED_STATEMENTS["postgres" if is_postgres() else "sqlite"]
    many = MANY_NUMBERED["postgres" if is_postgres() else "sqlite"]
    assert counts == [
        fixed + PER_JOB_STATEMENTS,
        fixed + many + 100 * PER_JOB_STATEMENTS,
    ], sql_statements.statements
    assert len(await in_stage(stages[1])) == 101
    assert max(len(j.rank) for j in await Job.filter(stage_id=stages[1].id)) <= 4


# -------------------------------------------------------------------------------- updates


async def test_bulk_update_merges_tags_replaces_assignees_and_logs_only_real_changes(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    a, b, c = await cards(firm_a, pipeline, 3)
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat", email="pat@a.test")
    await jobs.update_job(scope, a.id, tags=["old", "rush"], due_date=date(2026, 4, 15))
    await jobs.update_job(scope, b.id, tags=["keep"], assignee_ids=[firm_a.owner.id])
    events_before = {j.id: await JobEvent.filter(job_id=j.id).count() for j in (a, b, c)}
    data = (
        await gql(
            UPDATE,
            input={
                "jobIds": ids(a, b, c),
                "addTags": ["2026", " rush "],
                "removeTags": ["old"],
                "assigneeIds": [gid("User", pat.id)],
                "priority": "HIGH",
                "dueDate": None,
            },
        )
    )["bulkUpdateJobs"]
    assert data["errors"] == []
    assert [r["job"]["tags"] for r in data["results"]] == [
        ["rush", "2026"],
        ["keep", "2026", "rush"],
        ["2026", "rush"],
    ]
    assert {r["job"]["priority"] for r in data["results"]} == {"HIGH"}
    assert {r["job"]["dueDate"] for r in data["results"]} == {None}
    for card in (a, b, c):
        assert [u.id for u in await (await Job.get(id=card.id)).assignees.all()] == [pat.id]
        assert await JobEvent.filter(job_id=card.id).count() == events_before[card.id] + 1
    event = await JobEvent.filter(job_id=a.id).order_by("-id").first()
    assert event is not None and event.type == "JOB_UPDATED"
    assert set(event.changes) == {"tags", "priority", "due_date", "assignee_ids"}
    assert event.changes["due_date"] == {"from": "2026-04-15", "to": None}
    # the same again changes nothing: no event, same versions
    versions = [r["job"]["version"] for r in data["results"]]
    again = (
        await gql(
            UPDATE,
            input={
                "jobIds": ids(a, b, c),
                "addTags": ["2026"],
                "assigneeIds": [gid("User", pat.id)],
                "priority": "HIGH",
            },
        )
    )["bulkUpdateJobs"]
    assert [r["job"]["version"] for r in again["results"]] == versions
    for card in (a, b, c):
        assert await JobEvent.filter(job_id=card.id).count() == events_before[card.id] + 1


async def test_a_due_date_set_in_bulk_schedules_each_jobs_dated_runs_as_update_job_does(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a)
    await manage.create_automation(
        scope,
        stages[0].id,
        ActionType.CREATE_TASK,
        {"title": "Remind"},
        trigger=AutomationTrigger.DAYS_BEFORE_DUE,
        trigger_days=3,
    )
    single, a, b = await cards(firm_a, pipeline, 3)
    await webhooks.create_endpoint(scope, URL)
    await jobs.update_job(scope, single.id, due_date=date(2027, 4, 15))
    data = (await gql(UPDATE, input={"jobIds": ids(a, b), "dueDate": "2027-04-15"}))[
        "bulkUpdateJobs"
    ]
    assert data["errors"] == [] and all(r["errors"] == [] for r in data["results"])
    for card in (a, b):
        assert await runs(card.id) == await runs(single.id) != []
        assert await history(card.id) == await history(single.id)
        assert await deliveries(card.id) == await deliveries(single.id) == ["JOB_UPDATED"]
    due = [r.run_after for r in await AutomationRun.filter(job_id__in=[a.id, b.id, single.id])]
    assert len(set(due)) == 1
    # cleared in bulk: each job's waiting run is skipped, as updateJob skips it
    await gql(UPDATE, input={"jobIds": ids(a), "dueDate": None})
    await jobs.update_job(scope, single.id, due_date=None)
    assert await runs(a.id) == await runs(single.id)
    assert (await runs(a.id))[0][1] == "SKIPPED"


async def test_bulk_update_refuses_shared_bad_values_whole_and_per_job_ones_per_item(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    a, b, c = await cards(firm_a, pipeline, 3)
    await jobs.archive_job(scope, b.id)
    await jobs.update_job(scope, c.id, start_date=date(2026, 5, 1))
    before = await snapshot()
    for bad, field in (
        ({"addTags": [""]}, "addTags"),
        ({"addTags": ["x"], "removeTags": ["x"]}, "removeTags"),
        ({"assigneeIds": [gid("User", 999_999)]}, "assigneeIds"),
    ):
        payload = (await gql(UPDATE, input={"jobIds": ids(a), **bad}))["bulkUpdateJobs"]
        assert payload["results"] == [] and payload["errors"][0]["field"] == field, bad
    assert await snapshot() == before
    unasked = (await gql(UPDATE, input={"jobIds": ids(a), "priority": None}))["bulkUpdateJobs"]
    assert unasked["errors"] == [] and unasked["results"][0]["job"]["version"] == 1
    data = (await gql(UPDATE, input={"jobIds": ids(a, b, c), "dueDate": "2026-04-15"}))[
        "bulkUpdateJobs"
    ]
    codes = [[(e["code"], e["field"]) for e in r["errors"]] for r in data["results"]]
    assert codes == [[], [("JOB_ARCHIVED", "jobIds")], [("INVALID_INPUT", "dueDate")]]
    assert data["results"][0]["job"]["dueDate"] == "2026-04-15"
    assert (await Job.get(id=c.id)).due_date is None
    assert await seq_matches_log(pipeline)


async def test_a_tag_list_grown_past_its_limit_fails_that_job_only(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, _ = await board(firm_a)
    a, b = await cards(firm_a, pipeline, 2)
    await jobs.update_job(scope_of(firm_a), a.id, tags=[f"t{n}" for n in range(50)])
    data = (await gql(UPDATE, input={"jobIds": ids(a, b), "addTags": ["new"]}))["bulkUpdateJobs"]
    assert [[e["field"] for e in r["errors"]] for r in data["results"]] == [["addTags"], []]
    assert data["results"][1]["job"]["tags"] == ["new"]


# ------------------------------------------------------------------------------ archiving


async def test_bulk_archive_archives_each_job_as_archive_job_does(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    other, _ = await board(firm_a, ("Lead", "Won"), name="Leads")
    a, b = await cards(firm_a, pipeline, 2)
    single, lead = (
        (await cards(firm_a, pipeline, 1, "single"))[0],
        (await cards(firm_a, other, 1))[0],
    )
    await jobs.archive_job(scope, single.id)
    data = (await gql(ARCHIVE, input={"jobIds": ids(a, lead, single, b)}))["bulkArchiveJobs"]
    codes = [[(e["code"], e["field"]) for e in r["errors"]] for r in data["results"]]
    assert codes == [[], [], [("JOB_ARCHIVED", "jobIds")], []]
    for card in (a, lead, b):
        assert (await Job.get(id=card.id)).status == JobStatus.ARCHIVED
        assert await history(card.id) == await history(single.id)
    assert await seq_matches_log(pipeline) and await seq_matches_log(other)


# ------------------------------------------------------------------------------- creation


async def test_create_jobs_makes_a_job_per_client_as_create_job_does(
    gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a)
    await manage.create_automation(scope, stages[0].id, ActionType.CREATE_TASK, {"title": "Docs"})
    first = await job(firm_a, pipeline, await client(firm_a, "Zed"), "earlier")
    people = [await client(firm_a, f"Client {n}") for n in range(3)]
    theirs = await client(firm_b, "Theirs")
    given = [
        gid("Client", people[0].id),
        gid("Client", theirs.id),
        *(gid("Client", p.id) for p in people[1:]),
    ]
    data = (
        await gql(
            CREATE,
            input={
                "clientIds": given,
                "pipelineId": gid("Pipeline", pipeline.id),
                "title": " 2026 return ",
            },
        )
    )["createJobs"]
    assert data["errors"] == []
    assert [r["clientId"] for r in data["results"]] == given
    assert [bool(r["jobId"]) for r in data["results"]] == [True, False, True, True]
    assert data["results"][1]["errors"] == [
        {"code": "NOT_FOUND", "field": "clientIds", "message": "Client not found"}
    ]
    made = [r for r in data["results"] if r["job"]]
    assert {r["job"]["title"] for r in made} == {"2026 return"}
    assert all(r["jobId"] == r["job"]["id"] for r in made)
    assert await in_stage(stages[0]) == ["earlier", "2026 return", "2026 return", "2026 return"]
    new_ids = [j.id for j in await Job.filter(title="2026 return").order_by("rank")]
    for job_id in new_ids:
        assert await history(job_id) == await history(first.id)
        assert await runs(job_id) == await runs(first.id)
    refused = [
        ({"pipelineId": gid("Pipeline", pipeline.id)}, "title"),
        ({}, "pipelineId"),
        ({"pipelineId": gid("Pipeline", 999_999), "title": "x"}, "pipelineId"),
    ]
    before = await snapshot()
    for extra, field in refused:
        answer = (await gql(CREATE, input={"clientIds": given[:1], **extra}))["createJobs"]
        assert answer["results"] == [] and answer["errors"][0]["field"] == field, extra
    assert await snapshot() == before


async def test_create_jobs_from_a_template_follows_its_title_rule_and_checklist(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a)
    template = await templates.create_job_template(
        scope,
        "Monthly",
        pipeline.id,
        "{client.name} {period.monthName}",
        stage_id=stages[1].id,
        tags=["monthly"],
        checklist=[templates.ChecklistItem("Reconcile")],
    )
    people = [await client(firm_a, f"Client {n}") for n in range(2)]
    one = await templates.create_job_from_template_ids(
        scope, template.id, people[0].id, periods.parse("2026-02")
    )
    given = [gid("Client", p.id) for p in people]
    data = (
        await gql(
            CREATE,
            input={
                "clientIds": given,
                "templateId": gid("JobTemplate", template.id),
                "period": "2026-03",
            },
        )
    )["createJobs"]
    assert data["errors"] == []
    assert [r["job"]["title"] for r in data["results"]] == ["Client 0 March", "Client 1 March"]
    assert {r["job"]["period"] for r in data["results"]} == {"2026-03"}
    assert {r["job"]["stage"]["id"] for r in data["results"]} == {gid("Stage", stages[1].id)}
    for result in data["results"]:
        made = await Job.get(title=result["job"]["title"])
        assert made.tags == ["monthly"]
        assert await Task.filter(job_id=made.id).count() == 1
        assert [e[:4] for e in await history(made.id)] == [e[:4] for e in await history(one.id)]
    before = await snapshot()
    for extra, field in (
        ({"templateId": gid("JobTemplate", template.id)}, "period"),  # the title needs a month
        (
            {"templateId": gid("JobTemplate", template.id), "period": "2026-03", "title": "x"},
            "title",
        ),
        (
            {
                "templateId": gid("JobTemplate", template.id),
                "pipelineId": gid("Pipeline", pipeline.id),
            },
            "pipelineId",
        ),
        ({"templateId": gid("JobTemplate", 999_999), "period": "2026-03"}, "templateId"),
    ):
        answer = (await gql(CREATE, input={"clientIds": given, **extra}))["createJobs"]
        assert answer["results"] == [] and answer["errors"][0]["field"] == field, extra
    assert await snapshot() == before


# --------------------------------------------------------------------- the change's savepoint


async def test_a_failed_savepoint_takes_back_what_the_change_held_in_memory(
    db: str, firm_a: NewFirm
) -> None:
    pipeline, _ = await board(firm_a)
    a, b = await cards(firm_a, pipeline, 2)
    async with unit.change(scope_of(firm_a)) as change:
        await change.lock_pipelines([pipeline.id])
        await change.record(pipeline.id, EventType.JOB_UPDATED, a, changes={"n": 1})
        seq = change.pipeline(pipeline.id).event_seq
        state = (len(change.events), len(change.webhook_payloads), set(change.owed))

        async def fail_after_writing() -> None:
            async with change.savepoint():
                await change.record(pipeline.id, EventType.JOB_UPDATED, b, changes={"n": 2})
                change.owed.add(unit.RUNS)
                raise DomainError(ErrorCode.INVALID_INPUT, "no")

        with pytest.raises(DomainError):
            await fail_after_writing()
        assert (len(change.events), len(change.webhook_payloads), set(change.owed)) == state
        assert change.pipeline(pipeline.id).event_seq == seq
        await change.record(pipeline.id, EventType.JOB_UPDATED, b, changes={"n": 3})
    assert await JobEvent.filter(job_id=b.id, type="JOB_UPDATED").count() == 1
    assert await seq_matches_log(pipeline)


# ------------------------------------------------------------------- idempotency and cost


@pytest.mark.parametrize("document", ["move", "create"])
async def test_a_retried_bulk_call_with_its_idempotency_key_writes_nothing_again(
    http: httpx.AsyncClient, firm_a: NewFirm, document: str
) -> None:
    pipeline, stages = await board(firm_a)
    made = await cards(firm_a, pipeline, 3)
    body = (
        {
            "query": MOVE,
            "variables": {"input": {"jobIds": ids(*made), "stageId": gid("Stage", stages[1].id)}},
        }
        if document == "move"
        else {
            "query": CREATE,
            "variables": {
                "input": {
                    "clientIds": [gid("Client", made[0].client_id)],
                    "pipelineId": gid("Pipeline", pipeline.id),
                    "title": "Again",
                }
            },
        }
    )
    headers = {"Authorization": f"Bearer {firm_a.token}", "Idempotency-Key": "bulk-1"}
    first = await http.post("/graphql", json=body, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert "errors" not in first.json()
    after_first = await snapshot()
    again = await http.post("/graphql", json=body, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert await snapshot() == after_first


COST = """mutation($input: BulkMoveJobsInput!) { bulkMoveJobs(input: $input) {
  results { jobId job { id } errors { code } } errors { code } } }"""
COST_INLINE = """mutation { bulkMoveJobs(input: {jobIds: [IDS], stageId: "s"}) {
  results { jobId job { id } errors { code } } errors { code } } }"""
COST_SINGLE = """mutation { moveJob(input: {jobId: "j", stageId: "s"}) {
  job { id } errors { code } } }"""


def cost(document: str, variables: dict[str, Any] | None = None) -> int:
    analysis = analyze(schema._schema, parse(document), None, variables, frozenset(Permission))
    assert analysis.refused == []
    return analysis.cost


def test_a_bulk_call_costs_its_items_whether_written_inline_or_as_variables() -> None:
    single = cost(COST_SINGLE)
    for count in (1, 10, 100):
        listed = ", ".join(f'"j{n}"' for n in range(count))
        inline = cost(COST_INLINE.replace("IDS", listed))
        variables = cost(
            COST, {"input": {"jobIds": [f"j{n}" for n in range(count)], "stageId": "s"}}
        )
        assert inline == variables
        assert count * single <= inline <= count * single + 20  # the payload's own errors
    whole = cost(
        "mutation($ids: [ID!]!) { bulkArchiveJobs(input: {jobIds: $ids}) { results { jobId } } }",
        {"ids": [f"j{n}" for n in range(50)]},
    )
    assert whole >= 50 * 10


async def test_the_rate_limit_is_charged_per_item(db: str, firm_a: NewFirm) -> None:
    """A token allowed 30 items' worth of cost a minute: three calls of 10 moves are served,
    and then a call of 10 more is refused, though it is the fourth request only."""
    pipeline, stages = await board(firm_a)
    made = await cards(firm_a, pipeline, 40)
    single = cost(COST_SINGLE)
    budget = 30 * single + 3 * 20
    config = dataclasses.replace(settings.load(), token_cost_per_minute=budget, redis_url=None)
    transport = httpx.ASGITransport(app=RequestLog(create_app(config, own_database=False)))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
        served = []
        for batch in range(4):
            chunk = made[batch * 10 : batch * 10 + 10]
            response = await raw.post(
                "/graphql",
                json={
                    "query": COST,
                    "variables": {
                        "input": {"jobIds": ids(*chunk), "stageId": gid("Stage", stages[1].id)}
                    },
                },
                headers={"Authorization": f"Bearer {firm_a.token}"},
            )
            served.append(response.status_code)
        assert served == [200, 200, 200, 429]
        assert len(await in_stage(stages[1])) == 30


async def test_bulk_update_merges_custom_fields_into_each_job_as_update_job_does(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    a, b = await cards(firm_a, pipeline, 2)
    for key, kind, options in (
        ("fee", CustomFieldType.NUMBER, None),
        ("filing_status", CustomFieldType.SELECT, ["MFJ", "single"]),
    ):
        await custom_fields.create_custom_field(
            scope, CustomFieldEntity.JOB, key, key, kind, options=options
        )
    await jobs.update_job(scope, a.id, custom_fields={"fee": 100})
    events_before = {j.id: await JobEvent.filter(job_id=j.id).count() for j in (a, b)}
    data = (
        await gql(UPDATE, input={"jobIds": ids(a, b), "customFields": {"filing_status": "MFJ"}})
    )["bulkUpdateJobs"]
    assert data["errors"] == [] and [r["errors"] for r in data["results"]] == [[], []]
    assert (await Job.get(id=a.id)).custom_fields == {"fee": 100, "filing_status": "MFJ"}
    assert (await Job.get(id=b.id)).custom_fields == {"filing_status": "MFJ"}
    for card in (a, b):
        event = await JobEvent.filter(job_id=card.id).order_by("-id").first()
        assert event is not None and event.type == "JOB_UPDATED"
        assert event.changes == {"custom_fields": {"filing_status": {"from": None, "to": "MFJ"}}}
        assert await JobEvent.filter(job_id=card.id).count() == events_before[card.id] + 1

    # A value no definition allows refuses the whole call, naming the key; nothing changes.
    for bad, field in (
        ({"filing_status": "HOH"}, "customFields.filing_status"),
        ({"nope": 1}, "customFields.nope"),
        ({"fee": "a lot"}, "customFields.fee"),
    ):
        refused = (await gql(UPDATE, input={"jobIds": ids(a, b), "customFields": bad}))[
            "bulkUpdateJobs"
        ]
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_INPUT", field)]
        assert (await Job.get(id=b.id)).custom_fields == {"filing_status": "MFJ"}
        assert await JobEvent.filter(job_id=b.id).count() == events_before[b.id] + 1
