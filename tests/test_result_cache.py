"""Cached query results (schema/result_cache.py) are never stale: every kind of change a board
shows is seen by the next load, on this process and on another, and nothing is shared between
firms or callers that would see different data."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from graphql import get_named_type, is_leaf_type

from api import schema
from automations import manage
from models import ActionType, Role, User
from schema.result_cache import CACHED_TYPES, STORE
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, job, scope_of
from tests.live import make_board
from tests.servers import ServerProcess, graphql
from workflow import clients, jobs, people, pipelines, tasks
from workflow.firms import NewFirm

BOARD = """query($p: ID!) { pipeline(id: $p) { name stages { name
  automations { action enabled }
  jobs(first: 20) { edges { node { title version client { name } assignees { name }
    tasks(first: 5) { edges { node { title done } } } } } } } } }"""

# Object types deliberately left out of the cache, with the reason; a new type must be put in
# one list or the other (see test_every_object_type_is_classified).
UNCACHED_TYPES = {
    "AutomationRun": "the runner changes a run's status without an event",
    "AutomationRunConnection": "automation runs",
    "AutomationRunEdge": "automation runs",
    "ApiToken": "last use is written outside changes",
    "WebhookEndpoint": "the sender writes failure counts outside changes",
    "WebhookDelivery": "the sender writes attempts outside changes",
    "WebhookDeliveryConnection": "webhook deliveries",
    "WebhookDeliveryEdge": "webhook deliveries",
    "Email": "the mailer writes status, attempts and errors outside changes",
    "EmailConnection": "emails",
    "EmailEdge": "emails",
    "RecurringSchedule": "nextOccurrences depends on the clock, not only on the data",
    "RecurringScheduleConnection": "recurring schedules",
    "RecurringScheduleEdge": "recurring schedules",
    "RecurringOccurrence": "computed from the clock",
    "TemplateWarning": "answered by importPipelineTemplate only, never by a query",
    "BulkJobResult": "an item of a bulk mutation's payload: only mutations answer it",
    "Export": "the export runner writes its status, count and cursor outside changes",
}


def test_every_object_type_is_classified() -> None:
    graphql_schema = schema._schema
    roots = {graphql_schema.mutation_type, graphql_schema.subscription_type}
    objects = {
        name
        for name, named in graphql_schema.type_map.items()
        if not name.startswith("__")
        and not is_leaf_type(get_named_type(named))
        and named not in roots
        and not name.endswith(("Input", "Payload", "Filter"))
        and name not in {"Node", "BoardEvent", "UserError"}
    }
    assert objects - CACHED_TYPES - UNCACHED_TYPES.keys() == set()
    assert CACHED_TYPES & UNCACHED_TYPES.keys() == set()


async def _changes(firm: NewFirm) -> tuple[Any, list[tuple[str, Callable[[], Awaitable[Any]]]]]:
    """A board, and one change of each kind the board shows."""
    scope = scope_of(firm)
    pipeline, stages = await board(firm)
    avery = await client(firm)
    card = await job(firm, pipeline, avery)
    pat = await User.create(firm_id=firm.firm.id, name="Pat", email="pat@a.test", role=Role.STAFF)
    task: list[Any] = []

    async def add_task() -> None:
        task.append(await tasks.create_task(scope, card.id, "Request documents"))

    async def add_automation() -> None:
        await manage.create_automation(
            scope, stages[0].id, ActionType.CREATE_TASK, {"title": "Call the client"}
        )

    return pipeline, [
        ("move", lambda: jobs.move_job(scope, card.id, stages[1].id)),
        ("job title", lambda: jobs.update_job(scope, card.id, title="2026 return")),
        ("assignees", lambda: jobs.update_job(scope, card.id, assignee_ids=[pat.id])),
        ("task", add_task),
        ("task done", lambda: tasks.set_task_done(scope, task[0].id, True)),
        ("client name", lambda: clients.update_client(scope, avery.id, name="Avery J.")),
        ("person name", lambda: people.update_user(scope, pat.id, name="Patricia")),
        ("automation", add_automation),
        ("pipeline name", lambda: pipelines.update_pipeline(scope, pipeline.id, "1040s")),
        ("stage name", lambda: pipelines.update_stage(scope, stages[1].id, name="Preparing")),
        ("new job", lambda: jobs.create_job(scope, pipeline.id, avery.id, "Amended")),
    ]


async def test_each_change_is_seen_by_the_next_load(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, changes = await _changes(firm_a)
    p = gid("Pipeline", pipeline.id)
    before = await gql(BOARD, p=p)
    for name, make in changes:
        sql_statements.statements.clear()
        assert await gql(BOARD, p=p) == before, name
        assert len(sql_statements.statements) <= 2, f"not cached before: {name}"
        await make()
        after = await gql(BOARD, p=p)
        assert after != before, f"stale after: {name}"
        before = after


async def test_firms_and_permissions_do_not_share_results(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    await board(firm_a, name="A's pipeline")
    await board(firm_b, name="B's pipeline")
    names = "{ pipelines { edges { node { name } } } }"
    assert (await gql(names))["pipelines"]["edges"][0]["node"]["name"] == "A's pipeline"
    assert (await gql_b(names))["pipelines"]["edges"][0]["node"]["name"] == "B's pipeline"
    viewer = "{ viewer { name } }"
    assert (await gql(viewer))["viewer"]["name"] == firm_a.owner.name
    assert (await gql_b(viewer))["viewer"]["name"] == firm_b.owner.name


async def test_identical_loads_at_once_run_once(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, _ = await board(firm_a)
    await job(firm_a, pipeline, await client(firm_a))
    await gql("{ viewer { name } }")  # the token's last use is written once a minute
    STORE.clear()
    sql_statements.statements.clear()
    loads = await asyncio.gather(*(gql(BOARD, p=gid("Pipeline", pipeline.id)) for _ in range(5)))
    assert all(load == loads[0] for load in loads)
    pages = [s for s in sql_statements.statements if "ROW_NUMBER" in s and '"job"' in s]
    assert len(pages) == 1, sql_statements.statements


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Any:
    if database_url.startswith("sqlite"):
        pytest.skip("the embedded default is one process")
    servers = [
        ServerProcess(tmp_path, "--no-runner", DATABASE_URL=database_url).start() for _ in range(2)
    ]
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.slow
def test_a_change_on_one_process_is_seen_by_the_cache_of_another(two_servers: Any) -> None:
    first, second = two_servers
    made = make_board(first, jobs=1, firm="Cache & Co")
    query = """query($p: ID!) { pipeline(id: $p) { stages {
      jobs { edges { node { title client { name } } } } } } }"""

    def titles() -> list[tuple[str, str]]:
        stages = graphql(first, made.token, query, p=made.pipeline)["pipeline"]["stages"]
        return [
            (e["node"]["title"], e["node"]["client"]["name"])
            for s in stages
            for e in s["jobs"]["edges"]
        ]

    assert titles() == titles() == [("job 0", "Avery")]
    graphql(
        second,
        made.token,
        """mutation($j: ID!) { updateJob(input: {id: $j,
        title: "renamed"}) { job { id } } }""",
        j=made.jobs[0],
    )
    assert titles() == [("renamed", "Avery")]
    client_id = graphql(second, made.token, "{ clients { edges { node { id } } } }")
    graphql(
        second,
        made.token,
        """mutation($c: ID!) { updateClient(input: {id: $c,
        name: "Blake"}) { client { id } } }""",
        c=client_id["clients"]["edges"][0]["node"]["id"],
    )
    assert titles() == [("renamed", "Blake")]
