"""The nested graph: pipelines → stages → jobs → tasks, assignees, client, history; node(s)."""

from __future__ import annotations

from models import User
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from workflow import jobs, tasks
from workflow.firms import NewFirm

BOARD = """
query Board($id: ID!) {
  pipeline(id: $id) {
    id name
    stages {
      id name position
      jobs(first: 10) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node {
          id title version status priority tags
          client { name email }
          assignees { name email }
          stage { id name }
          pipeline { name }
          tasks(first: 10) {
            totalCount edges { node { title done assignee { name } job { title } } }
          }
          history(first: 20) { edges { node { type seq actor { name } toStageId } } }
        } }
      }
    }
  }
}
"""


async def test_nested_board_returns_the_right_data(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat Preparer", email="pat@a.test")
    scope = scope_of(firm_a)
    first = await jobs.create_job(
        scope, pipeline.id, avery.id, "Avery 2025", tags=["2025"], assignee_ids=[pat.id]
    )
    second = await job(firm_a, pipeline, avery, "Avery amended")
    await tasks.create_task(scope, first.id, "Request W-2", assignee_id=pat.id)
    await jobs.move_job(scope, second.id, stages[1].id)

    data = await gql(BOARD, id=gid("Pipeline", pipeline.id))

    got = data["pipeline"]
    assert got["name"] == "1040 Return"
    assert [s["name"] for s in got["stages"]] == ["Review Docs", "Prepare Return", "Review"]
    review, prepare, last = got["stages"]
    assert review["jobs"]["totalCount"] == 1 and last["jobs"]["totalCount"] == 0
    card = review["jobs"]["edges"][0]["node"]
    assert card == {
        "id": gid("Job", first.id),
        "title": "Avery 2025",
        "version": 1,
        "status": "ACTIVE",
        "priority": "NORMAL",
        "tags": ["2025"],
        "client": {"name": "Avery Johnson", "email": "avery@example.test"},
        "assignees": [{"name": "Pat Preparer", "email": "pat@a.test"}],
        "stage": {"id": gid("Stage", stages[0].id), "name": "Review Docs"},
        "pipeline": {"name": "1040 Return"},
        "tasks": {
            "totalCount": 1,
            "edges": [
                {
                    "node": {
                        "title": "Request W-2",
                        "done": False,
                        "assignee": {"name": "Pat Preparer"},
                        "job": {"title": "Avery 2025"},
                    }
                }
            ],
        },
        "history": {
            "edges": [
                {
                    "node": {
                        "type": "JOB_CREATED",
                        "seq": 1,
                        "actor": {"name": "Alice Owner"},
                        "toStageId": gid("Stage", stages[0].id),
                    }
                },
                {
                    "node": {
                        "type": "TASK_CHANGED",
                        "seq": 3,
                        "actor": {"name": "Alice Owner"},
                        "toStageId": None,
                    }
                },
            ]
        },
    }
    moved = prepare["jobs"]["edges"][0]["node"]
    assert moved["title"] == "Avery amended" and moved["version"] == 2
    assert [e["node"]["type"] for e in moved["history"]["edges"]] == ["JOB_CREATED", "JOB_MOVED"]


async def test_stage_jobs_paginate_in_rank_order(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    titles = [f"job {n}" for n in range(5)]
    for title in titles:
        await job(firm_a, pipeline, avery, title)
    query = """query($id: ID!, $after: String) { node(id: $id) { ... on Stage {
        jobs(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { node { title } } } } } }"""
    seen, after, pages = [], None, 0
    while True:
        page = (await gql(query, id=gid("Stage", stages[0].id), after=after))["node"]["jobs"]
        assert page["totalCount"] == 5
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        seen += [e["node"]["title"] for e in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == titles and pages == 3


async def test_node_and_nodes_resolve_every_type(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    card = await job(firm_a, pipeline, avery)
    task = await tasks.create_task(scope_of(firm_a), card.id, "Call")
    ids = {
        "Pipeline": gid("Pipeline", pipeline.id),
        "Stage": gid("Stage", stages[0].id),
        "Job": gid("Job", card.id),
        "Task": gid("Task", task.id),
        "Client": gid("Client", avery.id),
        "User": gid("User", firm_a.owner.id),
    }
    data = await gql(
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }", ids=list(ids.values())
    )
    assert [(n["__typename"], n["id"]) for n in data["nodes"]] == list(ids.items())
    missing = await gql("query($id: ID!) { node(id: $id) { id } }", id=gid("Job", 999999))
    assert missing == {"node": None}


async def test_jobs_filters(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    other, _ = await board(firm_a, ("Lead",), name="Bookkeeping Lead")
    avery, blue = await client(firm_a), await client(firm_a, "Blue Harbor LLC")
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat", email="pat@a.test")
    scope = scope_of(firm_a)
    from datetime import date

    a = await jobs.create_job(
        scope,
        pipeline.id,
        avery.id,
        "Avery 1040",
        tags=["vip", "2025"],
        due_date=date(2026, 4, 15),
        assignee_ids=[pat.id],
    )
    b = await jobs.create_job(
        scope, pipeline.id, blue.id, "Blue Harbor payroll", due_date=date(2026, 1, 31)
    )
    c = await jobs.create_job(scope, other.id, blue.id, "Blue Harbor books", tags=["vip_2"])
    await jobs.move_job(scope, b.id, stages[2].id)
    archived = await job(firm_a, pipeline, avery, "Old return")
    await jobs.archive_job(scope, archived.id)

    async def titles(**filter: object) -> list[str]:
        data = await gql(
            "query($f: JobFilter) { jobs(filter: $f) { totalCount edges { node { title } } } }",
            f=filter,
        )
        assert data["jobs"]["totalCount"] == len(data["jobs"]["edges"])
        return [e["node"]["title"] for e in data["jobs"]["edges"]]

    assert await titles() == [a.title, b.title, c.title]
    assert await titles(pipelineId=gid("Pipeline", pipeline.id)) == [a.title, b.title]
    assert await titles(stageId=gid("Stage", stages[2].id)) == [b.title]
    assert await titles(clientId=gid("Client", blue.id)) == [b.title, c.title]
    assert await titles(assigneeId=gid("User", pat.id)) == [a.title]
    assert await titles(status=["ARCHIVED"]) == ["Old return"]
    assert await titles(tag="vip") == [a.title]
    assert await titles(tag="vip_2") == [c.title]
    assert await titles(dueBefore="2026-02-01") == [b.title]
    assert await titles(dueAfter="2026-02-01") == [a.title]
    assert await titles(search="harbor BOOKS") == [c.title]


async def test_a_failing_field_leaves_the_loads_it_shared_to_the_rest(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """graphql-core cancels the pending siblings of a field that fails: a load they shared
    with the rest of the query (one DataLoader future per key) still reaches the rest."""
    pipeline, _ = await board(firm_a)
    avery = await client(firm_a)
    await job(firm_a, pipeline, avery, "Avery 2025")
    cards = "jobs(first: 5) { edges { node { title client { name } } } }"
    bad = 'bad: jobs(after: "x") { totalCount }'
    body = await gql(
        f"""query($id: ID!) {{
          failing: pipeline(id: $id) {{ stages {{ {cards} {bad} }} }}
          fine: pipeline(id: $id) {{ stages {{ {cards} }} }}
        }}""",
        expect_errors=True,
        id=gid("Pipeline", pipeline.id),
    )
    assert body["data"]["failing"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"INVALID_INPUT"}
    first = body["data"]["fine"]["stages"][0]["jobs"]["edges"]
    assert first == [{"node": {"title": "Avery 2025", "client": {"name": avery.name}}}]
