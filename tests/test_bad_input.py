"""Bad input: every mutation answers with typed UserErrors, its object null, and writes nothing.

Each refused mutation is run between two snapshots of every tenant table (all columns of all
rows, so versions, stages, ranks and the JobEvent log included); they must be identical.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from models import Client, Job, JobEvent, JobStatus, Pipeline, Stage, Task, User
from schema.connection import MAX_PAGE
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from tests.mutations import document, snapshot
from workflow import jobs, tasks
from workflow.firms import NewFirm

MISSING = 999_999


async def refused(gql: GraphQL, op: str, input: dict[str, Any]) -> dict[str, Any]:
    """Run a mutation that must fail: one UserError, null object, nothing written."""
    before, events = await snapshot(), await JobEvent.all().count()
    payload = (await gql(document(op), input=input))[op]
    assert await snapshot() == before
    assert await JobEvent.all().count() == events
    errors = payload.pop("errors")
    assert len(errors) == 1, errors
    assert all(value is None for value in payload.values()), payload
    assert errors[0]["message"]
    return errors[0]


@dataclass
class World:
    pipeline: Pipeline
    stages: list[Stage]
    other: Pipeline
    other_stages: list[Stage]
    client: Client
    job: Job  # stages[0], startDate 2026-03-01, dueDate 2026-04-15, version 2
    second: Job  # stages[0]
    third: Job  # stages[1]
    archived: Job  # stages[0]
    task: Task  # of job
    user: User

    def id(self, type_name: str, obj: Any) -> str:
        return gid(type_name, obj.id)


@pytest.fixture
async def w(firm_a: NewFirm) -> World:
    scope = scope_of(firm_a)
    pipeline, stages = await board(firm_a, ("Intake", "Work", "Done"))
    other, other_stages = await board(firm_a, ("Lead", "Won"), name="Bookkeeping Lead")
    avery = await client(firm_a)
    first = await jobs.create_job(
        scope,
        pipeline.id,
        avery.id,
        "Avery 2025",
        start_date=date(2026, 3, 1),
        due_date=date(2026, 4, 15),
    )
    first = await jobs.update_job(scope, first.id, tags=["vip"])
    second = await job(firm_a, pipeline, avery, "Avery amended")
    third = await job(firm_a, pipeline, avery, "Avery 2024")
    third = await jobs.move_job(scope, third.id, stages[1].id)
    archived = await job(firm_a, pipeline, avery, "Old return")
    archived = await jobs.archive_job(scope, archived.id)
    task = await tasks.create_task(scope, first.id, "Request W-2")
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat Preparer", email="pat@a.test")
    assert first.version == 2
    return World(
        pipeline, stages, other, other_stages, avery, first, second, third, archived, task, pat
    )


Input = Callable[[World, str], dict[str, Any]]

# ------------------------------------------------------------------------------------ names

NAMED: list[tuple[str, str, Input]] = [
    ("createPipeline", "name", lambda w, v: {"name": v, "stageNames": ["One"]}),
    ("createPipeline", "stageNames", lambda w, v: {"name": "New", "stageNames": ["One", v]}),
    ("updatePipeline", "name", lambda w, v: {"id": w.id("Pipeline", w.pipeline), "name": v}),
    ("createStage", "name", lambda w, v: {"pipelineId": w.id("Pipeline", w.pipeline), "name": v}),
    ("updateStage", "name", lambda w, v: {"id": w.id("Stage", w.stages[0]), "name": v}),
    ("createClient", "name", lambda w, v: {"name": v}),
    ("updateClient", "name", lambda w, v: {"id": w.id("Client", w.client), "name": v}),
    (
        "createJob",
        "title",
        lambda w, v: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": v,
        },
    ),
    ("updateJob", "title", lambda w, v: {"id": w.id("Job", w.job), "title": v}),
    ("createTask", "title", lambda w, v: {"jobId": w.id("Job", w.job), "title": v}),
    ("updateTask", "title", lambda w, v: {"id": w.id("Task", w.task), "title": v}),
]
BAD_NAMES = {
    "empty": "",
    "whitespace": " \t  ",
    "oversize": "x" * 201,
    "oversize_after_trim": " " + "y" * 201 + " ",
    "nul": "bad\x00name",
    "bell": "bad\x07name",
    "escape": "bad\x1b[31mname",
    "newline": "two\nlines",
    "delete": "bad\x7fname",
}


@pytest.mark.parametrize("bad", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
@pytest.mark.parametrize(("op", "field", "make"), NAMED, ids=[f"{o}.{f}" for o, f, _ in NAMED])
async def test_bad_name_is_invalid_input_and_writes_nothing(
    gql: GraphQL, w: World, op: str, field: str, make: Input, bad: str
) -> None:
    error = await refused(gql, op, make(w, bad))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)


@pytest.mark.parametrize(("op", "field", "make"), NAMED, ids=[f"{o}.{f}" for o, f, _ in NAMED])
async def test_a_name_of_200_characters_is_accepted(
    gql: GraphQL, w: World, op: str, field: str, make: Input
) -> None:
    payload = (await gql(document(op), input=make(w, "z" * 200)))[op]
    assert payload["errors"] == []


# -------------------------------------------------------------------------------- id arguments

# (mutation, field, type of the id it takes, input with that field set to the given id)
ID_ARGUMENTS: list[tuple[str, str, str, Input]] = [
    ("moveJob", "jobId", "Job", lambda w, i: {"jobId": i, "stageId": w.id("Stage", w.stages[1])}),
    ("moveJob", "stageId", "Stage", lambda w, i: {"jobId": w.id("Job", w.job), "stageId": i}),
    (
        "moveJob",
        "beforeJobId",
        "Job",
        lambda w, i: {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[1]),
            "beforeJobId": i,
        },
    ),
    (
        "moveJob",
        "afterJobId",
        "Job",
        lambda w, i: {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[1]),
            "afterJobId": i,
        },
    ),
    (
        "transferJob",
        "jobId",
        "Job",
        lambda w, i: {"jobId": i, "pipelineId": w.id("Pipeline", w.other)},
    ),
    (
        "transferJob",
        "pipelineId",
        "Pipeline",
        lambda w, i: {"jobId": w.id("Job", w.job), "pipelineId": i},
    ),
    (
        "transferJob",
        "stageId",
        "Stage",
        lambda w, i: {
            "jobId": w.id("Job", w.job),
            "pipelineId": w.id("Pipeline", w.other),
            "stageId": i,
        },
    ),
    (
        "createJob",
        "pipelineId",
        "Pipeline",
        lambda w, i: {
            "pipelineId": i,
            "clientId": w.id("Client", w.client),
            "title": "New",
        },
    ),
    (
        "createJob",
        "clientId",
        "Client",
        lambda w, i: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": i,
            "title": "New",
        },
    ),
    (
        "createJob",
        "stageId",
        "Stage",
        lambda w, i: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": "New",
            "stageId": i,
        },
    ),
    (
        "createJob",
        "assigneeIds",
        "User",
        lambda w, i: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": "New",
            "assigneeIds": [w.id("User", w.user), i],
        },
    ),
    ("createTask", "jobId", "Job", lambda w, i: {"jobId": i, "title": "Call"}),
    (
        "createTask",
        "assigneeId",
        "User",
        lambda w, i: {"jobId": w.id("Job", w.job), "title": "Call", "assigneeId": i},
    ),
    ("updateJob", "id", "Job", lambda w, i: {"id": i, "title": "Renamed"}),
    ("updateJob", "clientId", "Client", lambda w, i: {"id": w.id("Job", w.job), "clientId": i}),
    (
        "updateJob",
        "assigneeIds",
        "User",
        lambda w, i: {"id": w.id("Job", w.job), "assigneeIds": [i]},
    ),
    ("archiveJob", "id", "Job", lambda w, i: {"id": i}),
    ("deleteStage", "id", "Stage", lambda w, i: {"id": i}),
    (
        "deleteStage",
        "moveJobsToStageId",
        "Stage",
        lambda w, i: {"id": w.id("Stage", w.stages[0]), "moveJobsToStageId": i},
    ),
    ("updatePipeline", "id", "Pipeline", lambda w, i: {"id": i, "name": "Renamed"}),
    ("deletePipeline", "id", "Pipeline", lambda w, i: {"id": i}),
    ("createStage", "pipelineId", "Pipeline", lambda w, i: {"pipelineId": i, "name": "New"}),
    ("updateStage", "id", "Stage", lambda w, i: {"id": i, "name": "Renamed"}),
    (
        "reorderStages",
        "pipelineId",
        "Pipeline",
        lambda w, i: {"pipelineId": i, "stageIds": [w.id("Stage", s) for s in w.stages]},
    ),
    ("updateClient", "id", "Client", lambda w, i: {"id": i, "name": "Renamed"}),
    ("updateTask", "id", "Task", lambda w, i: {"id": i, "title": "Renamed"}),
    (
        "updateTask",
        "assigneeId",
        "User",
        lambda w, i: {"id": w.id("Task", w.task), "assigneeId": i},
    ),
    ("completeTask", "id", "Task", lambda w, i: {"id": i}),
    ("reopenTask", "id", "Task", lambda w, i: {"id": i}),
    ("deleteTask", "id", "Task", lambda w, i: {"id": i}),
]
ID_ARGUMENT_IDS = [f"{op}.{field}" for op, field, _, _ in ID_ARGUMENTS]


@pytest.mark.parametrize(("op", "field", "type_name", "make"), ID_ARGUMENTS, ids=ID_ARGUMENT_IDS)
async def test_unknown_id_is_not_found_and_writes_nothing(
    gql: GraphQL, w: World, op: str, field: str, type_name: str, make: Input
) -> None:
    error = await refused(gql, op, make(w, gid(type_name, MISSING)))
    assert (error["code"], error["field"]) == ("NOT_FOUND", field)


async def post(
    http: httpx.AsyncClient, firm: NewFirm, query: str, **variables: Any
) -> dict[str, Any]:
    """The whole response body, top-level errors or not."""
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {firm.token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def malformed_ids(w: World, type_name: str) -> dict[str, str]:
    """Strings that are not a global id of `type_name`, by kind."""
    other_type = {
        "Job": w.id("Stage", w.stages[0]),
        "Stage": w.id("Job", w.job),
        "Pipeline": w.id("Stage", w.stages[0]),
        "Client": w.id("Job", w.job),
        "User": w.id("Client", w.client),
        "Task": w.id("Job", w.job),
    }
    return {
        "garbage": "not an id!",
        "empty": "",
        "too long": "A" * 80,
        "plain number": "42",
        "non-numeric key": _b64(f"{type_name}:abc"),
        "no key": _b64(f"{type_name}:"),
        "negative key": _b64(f"{type_name}:-1"),
        "padded key": _b64(f"{type_name}: 1"),
        "no type": _b64(":1"),
        "unknown type": _b64("Nope:1"),
        "another type's id": other_type[type_name],
    }


@pytest.mark.parametrize(("op", "field", "type_name", "make"), ID_ARGUMENTS, ids=ID_ARGUMENT_IDS)
async def test_malformed_id_is_invalid_id_and_writes_nothing(
    http: httpx.AsyncClient,
    firm_a: NewFirm,
    w: World,
    op: str,
    field: str,
    type_name: str,
    make: Input,
) -> None:
    answers: dict[str, Any] = {}
    for kind, bad in malformed_ids(w, type_name).items():
        before = await snapshot()
        body = await post(http, firm_a, document(op), input=make(w, bad))
        assert await snapshot() == before, kind
        if body.get("errors"):  # a top-level error instead of the payload's typed UserError
            answers[kind] = body["errors"][0].get("extensions", {}).get("code")
            continue
        payload = body["data"][op]
        errors = payload.pop("errors")
        assert all(value is None for value in payload.values()), (kind, payload)
        answers[kind] = [(e["code"], e["field"]) for e in errors]
    assert answers == {kind: [("INVALID_ID", field)] for kind in answers}


SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes, int() says no


@pytest.mark.parametrize(
    ("op", "field", "type_name", "make"),
    [c for c in ID_ARGUMENTS if f"{c[0]}.{c[1]}" in {"moveJob.jobId", "createJob.clientId"}],
    ids=["moveJob.jobId", "createJob.clientId"],
)
async def test_id_with_a_non_ascii_digit_key_is_invalid_id(
    http: httpx.AsyncClient,
    firm_a: NewFirm,
    w: World,
    op: str,
    field: str,
    type_name: str,
    make: Input,
) -> None:
    before = await snapshot()
    bad = _b64(f"{type_name}:{SUPERSCRIPT_TWO}")
    body = await post(http, firm_a, document(op), input=make(w, bad))
    assert await snapshot() == before
    assert "errors" not in body, body["errors"]
    assert body["data"][op]["errors"] == [
        {"code": "INVALID_ID", "message": f"{field} is not a valid id", "field": field}
    ]


# ------------------------------------------------------------------------------- domain rules


async def test_move_to_a_stage_of_another_pipeline_is_wrong_pipeline(
    gql: GraphQL, w: World
) -> None:
    error = await refused(
        gql,
        "moveJob",
        {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.other_stages[0]),
        },
    )
    assert (error["code"], error["field"]) == ("WRONG_PIPELINE", "stageId")


async def test_create_job_in_a_stage_of_another_pipeline_is_wrong_pipeline(
    gql: GraphQL, w: World
) -> None:
    error = await refused(
        gql,
        "createJob",
        {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": "New",
            "stageId": w.id("Stage", w.other_stages[0]),
        },
    )
    assert (error["code"], error["field"]) == ("WRONG_PIPELINE", "stageId")


async def test_transfer_to_a_stage_of_another_pipeline_is_wrong_pipeline(
    gql: GraphQL, w: World
) -> None:
    error = await refused(
        gql,
        "transferJob",
        {
            "jobId": w.id("Job", w.job),
            "pipelineId": w.id("Pipeline", w.other),
            "stageId": w.id("Stage", w.stages[1]),
        },
    )
    assert (error["code"], error["field"]) == ("WRONG_PIPELINE", "stageId")


ON_ARCHIVED: list[tuple[str, str, Callable[[World], dict[str, Any]]]] = [
    (
        "moveJob",
        "jobId",
        lambda w: {"jobId": w.id("Job", w.archived), "stageId": w.id("Stage", w.stages[1])},
    ),
    (
        "transferJob",
        "jobId",
        lambda w: {"jobId": w.id("Job", w.archived), "pipelineId": w.id("Pipeline", w.other)},
    ),
    ("archiveJob", "id", lambda w: {"id": w.id("Job", w.archived)}),
    ("updateJob", "id", lambda w: {"id": w.id("Job", w.archived), "title": "Renamed"}),
    ("createTask", "jobId", lambda w: {"jobId": w.id("Job", w.archived), "title": "Call"}),
]


@pytest.mark.parametrize(("op", "field", "make"), ON_ARCHIVED, ids=[c[0] for c in ON_ARCHIVED])
async def test_changing_an_archived_job_is_job_archived(
    gql: GraphQL, w: World, op: str, field: str, make: Callable[[World], dict[str, Any]]
) -> None:
    error = await refused(gql, op, make(w))
    assert (error["code"], error["field"]) == ("JOB_ARCHIVED", field)


VERSIONED: list[tuple[str, Callable[[World], dict[str, Any]]]] = [
    ("moveJob", lambda w: {"jobId": w.id("Job", w.job), "stageId": w.id("Stage", w.stages[1])}),
    (
        "moveJob",
        lambda w: {  # a move within the stage
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[0]),
            "afterJobId": w.id("Job", w.second),
        },
    ),
    (
        "transferJob",
        lambda w: {"jobId": w.id("Job", w.job), "pipelineId": w.id("Pipeline", w.other)},
    ),
    ("updateJob", lambda w: {"id": w.id("Job", w.job), "title": "Renamed"}),
    ("archiveJob", lambda w: {"id": w.id("Job", w.job)}),
]


@pytest.mark.parametrize("stale", [1, 3, 0, -1])
@pytest.mark.parametrize(
    ("op", "make"),
    VERSIONED,
    ids=["moveJob", "moveJob-within-stage", "transferJob", "updateJob", "archiveJob"],
)
async def test_stale_expected_version_is_version_conflict(
    gql: GraphQL, w: World, op: str, make: Callable[[World], dict[str, Any]], stale: int
) -> None:
    error = await refused(gql, op, {**make(w), "expectedVersion": stale})
    assert (error["code"], error["field"]) == ("VERSION_CONFLICT", "expectedVersion")
    payload = (await gql(document(op), input={**make(w), "expectedVersion": 2}))[op]
    assert payload["errors"] == []  # the current version is accepted


async def test_deleting_a_stage_that_holds_jobs_needs_a_destination(gql: GraphQL, w: World) -> None:
    error = await refused(gql, "deleteStage", {"id": w.id("Stage", w.stages[1])})
    assert (error["code"], error["field"]) == ("STAGE_NOT_EMPTY", "moveJobsToStageId")


@pytest.mark.parametrize("target", ["itself", "another pipeline"])
async def test_deleting_a_stage_into_a_wrong_destination_is_wrong_pipeline(
    gql: GraphQL, w: World, target: str
) -> None:
    destination = w.stages[1] if target == "itself" else w.other_stages[0]
    error = await refused(
        gql,
        "deleteStage",
        {
            "id": w.id("Stage", w.stages[1]),
            "moveJobsToStageId": w.id("Stage", destination),
        },
    )
    assert (error["code"], error["field"]) == ("WRONG_PIPELINE", "moveJobsToStageId")


async def test_deleting_a_stage_moves_its_jobs_where_told(gql: GraphQL, w: World) -> None:
    events = await JobEvent.all().count()
    data = await gql(
        document("deleteStage").replace("pipeline { id }", "pipeline { stages { name } }"),
        input={"id": w.id("Stage", w.stages[0]), "moveJobsToStageId": w.id("Stage", w.stages[2])},
    )
    payload = data["deleteStage"]
    assert payload["errors"] == []
    assert payload["deletedId"] == w.id("Stage", w.stages[0])
    assert payload["pipeline"] == {"stages": [{"name": "Work"}, {"name": "Done"}]}
    query = """query($id: ID!) { node(id: $id) { ... on Stage {
        jobs(includeArchived: true) { edges { node { title stage { id } } } } } } }"""
    edges = (await gql(query, id=w.id("Stage", w.stages[2])))["node"]["jobs"]["edges"]
    assert sorted(e["node"]["title"] for e in edges) == [
        "Avery 2025",
        "Avery amended",
        "Old return",
    ]
    assert {e["node"]["stage"]["id"] for e in edges} == {w.id("Stage", w.stages[2])}
    assert await Stage.filter(id=w.stages[0].id).count() == 0
    assert await JobEvent.all().count() > events


async def test_deleting_the_last_stage_is_last_stage(
    gql: GraphQL, w: World, firm_a: NewFirm
) -> None:
    lone, [only] = await board(firm_a, ("Only",), name="Lone")
    error = await refused(gql, "deleteStage", {"id": w.id("Stage", only)})
    assert (error["code"], error["field"]) == ("LAST_STAGE", "id")
    assert await Stage.filter(pipeline_id=lone.id).count() == 1


REORDERS: dict[str, Callable[[World], list[str]]] = {
    "missing": lambda w: [w.id("Stage", s) for s in w.stages[:2]],
    "duplicate": lambda w: [w.id("Stage", s) for s in (w.stages[0], w.stages[0], w.stages[1])],
    "duplicate extra": lambda w: [w.id("Stage", s) for s in (*w.stages, w.stages[2])],
    "foreign": lambda w: [w.id("Stage", s) for s in (*w.stages[:2], w.other_stages[0])],
    "foreign extra": lambda w: [w.id("Stage", s) for s in (*w.stages, w.other_stages[0])],
    "unknown": lambda w: [w.id("Stage", s) for s in w.stages[:2]] + [gid("Stage", MISSING)],
    "empty": lambda w: [],
}


@pytest.mark.parametrize("kind", list(REORDERS))
async def test_reorder_stages_must_name_every_stage_once(gql: GraphQL, w: World, kind: str) -> None:
    error = await refused(
        gql,
        "reorderStages",
        {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "stageIds": REORDERS[kind](w),
        },
    )
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "stageIds")


DATES: list[tuple[str, Callable[[World], dict[str, Any]]]] = [
    (
        "createJob",
        lambda w: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": "New",
            "startDate": "2026-03-01",
            "dueDate": "2026-02-28",
        },
    ),
    (
        "updateJob",
        lambda w: {
            "id": w.id("Job", w.second),
            "startDate": "2026-03-01",
            "dueDate": "2026-02-28",
        },
    ),
    # only dueDate sent: before the job's own startDate (2026-03-01)
    ("updateJob", lambda w: {"id": w.id("Job", w.job), "dueDate": "2026-02-28"}),
]


@pytest.mark.parametrize(
    ("op", "make"), DATES, ids=["createJob", "updateJob-both", "updateJob-due-only"]
)
async def test_due_date_before_start_date_is_invalid_input(
    gql: GraphQL, w: World, op: str, make: Callable[[World], dict[str, Any]]
) -> None:
    error = await refused(gql, op, make(w))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "dueDate")


async def test_updating_start_date_past_the_due_date_is_invalid_input(
    gql: GraphQL, w: World
) -> None:
    error = await refused(gql, "updateJob", {"id": w.id("Job", w.job), "startDate": "2026-05-01"})
    assert error["code"] == "INVALID_INPUT"


WIP: list[tuple[str, Callable[[World], dict[str, Any]]]] = [
    ("moveJob", lambda w: {"jobId": w.id("Job", w.job), "stageId": w.id("Stage", w.stages[1])}),
    (
        "createJob",
        lambda w: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": "New",
            "stageId": w.id("Stage", w.stages[1]),
        },
    ),
    (
        "transferJob",
        lambda w: {
            "jobId": w.id("Job", w.job),
            "pipelineId": w.id("Pipeline", w.pipeline),
            "stageId": w.id("Stage", w.stages[1]),
        },
    ),
]


@pytest.mark.parametrize(("op", "make"), WIP, ids=[c[0] for c in WIP])
async def test_entering_a_full_stage_is_wip_limit_reached(
    gql: GraphQL, w: World, firm_a: NewFirm, op: str, make: Callable[[World], dict[str, Any]]
) -> None:
    """stages[1] holds one active job (third) and gets a limit of 1."""
    if op == "transferJob":  # come from the other pipeline
        w.job = await jobs.transfer_job(scope_of(firm_a), w.job.id, w.other.id)
    limited = await gql(
        document("updateStage"),
        input={
            "id": w.id("Stage", w.stages[1]),
            "wipLimit": 1,
        },
    )
    assert limited["updateStage"]["errors"] == []
    error = await refused(gql, op, make(w))
    assert (error["code"], error["field"]) == ("WIP_LIMIT_REACHED", "stageId")


async def test_reordering_within_a_full_stage_is_allowed(
    gql: GraphQL, w: World, firm_a: NewFirm
) -> None:
    await jobs.move_job(scope_of(firm_a), w.second.id, w.stages[1].id)
    await gql(document("updateStage"), input={"id": w.id("Stage", w.stages[1]), "wipLimit": 2})
    payload = (
        await gql(
            document("moveJob"),
            input={
                "jobId": w.id("Job", w.third),
                "stageId": w.id("Stage", w.stages[1]),
                "afterJobId": w.id("Job", w.second),
            },
        )
    )["moveJob"]
    assert payload["errors"] == []


PLACES: list[tuple[str, str, str, Callable[[World], dict[str, Any]]]] = [
    (
        "before a job of another stage",
        "NOT_FOUND",
        "beforeJobId",
        lambda w: {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[1]),
            "beforeJobId": w.id("Job", w.second),
        },
    ),
    (
        "after a job of another stage",
        "NOT_FOUND",
        "afterJobId",
        lambda w: {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[0]),
            "afterJobId": w.id("Job", w.third),
        },
    ),
    (
        "after itself, in its stage",
        "INVALID_INPUT",
        "afterJobId",
        lambda w: {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[0]),
            "afterJobId": w.id("Job", w.job),
        },
    ),
    (
        "before itself, into another stage",
        "INVALID_INPUT",
        "beforeJobId",
        lambda w: {
            "jobId": w.id("Job", w.job),
            "stageId": w.id("Stage", w.stages[1]),
            "beforeJobId": w.id("Job", w.job),
        },
    ),
    (
        "between two jobs in the wrong order",
        "INVALID_INPUT",
        "beforeJobId",
        lambda w: {
            "jobId": w.id("Job", w.archived),
            "stageId": w.id("Stage", w.stages[0]),
            "afterJobId": w.id("Job", w.second),
            "beforeJobId": w.id("Job", w.job),
        },
    ),
]


@pytest.mark.parametrize(("case", "code", "field", "make"), PLACES, ids=[c[0] for c in PLACES])
async def test_move_to_a_place_that_does_not_exist_is_refused(
    gql: GraphQL,
    w: World,
    firm_a: NewFirm,
    case: str,
    code: str,
    field: str,
    make: Callable[[World], dict[str, Any]],
) -> None:
    if case.startswith("between"):  # the mover must be active
        await jobs.update_job(scope_of(firm_a), w.archived.id, status=JobStatus.ACTIVE)
    error = await refused(gql, "moveJob", make(w))
    assert (error["code"], error["field"]) == (code, field)


OTHER: list[tuple[str, str, str, Callable[[World], dict[str, Any]]]] = [
    ("createPipeline", "stageNames", "no stages", lambda w: {"name": "P", "stageNames": []}),
    (
        "createPipeline",
        "stageNames",
        "51 stages",
        lambda w: {"name": "P", "stageNames": [f"S{n}" for n in range(51)]},
    ),
    (
        "createStage",
        "position",
        "negative position",
        lambda w: {"pipelineId": w.id("Pipeline", w.pipeline), "name": "S", "position": -1},
    ),
    (
        "createStage",
        "position",
        "position past the end",
        lambda w: {"pipelineId": w.id("Pipeline", w.pipeline), "name": "S", "position": 4},
    ),
    (
        "createStage",
        "wipLimit",
        "zero wip limit",
        lambda w: {"pipelineId": w.id("Pipeline", w.pipeline), "name": "S", "wipLimit": 0},
    ),
    (
        "updateStage",
        "wipLimit",
        "negative wip limit",
        lambda w: {"id": w.id("Stage", w.stages[0]), "wipLimit": -1},
    ),
    (
        "updateStage",
        "timeLimitDays",
        "zero time limit",
        lambda w: {"id": w.id("Stage", w.stages[0]), "timeLimitDays": 0},
    ),
    (
        "updateStage",
        "name",
        "null name",
        lambda w: {"id": w.id("Stage", w.stages[0]), "name": None},
    ),
    ("createClient", "email", "bad email", lambda w: {"name": "C", "email": "not-an-email"}),
    (
        "updateClient",
        "email",
        "bad email on update",
        lambda w: {"id": w.id("Client", w.client), "email": "a@b"},
    ),
    ("createClient", "tags", "oversize tag", lambda w: {"name": "C", "tags": ["t" * 51]}),
    ("createClient", "tags", "empty tag", lambda w: {"name": "C", "tags": [" "]}),
    (
        "createJob",
        "tags",
        "too many tags",
        lambda w: {
            "pipelineId": w.id("Pipeline", w.pipeline),
            "clientId": w.id("Client", w.client),
            "title": "New",
            "tags": [f"t{n}" for n in range(51)],
        },
    ),
    ("updateJob", "title", "null title", lambda w: {"id": w.id("Job", w.job), "title": None}),
    (
        "updateJob",
        "status",
        "archive through updateJob",
        lambda w: {"id": w.id("Job", w.job), "status": "ARCHIVED"},
    ),
    (
        "transferJob",
        "pipelineId",
        "transfer into its own pipeline",
        lambda w: {"jobId": w.id("Job", w.job), "pipelineId": w.id("Pipeline", w.pipeline)},
    ),
    (
        "createTask",
        "description",
        "control character in description",
        lambda w: {"jobId": w.id("Job", w.job), "title": "T", "description": "bad\x00text"},
    ),
    (
        "updateTask",
        "description",
        "oversize description",
        lambda w: {"id": w.id("Task", w.task), "description": "d" * 10_001},
    ),
]


@pytest.mark.parametrize(("op", "field", "case", "make"), OTHER, ids=[c[2] for c in OTHER])
async def test_other_bad_input_is_invalid_input(
    gql: GraphQL,
    w: World,
    op: str,
    field: str,
    case: str,
    make: Callable[[World], dict[str, Any]],
) -> None:
    error = await refused(gql, op, make(w))
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)


# --------------------------------------------------------------------------------- pagination

JOBS_PAGE = (
    "query($first: Int, $after: String) { jobs(first: $first, after: $after) { "
    "totalCount edges { node { title } } } }"
)
STAGE_PAGE = """query($id: ID!, $first: Int, $after: String) { node(id: $id) { ... on Stage {
    jobs(first: $first, after: $after) { totalCount edges { node { title } } } } } }"""


def _top_level_code(body: dict[str, Any]) -> tuple[str | None, str | None]:
    [error] = body["errors"]
    extensions = error.get("extensions") or {}
    return extensions.get("code"), extensions.get("field")


@pytest.mark.parametrize("first", [-1, MAX_PAGE + 1])
@pytest.mark.parametrize("connection", ["Query.jobs", "Stage.jobs"])
async def test_first_out_of_range_is_a_top_level_invalid_input(
    gql: GraphQL, w: World, connection: str, first: int
) -> None:
    if connection == "Query.jobs":
        body = await gql(JOBS_PAGE, expect_errors=True, first=first)
    else:
        body = await gql(STAGE_PAGE, expect_errors=True, id=w.id("Stage", w.stages[0]), first=first)
    assert _top_level_code(body) == ("INVALID_INPUT", "first")


@pytest.mark.parametrize("first", [0, MAX_PAGE])
async def test_first_at_the_bounds_is_accepted(gql: GraphQL, w: World, first: int) -> None:
    jobs_page = (await gql(JOBS_PAGE, first=first))["jobs"]
    assert len(jobs_page["edges"]) == min(first, 3) and jobs_page["totalCount"] == 3
    stage = (await gql(STAGE_PAGE, id=w.id("Stage", w.stages[0]), first=first))["node"]["jobs"]
    assert len(stage["edges"]) == min(first, 2) and stage["totalCount"] == 2


BAD_CURSORS = {
    "garbage": "not a cursor!",
    "empty": "",
    "base64 of nothing useful": _b64("hello"),
    "wrong prefix": _b64("x:1"),
    "negative key": _b64("k:-1"),
    "upper-case key": _b64("k:ABC"),
    "key with symbols": _b64("k:a'--"),
    "non-ascii digit": _b64(f"k:{SUPERSCRIPT_TWO}"),
}
CURSOR_CASES = [
    (connection, kind) for connection in ("Query.jobs", "Stage.jobs") for kind in BAD_CURSORS
] + [("Query.jobs", "rank-shaped key")]  # an id cursor must be digits; a rank may be letters


@pytest.mark.parametrize(
    ("connection", "kind"), CURSOR_CASES, ids=[" ".join(c) for c in CURSOR_CASES]
)
async def test_malformed_after_cursor_is_a_top_level_invalid_input(
    gql: GraphQL, w: World, connection: str, kind: str
) -> None:
    after = BAD_CURSORS.get(kind, _b64("k:abc"))
    if connection == "Query.jobs":
        body = await gql(JOBS_PAGE, expect_errors=True, after=after)
    else:
        body = await gql(STAGE_PAGE, expect_errors=True, id=w.id("Stage", w.stages[0]), after=after)
    assert _top_level_code(body) == ("INVALID_INPUT", "after")


async def test_a_lone_surrogate_echoed_in_an_error_is_still_answered_as_json(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """orjson refuses such strings; the answer falls back to the standard library's encoder."""
    body = json.dumps(
        {  # ASCII-escaped: the JSON is valid, the string it holds is not UTF-8
            "query": """mutation($input: CreateWebhookEndpointInput!) {
          createWebhookEndpoint(input: $input) {
            webhookEndpoint { id } errors { code message } } }""",
            "variables": {
                "input": {"url": "https://hooks.example.test/1", "eventTypes": ["\ud800"]}
            },
        }
    )
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {firm_a.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()  # an unknown event type: refused, whichever layer refuses it
    errors = body.get("errors") or body["data"]["createWebhookEndpoint"]["errors"]
    assert "\ud800" in errors[0]["message"]
