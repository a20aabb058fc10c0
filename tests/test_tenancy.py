"""Tenancy: firm B's token sees nothing of firm A, and can change nothing of it.

An id of another firm must behave exactly like an id that does not exist: the same null on
reads, the same NOT_FOUND UserError (code, message and field) on mutations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models import Client, Job, JobEvent, Pipeline, Stage, Task, User
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from tests.mutations import document, snapshot
from workflow import jobs, tasks
from workflow.firms import NewFirm

MISSING = 999_999


@dataclass
class Firms:
    """Firm A's data (the target) and firm B's own (the caller's)."""

    a_pipeline: Pipeline
    a_stages: list[Stage]
    a_other: Pipeline
    a_client: Client
    a_job: Job
    a_moved: Job
    a_task: Task
    a_user: User
    a_events: list[JobEvent]
    b_pipeline: Pipeline
    b_stages: list[Stage]
    b_other: Pipeline
    b_client: Client
    b_job: Job
    b_task: Task
    b_user: User

    def a_ids(self) -> dict[str, str]:
        """A global id of every kind of firm A's objects, labelled."""
        ids = {
            "pipeline": gid("Pipeline", self.a_pipeline.id),
            "other pipeline": gid("Pipeline", self.a_other.id),
            "client": gid("Client", self.a_client.id),
            "job": gid("Job", self.a_job.id),
            "moved job": gid("Job", self.a_moved.id),
            "task": gid("Task", self.a_task.id),
            "user": gid("User", self.a_user.id),
        }
        ids |= {f"stage {n}": gid("Stage", s.id) for n, s in enumerate(self.a_stages)}
        ids |= {f"event {n}": gid("JobEvent", e.id) for n, e in enumerate(self.a_events)}
        return ids


@pytest.fixture
async def f(firm_a: NewFirm, firm_b: NewFirm) -> Firms:
    a = scope_of(firm_a)
    a_pipeline, a_stages = await board(firm_a)
    a_other, _ = await board(firm_a, ("Lead", "Won"), name="Bookkeeping Lead")
    avery = await client(firm_a)
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat Preparer", email="pat@a.test")
    a_job = await jobs.create_job(a, a_pipeline.id, avery.id, "Avery 2025", assignee_ids=[pat.id])
    a_moved = await job(firm_a, a_pipeline, avery, "Avery amended")
    await jobs.move_job(a, a_moved.id, a_stages[1].id)
    await jobs.transfer_job(a, a_moved.id, a_other.id)
    a_task = await tasks.create_task(a, a_job.id, "Request W-2", assignee_id=pat.id)
    await tasks.set_task_done(a, a_task.id, True)
    a_events = list(await JobEvent.filter(firm_id=firm_a.firm.id).order_by("id"))
    assert len(a_events) >= 5

    b_pipeline, b_stages = await board(firm_b, ("Intake", "Work"), name="Payroll")
    b_other, _ = await board(firm_b, ("New",), name="W-2")
    blue = await client(firm_b, "Blue Harbor LLC")
    b_job = await job(firm_b, b_pipeline, blue, "Blue payroll")
    b_task = await tasks.create_task(scope_of(firm_b), b_job.id, "Collect timesheets")
    b_user = await User.create(firm_id=firm_b.firm.id, name="Quinn", email="quinn@b.test")
    return Firms(
        a_pipeline,
        a_stages,
        a_other,
        avery,
        a_job,
        await Job.get(id=a_moved.id),
        a_task,
        pat,
        a_events,
        b_pipeline,
        b_stages,
        b_other,
        blue,
        b_job,
        b_task,
        b_user,
    )


# ----------------------------------------------------------------------------------- lists


async def test_lists_show_only_the_callers_firm(gql_b: GraphQL, f: Firms) -> None:
    data = await gql_b("""{
        pipelines { totalCount edges { node { name stages { name } jobs { totalCount } } } }
        jobs(filter: {status: [ACTIVE, COMPLETED, ARCHIVED]}) {
            totalCount edges { node { title } } }
        clients { totalCount edges { node { name } } }
        users { name }
        viewer { name }
    }""")
    assert data["pipelines"] == {
        "totalCount": 2,
        "edges": [
            {
                "node": {
                    "name": "Payroll",
                    "stages": [{"name": "Intake"}, {"name": "Work"}],
                    "jobs": {"totalCount": 1},
                }
            },
            {"node": {"name": "W-2", "stages": [{"name": "New"}], "jobs": {"totalCount": 0}}},
        ],
    }
    assert data["jobs"] == {"totalCount": 1, "edges": [{"node": {"title": "Blue payroll"}}]}
    assert data["clients"] == {"totalCount": 1, "edges": [{"node": {"name": "Blue Harbor LLC"}}]}
    assert data["users"] == [{"name": "Bob Owner"}, {"name": "Quinn"}]
    assert data["viewer"] == {"name": "Bob Owner"}


async def test_searches_and_filters_find_nothing_of_another_firm(gql_b: GraphQL, f: Firms) -> None:
    data = await gql_b(
        """query($p: ID!, $c: ID!, $s: ID!, $u: ID!) {
        byPipeline: jobs(filter: {pipelineId: $p}) { totalCount edges { node { id } } }
        byClient: jobs(filter: {clientId: $c}) { totalCount edges { node { id } } }
        byStage: jobs(filter: {stageId: $s}) { totalCount edges { node { id } } }
        byAssignee: jobs(filter: {assigneeId: $u}) { totalCount edges { node { id } } }
        byTitle: jobs(filter: {search: "Avery"}) { totalCount edges { node { id } } }
        clients(search: "Avery") { totalCount edges { node { id } } }
    }""",
        p=gid("Pipeline", f.a_pipeline.id),
        c=gid("Client", f.a_client.id),
        s=gid("Stage", f.a_stages[0].id),
        u=gid("User", f.a_user.id),
    )
    empty = {"totalCount": 0, "edges": []}
    assert data == {key: empty for key in data}
    assert len(data) == 6


async def test_firm_a_sees_its_own_data(gql: GraphQL, f: Firms) -> None:
    """The control for this file: A's ids are real, and A's token reads them."""
    ids = f.a_ids()
    data = await gql("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=list(ids.values()))
    assert [node and node["id"] for node in data["nodes"]] == list(ids.values())
    listed = await gql("{ jobs { totalCount } clients { totalCount } pipelines { totalCount } }")
    assert listed == {
        "jobs": {"totalCount": 2},
        "clients": {"totalCount": 1},
        "pipelines": {"totalCount": 2},
    }


# --------------------------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("field", "type_name", "attr"),
    [
        ("pipeline", "Pipeline", "a_pipeline"),
        ("job", "Job", "a_job"),
        ("client", "Client", "a_client"),
    ],
)
async def test_lookup_of_another_firms_id_is_null(
    gql_b: GraphQL, f: Firms, field: str, type_name: str, attr: str
) -> None:
    query = f"query($id: ID!) {{ {field}(id: $id) {{ id }} }}"
    assert await gql_b(query, id=gid(type_name, getattr(f, attr).id)) == {field: None}
    assert await gql_b(query, id=gid(type_name, MISSING)) == {field: None}


async def test_node_of_every_id_of_another_firm_is_null(gql_b: GraphQL, f: Firms) -> None:
    for label, global_id in f.a_ids().items():
        data = await gql_b("query($id: ID!) { node(id: $id) { __typename id } }", id=global_id)
        assert data == {"node": None}, label


async def test_nodes_of_another_firms_ids_are_null(gql_b: GraphQL, f: Firms) -> None:
    ids = list(f.a_ids().values())
    own = gid("Job", f.b_job.id)
    data = await gql_b("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=[*ids, own])
    assert data["nodes"] == [None] * len(ids) + [{"id": own}]


async def test_aliases_in_one_query_reveal_nothing(gql_b: GraphQL, f: Firms) -> None:
    ids = f.a_ids()
    fields = [
        f'n{n}: node(id: "{global_id}") {{ id }}' for n, global_id in enumerate(ids.values())
    ] + [
        f'p: pipeline(id: "{ids["pipeline"]}") {{ id name stages {{ id }} }}',
        f'j: job(id: "{ids["job"]}") {{ id title }}',
        f'c: client(id: "{ids["client"]}") {{ id name }}',
        f'mine: job(id: "{gid("Job", f.b_job.id)}") {{ title }}',
    ]
    data: dict[str, Any] = {}
    for start in range(0, len(fields), 20):  # at most 20 root fields per operation
        data |= await gql_b("{ " + "\n".join(fields[start : start + 20]) + " }")
    mine = data.pop("mine")
    assert mine == {"title": "Blue payroll"}
    assert data == {key: None for key in data}
    assert len(data) == len(ids) + 3


# ------------------------------------------------------------------------------- mutations

# (label, mutation, type of the foreign id, input given that id)
Input = Callable[[Firms, str], dict[str, Any]]
FOREIGN: list[tuple[str, str, str, Input]] = [
    (
        "moveJob A's job",
        "moveJob",
        "Job",
        lambda f, i: {"jobId": i, "stageId": gid("Stage", f.b_stages[1].id)},
    ),
    (
        "moveJob into A's stage",
        "moveJob",
        "Stage",
        lambda f, i: {"jobId": gid("Job", f.b_job.id), "stageId": i},
    ),
    (
        "moveJob before A's job",
        "moveJob",
        "Job",
        lambda f, i: {
            "jobId": gid("Job", f.b_job.id),
            "stageId": gid("Stage", f.b_stages[1].id),
            "beforeJobId": i,
        },
    ),
    (
        "transferJob into A's pipeline",
        "transferJob",
        "Pipeline",
        lambda f, i: {"jobId": gid("Job", f.b_job.id), "pipelineId": i},
    ),
    (
        "transferJob into A's stage",
        "transferJob",
        "Stage",
        lambda f, i: {
            "jobId": gid("Job", f.b_job.id),
            "pipelineId": gid("Pipeline", f.b_other.id),
            "stageId": i,
        },
    ),
    (
        "transferJob A's job",
        "transferJob",
        "Job",
        lambda f, i: {"jobId": i, "pipelineId": gid("Pipeline", f.b_other.id)},
    ),
    (
        "createJob for A's client",
        "createJob",
        "Client",
        lambda f, i: {
            "pipelineId": gid("Pipeline", f.b_pipeline.id),
            "clientId": i,
            "title": "Sneaky",
        },
    ),
    (
        "createJob in A's pipeline",
        "createJob",
        "Pipeline",
        lambda f, i: {
            "pipelineId": i,
            "clientId": gid("Client", f.b_client.id),
            "title": "Sneaky",
        },
    ),
    (
        "createJob in A's stage",
        "createJob",
        "Stage",
        lambda f, i: {
            "pipelineId": gid("Pipeline", f.b_pipeline.id),
            "clientId": gid("Client", f.b_client.id),
            "title": "Sneaky",
            "stageId": i,
        },
    ),
    (
        "createJob assigned to A's user",
        "createJob",
        "User",
        lambda f, i: {
            "pipelineId": gid("Pipeline", f.b_pipeline.id),
            "clientId": gid("Client", f.b_client.id),
            "title": "Sneaky",
            "assigneeIds": [i],
        },
    ),
    ("updateJob A's job", "updateJob", "Job", lambda f, i: {"id": i, "title": "Hijacked"}),
    (
        "updateJob to A's client",
        "updateJob",
        "Client",
        lambda f, i: {"id": gid("Job", f.b_job.id), "clientId": i},
    ),
    (
        "updateJob assigned to A's user",
        "updateJob",
        "User",
        lambda f, i: {"id": gid("Job", f.b_job.id), "assigneeIds": [i]},
    ),
    ("archiveJob A's job", "archiveJob", "Job", lambda f, i: {"id": i}),
    (
        "bulkMoveJobs into A's stage",
        "bulkMoveJobs",
        "Stage",
        lambda f, i: {"jobIds": [gid("Job", f.b_job.id)], "stageId": i},
    ),
    (
        "bulkUpdateJobs assigned to A's user",
        "bulkUpdateJobs",
        "User",
        lambda f, i: {"jobIds": [gid("Job", f.b_job.id)], "assigneeIds": [i]},
    ),
    (
        "createJobs in A's pipeline",
        "createJobs",
        "Pipeline",
        lambda f, i: {"clientIds": [gid("Client", f.b_client.id)], "pipelineId": i, "title": "x"},
    ),
    ("createTask on A's job", "createTask", "Job", lambda f, i: {"jobId": i, "title": "Sneaky"}),
    (
        "createTask assigned to A's user",
        "createTask",
        "User",
        lambda f, i: {"jobId": gid("Job", f.b_job.id), "title": "Sneaky", "assigneeId": i},
    ),
    ("updateTask A's task", "updateTask", "Task", lambda f, i: {"id": i, "title": "Hijacked"}),
    (
        "updateTask assigned to A's user",
        "updateTask",
        "User",
        lambda f, i: {"id": gid("Task", f.b_task.id), "assigneeId": i},
    ),
    ("completeTask A's task", "completeTask", "Task", lambda f, i: {"id": i}),
    ("reopenTask A's task", "reopenTask", "Task", lambda f, i: {"id": i}),
    ("deleteTask A's task", "deleteTask", "Task", lambda f, i: {"id": i}),
    (
        "updateClient A's client",
        "updateClient",
        "Client",
        lambda f, i: {"id": i, "name": "Hijacked"},
    ),
    (
        "updatePipeline A's pipeline",
        "updatePipeline",
        "Pipeline",
        lambda f, i: {"id": i, "name": "Hijacked"},
    ),
    ("deletePipeline A's pipeline", "deletePipeline", "Pipeline", lambda f, i: {"id": i}),
    (
        "createStage in A's pipeline",
        "createStage",
        "Pipeline",
        lambda f, i: {"pipelineId": i, "name": "Sneaky"},
    ),
    ("updateStage A's stage", "updateStage", "Stage", lambda f, i: {"id": i, "name": "Hijacked"}),
    ("deleteStage A's stage", "deleteStage", "Stage", lambda f, i: {"id": i}),
    (
        "deleteStage into A's stage",
        "deleteStage",
        "Stage",
        lambda f, i: {"id": gid("Stage", f.b_stages[0].id), "moveJobsToStageId": i},
    ),
    (
        "reorderStages of A's pipeline",
        "reorderStages",
        "Pipeline",
        lambda f, i: {
            "pipelineId": i,
            "stageIds": [gid("Stage", s.id) for s in f.a_stages],
        },
    ),
]

# Which of A's objects each foreign id names, by type (the first, untouched one).
A_OBJECT: dict[str, Callable[[Firms], int]] = {
    "Pipeline": lambda f: f.a_pipeline.id,
    "Stage": lambda f: f.a_stages[0].id,
    "Job": lambda f: f.a_job.id,
    "Client": lambda f: f.a_client.id,
    "Task": lambda f: f.a_task.id,
    "User": lambda f: f.a_user.id,
}


@pytest.mark.parametrize(("label", "op", "type_name", "make"), FOREIGN, ids=[c[0] for c in FOREIGN])
async def test_mutation_with_another_firms_id_is_not_found_like_a_made_up_one(
    gql_b: GraphQL, f: Firms, label: str, op: str, type_name: str, make: Input
) -> None:
    before = await snapshot()
    theirs = (await gql_b(document(op), input=make(f, gid(type_name, A_OBJECT[type_name](f)))))[op]
    made_up = (await gql_b(document(op), input=make(f, gid(type_name, MISSING))))[op]
    assert await snapshot() == before
    assert made_up["errors"] and made_up["errors"][0]["code"] == "NOT_FOUND"
    assert theirs == made_up


# Bulk calls whose items name A's objects: each such item answers as a made-up id does (only
# the echoed id differs), atomic or not, and nothing of either firm changes.
BULK_FOREIGN: list[tuple[str, str, str, Input]] = [
    (
        "bulkMoveJobs of A's job",
        "bulkMoveJobs",
        "Job",
        lambda f, i: {
            "jobIds": [i, gid("Job", f.b_job.id)],
            "stageId": gid("Stage", f.b_stages[0].id),
        },
    ),
    (
        "bulkUpdateJobs of A's job",
        "bulkUpdateJobs",
        "Job",
        lambda f, i: {"jobIds": [i, gid("Job", f.b_job.id)], "addTags": ["sneaky"]},
    ),
    (
        "bulkArchiveJobs of A's job",
        "bulkArchiveJobs",
        "Job",
        lambda f, i: {"jobIds": [i]},
    ),
    (
        "createJobs for A's client",
        "createJobs",
        "Client",
        lambda f, i: {
            "clientIds": [i],
            "pipelineId": gid("Pipeline", f.b_pipeline.id),
            "title": "Sneaky",
        },
    ),
]


@pytest.mark.parametrize(
    ("label", "op", "type_name", "make"), BULK_FOREIGN, ids=[c[0] for c in BULK_FOREIGN]
)
@pytest.mark.parametrize("atomic", [False, True])
async def test_a_bulk_item_with_another_firms_id_is_not_found_like_a_made_up_one(
    gql_b: GraphQL, f: Firms, label: str, op: str, type_name: str, make: Input, atomic: bool
) -> None:
    """The item alone fails (a job of B's own beside it answers unchanged, with no event, as
    moving it to its own stage does); atomic, the call is refused."""
    foreign, missing = gid(type_name, A_OBJECT[type_name](f)), gid(type_name, MISSING)
    before = await snapshot()
    theirs = (await gql_b(document(op), input=make(f, foreign) | {"atomic": atomic}))[op]
    made_up = (await gql_b(document(op), input=make(f, missing) | {"atomic": atomic}))[op]
    changed = await snapshot()
    if op == "bulkUpdateJobs" and not atomic:  # B's own job took its tag, once
        changed["job"] = before["job"] = []
        changed["job_event"] = before["job_event"] = []
    else:
        assert changed == before
    field = "clientIds" if type_name == "Client" else "jobIds"
    assert made_up["results"][0]["errors"] == [
        {"code": "NOT_FOUND", "field": field, "message": f"{type_name} not found"}
    ]
    key = "clientId" if type_name == "Client" else "jobId"
    assert theirs["results"][0] == made_up["results"][0] | {key: foreign}
    assert theirs["errors"] == made_up["errors"]
    assert [e["code"] for e in theirs["errors"]] == (["BULK_REFUSED"] if atomic else [])


async def test_reorder_own_stages_with_another_firms_stage_is_like_a_made_up_one(
    gql_b: GraphQL, f: Firms
) -> None:
    """Here the answer is INVALID_INPUT (stageIds must list the pipeline's stages), not
    NOT_FOUND; what matters is that A's stage is indistinguishable from no stage."""

    def reorder(foreign: str) -> dict[str, Any]:
        return {
            "pipelineId": gid("Pipeline", f.b_pipeline.id),
            "stageIds": [gid("Stage", f.b_stages[0].id), foreign],
        }

    before = await snapshot()
    theirs = await gql_b(document("reorderStages"), input=reorder(gid("Stage", f.a_stages[1].id)))
    made_up = await gql_b(document("reorderStages"), input=reorder(gid("Stage", MISSING)))
    assert await snapshot() == before
    assert made_up["reorderStages"]["errors"][0]["code"] == "INVALID_INPUT"
    assert theirs == made_up


async def test_firm_a_can_still_change_what_b_could_not(gql: GraphQL, f: Firms) -> None:
    """The control for the mutations: the same operations on A's ids work with A's token."""
    moved = (
        await gql(
            document("moveJob"),
            input={
                "jobId": gid("Job", f.a_job.id),
                "stageId": gid("Stage", f.a_stages[1].id),
            },
        )
    )["moveJob"]
    done = await gql(document("reopenTask"), input={"id": gid("Task", f.a_task.id)})
    renamed = (
        await gql(
            document("updateClient"),
            input={
                "id": gid("Client", f.a_client.id),
                "name": "Avery J.",
            },
        )
    )["updateClient"]
    assert moved == {"errors": [], "job": {"id": gid("Job", f.a_job.id)}}
    assert done["reopenTask"]["errors"] == []
    assert renamed == {"errors": [], "client": {"id": gid("Client", f.a_client.id)}}


# ------------------------------------------------------------------------------------ auth

QUERY = {"query": "{ viewer { name } }"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer wf_not-a-real-token"},
        {"Authorization": "Bearer not-even-the-prefix"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["none", "empty", "scheme only", "scheme and space", "unknown", "no prefix", "basic"],
)
async def test_post_without_a_valid_token_is_401(
    http: httpx.AsyncClient, firm_a: NewFirm, headers: dict[str, str]
) -> None:
    response = await http.post("/graphql", json=QUERY, headers=headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_post_with_the_token_in_the_wrong_scheme_is_401(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    response = await http.post(
        "/graphql", json=QUERY, headers={"Authorization": f"Token {firm_a.token}"}
    )
    assert response.status_code == 401
    good = await http.post(
        "/graphql", json=QUERY, headers={"Authorization": f"Bearer {firm_a.token}"}
    )
    assert good.status_code == 200 and good.json() == {"data": {"viewer": {"name": "Alice Owner"}}}


async def test_get_with_a_query_and_no_token_is_401(http: httpx.AsyncClient, db: str) -> None:
    response = await http.get("/graphql", params={"query": "{ viewer { name } }"})
    assert response.status_code == 401
