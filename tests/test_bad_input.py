"""Bad input: every mutation answers with typed UserErrors, its object null, and writes nothing.

Each refused mutation is run between two snapshots of every tenant table (all columns of all
rows, so versions, stages, ranks and the JobEvent log included); they must be identical.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
from tortoise import connections

from models import Client, Job, JobEvent, Pipeline, Stage, Task, User
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from workflow import jobs, tasks
from workflow.firms import NewFirm

MISSING = 999_999
SNAPSHOT_TABLES = (
    "firm", "app_user", "client", "pipeline", "stage", "job", "job_assignee", "task", "job_event",
)

# Each mutation: its input type and the payload fields that must be null when it is refused.
PAYLOADS: dict[str, tuple[str, str]] = {
    "createPipeline": ("CreatePipelineInput", "pipeline { id }"),
    "updatePipeline": ("UpdatePipelineInput", "pipeline { id }"),
    "deletePipeline": ("DeletePipelineInput", "deletedId"),
    "createStage": ("CreateStageInput", "stage { id }"),
    "updateStage": ("UpdateStageInput", "stage { id }"),
    "deleteStage": ("DeleteStageInput", "deletedId pipeline { id }"),
    "reorderStages": ("ReorderStagesInput", "pipeline { id }"),
    "createClient": ("CreateClientInput", "client { id }"),
    "updateClient": ("UpdateClientInput", "client { id }"),
    "createJob": ("CreateJobInput", "job { id }"),
    "updateJob": ("UpdateJobInput", "job { id }"),
    "archiveJob": ("ArchiveJobInput", "job { id }"),
    "moveJob": ("MoveJobInput", "job { id }"),
    "transferJob": ("TransferJobInput", "job { id }"),
    "createTask": ("CreateTaskInput", "task { id }"),
    "updateTask": ("UpdateTaskInput", "task { id }"),
    "completeTask": ("TaskIdInput", "task { id }"),
    "reopenTask": ("TaskIdInput", "task { id }"),
    "deleteTask": ("TaskIdInput", "deletedId job { id }"),
}


def document(op: str) -> str:
    input_type, fields = PAYLOADS[op]
    return (
        f"mutation($input: {input_type}!) {{ {op}(input: $input) "
        f"{{ errors {{ code message field }} {fields} }} }}"
    )


async def snapshot() -> dict[str, list[str]]:
    """Every row of every tenant table (api_token aside: authentication touches it)."""
    connection = connections.get("default")
    tables: dict[str, list[str]] = {}
    for table in SNAPSHOT_TABLES:
        rows = await connection.execute_query_dict(f'SELECT * FROM "{table}"')
        tables[table] = sorted(repr(sorted(row.items())) for row in rows)
    return tables


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
        scope, pipeline.id, avery.id, "Avery 2025",
        start_date=date(2026, 3, 1), due_date=date(2026, 4, 15),
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
    return World(pipeline, stages, other, other_stages, avery, first, second, third, archived,
                 task, pat)


Input = Callable[[World, str], dict[str, Any]]

# ------------------------------------------------------------------------------------ names

NAMED: list[tuple[str, str, Input]] = [
    ("createPipeline", "name", lambda w, v: {"name": v, "stageNames": ["One"]}),
    ("createPipeline", "stageNames", lambda w, v: {"name": "New", "stageNames": ["One", v]}),
    ("updatePipeline", "name", lambda w, v: {"id": w.id("Pipeline", w.pipeline), "name": v}),
    ("createStage", "name",
     lambda w, v: {"pipelineId": w.id("Pipeline", w.pipeline), "name": v}),
    ("updateStage", "name", lambda w, v: {"id": w.id("Stage", w.stages[0]), "name": v}),
    ("createClient", "name", lambda w, v: {"name": v}),
    ("updateClient", "name", lambda w, v: {"id": w.id("Client", w.client), "name": v}),
    ("createJob", "title", lambda w, v: {
        "pipelineId": w.id("Pipeline", w.pipeline), "clientId": w.id("Client", w.client),
        "title": v,
    }),
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
    ("moveJob", "beforeJobId", "Job", lambda w, i: {
        "jobId": w.id("Job", w.job), "stageId": w.id("Stage", w.stages[1]), "beforeJobId": i,
    }),
    ("moveJob", "afterJobId", "Job", lambda w, i: {
        "jobId": w.id("Job", w.job), "stageId": w.id("Stage", w.stages[1]), "afterJobId": i,
    }),
    ("transferJob", "jobId", "Job",
     lambda w, i: {"jobId": i, "pipelineId": w.id("Pipeline", w.other)}),
    ("transferJob", "pipelineId", "Pipeline",
     lambda w, i: {"jobId": w.id("Job", w.job), "pipelineId": i}),
    ("transferJob", "stageId", "Stage", lambda w, i: {
        "jobId": w.id("Job", w.job), "pipelineId": w.id("Pipeline", w.other), "stageId": i,
    }),
    ("createJob", "pipelineId", "Pipeline", lambda w, i: {
        "pipelineId": i, "clientId": w.id("Client", w.client), "title": "New",
    }),
    ("createJob", "clientId", "Client", lambda w, i: {
        "pipelineId": w.id("Pipeline", w.pipeline), "clientId": i, "title": "New",
    }),
    ("createJob", "stageId", "Stage", lambda w, i: {
        "pipelineId": w.id("Pipeline", w.pipeline), "clientId": w.id("Client", w.client),
        "title": "New", "stageId": i,
    }),
    ("createJob", "assigneeIds", "User", lambda w, i: {
        "pipelineId": w.id("Pipeline", w.pipeline), "clientId": w.id("Client", w.client),
        "title": "New", "assigneeIds": [w.id("User", w.user), i],
    }),
    ("createTask", "jobId", "Job", lambda w, i: {"jobId": i, "title": "Call"}),
    ("createTask", "assigneeId", "User",
     lambda w, i: {"jobId": w.id("Job", w.job), "title": "Call", "assigneeId": i}),
    ("updateJob", "id", "Job", lambda w, i: {"id": i, "title": "Renamed"}),
    ("updateJob", "clientId", "Client", lambda w, i: {"id": w.id("Job", w.job), "clientId": i}),
    ("updateJob", "assigneeIds", "User",
     lambda w, i: {"id": w.id("Job", w.job), "assigneeIds": [i]}),
    ("archiveJob", "id", "Job", lambda w, i: {"id": i}),
    ("deleteStage", "id", "Stage", lambda w, i: {"id": i}),
    ("deleteStage", "moveJobsToStageId", "Stage",
     lambda w, i: {"id": w.id("Stage", w.stages[0]), "moveJobsToStageId": i}),
    ("updatePipeline", "id", "Pipeline", lambda w, i: {"id": i, "name": "Renamed"}),
    ("deletePipeline", "id", "Pipeline", lambda w, i: {"id": i}),
    ("createStage", "pipelineId", "Pipeline", lambda w, i: {"pipelineId": i, "name": "New"}),
    ("updateStage", "id", "Stage", lambda w, i: {"id": i, "name": "Renamed"}),
    ("reorderStages", "pipelineId", "Pipeline",
     lambda w, i: {"pipelineId": i, "stageIds": [w.id("Stage", s) for s in w.stages]}),
    ("updateClient", "id", "Client", lambda w, i: {"id": i, "name": "Renamed"}),
    ("updateTask", "id", "Task", lambda w, i: {"id": i, "title": "Renamed"}),
    ("updateTask", "assigneeId", "User",
     lambda w, i: {"id": w.id("Task", w.task), "assigneeId": i}),
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
        "/graphql", json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {firm.token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def malformed_ids(w: World, type_name: str) -> dict[str, str]:
    """Strings that are not a global id of `type_name`, by kind."""
    other_type = {
        "Job": w.id("Stage", w.stages[0]), "Stage": w.id("Job", w.job),
        "Pipeline": w.id("Stage", w.stages[0]), "Client": w.id("Job", w.job),
        "User": w.id("Client", w.client), "Task": w.id("Job", w.job),
    }
    return {
        "garbage": "not an id!",
        "empty": "",
        "too long": "A" * 80,
        "plain number": "42",
        "non-numeric key": _b64(f"{type_name}:abc"),
        "no key": _b64(f"{type_name}:"),
        "negative key": _b64(f"{type_name}:-1"),
        "superscript digit key": _b64(f"{type_name}:\u00b2"),
        "no type": _b64(":1"),
        "unknown type": _b64("Nope:1"),
        "another type's id": other_type[type_name],
    }


@pytest.mark.parametrize(("op", "field", "type_name", "make"), ID_ARGUMENTS, ids=ID_ARGUMENT_IDS)
async def test_malformed_id_is_invalid_id_and_writes_nothing(
    http: httpx.AsyncClient, firm_a: NewFirm, w: World, op: str, field: str, type_name: str,
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
