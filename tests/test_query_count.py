"""A nested board query costs a fixed number of SQL statements, whatever the board's size."""

from __future__ import annotations

from models import User
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, scope_of
from workflow import jobs, tasks
from workflow.firms import NewFirm

BOARD = """{ pipelines(first: 1) { edges { node { name stages { name jobs(first: 100) {
  edges { node { title version rank client { name } assignees { name }
  tasks(first: 10) { edges { node { title done assignee { name } } } }
} } } } } } } }"""
# token lookup, pipelines, stages, jobs, clients, assignees, tasks, task assignees
BOARD_STATEMENTS = 8


async def _add_jobs(firm: NewFirm, pipeline: int, count: int) -> None:
    scope = scope_of(firm)
    people = [await client(firm, f"Client {n}") for n in range(3)]
    staff = await User.create(firm_id=firm.firm.id, name="Pat", email=f"pat{count}@a.test")
    for n in range(count):
        card = await jobs.create_job(
            scope, pipeline, people[n % 3].id, f"job {n}", assignee_ids=[staff.id]
        )
        await tasks.create_task(scope, card.id, "Request documents", assignee_id=staff.id)


async def _count(gql: GraphQL, counter: StatementCounter) -> tuple[int, int]:
    await gql(BOARD)  # warm: the token's last-used time is written at most once a minute
    counter.statements.clear()
    data = await gql(BOARD)
    stages = data["pipelines"]["edges"][0]["node"]["stages"]
    return len(counter.statements), sum(len(s["jobs"]["edges"]) for s in stages)


async def test_board_statements_do_not_grow_with_jobs(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, _ = await board(firm_a)
    await _add_jobs(firm_a, pipeline.id, 1)
    small, jobs_small = await _count(gql, sql_statements)
    await _add_jobs(firm_a, pipeline.id, 199)
    large, jobs_large = await _count(gql, sql_statements)
    assert (jobs_small, jobs_large) == (1, 100)  # first: 100 of 200
    assert small == large == BOARD_STATEMENTS, sql_statements.statements
