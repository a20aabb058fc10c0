"""A nested board query costs a fixed number of SQL statements, whatever the board's size;
the same query again, with nothing changed in between, costs the data version's one."""

from __future__ import annotations

from models import Job, User
from models.db import is_postgres
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, scope_of
from workflow import clients, jobs, tasks
from workflow.firms import NewFirm

BOARD = """{ pipelines(first: 1) { edges { node { name stages { name jobs(first: 100) {
  edges { node { title version rank client { name } assignees { name }
  tasks(first: 10) { edges { node { title done assignee { name } } } }
} } } } } } } }"""
# token lookup, data version, pipelines, stages, jobs, clients, assignees, tasks, task assignees
BOARD_STATEMENTS = 9
CACHED_BOARD_STATEMENTS = 2  # token lookup, data version


async def _add_jobs(firm: NewFirm, pipeline: int, count: int) -> None:
    scope = scope_of(firm)
    people = [await client(firm, f"Client {n}") for n in range(3)]
    staff = await User.create(firm_id=firm.firm.id, name="Pat", email=f"pat{count}@a.test")
    for n in range(count):
        card = await jobs.create_job(
            scope, pipeline, people[n % 3].id, f"job {n}", assignee_ids=[staff.id]
        )
        await tasks.create_task(scope, card.id, "Request documents", assignee_id=staff.id)


async def _count(gql: GraphQL, counter: StatementCounter, firm: NewFirm) -> tuple[int, int, int]:
    """Statements of a board load after a change, of the same load again, and its jobs."""
    await gql(BOARD)  # warm: the token's last-used time is written at most once a minute
    await clients.create_client(scope_of(firm), "Someone new")  # a change: the next load runs
    counter.statements.clear()
    data = await gql(BOARD)
    executed = len(counter.statements)
    counter.statements.clear()
    assert await gql(BOARD) == data
    stages = data["pipelines"]["edges"][0]["node"]["stages"]
    return executed, len(counter.statements), sum(len(s["jobs"]["edges"]) for s in stages)


async def test_board_statements_do_not_grow_with_jobs(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, _ = await board(firm_a)
    await _add_jobs(firm_a, pipeline.id, 1)
    small, small_cached, jobs_small = await _count(gql, sql_statements, firm_a)
    await _add_jobs(firm_a, pipeline.id, 199)
    large, large_cached, jobs_large = await _count(gql, sql_statements, firm_a)
    assert (jobs_small, jobs_large) == (1, 100)  # first: 100 of 200
    assert small == large == BOARD_STATEMENTS
    assert small_cached == large_cached == CACHED_BOARD_STATEMENTS, sql_statements.statements


MOVE = """mutation($j: ID!, $s: ID!, $a: ID) { moveJob(input: {jobId: $j, stageId: $s,
  afterJobId: $a}) { job { version stage { name } } errors { code } } }"""
# token lookup; the stage and its automations (read before any lock); the job's lock; the
# job's dated automation runs skipped (it leaves their stage); the anchor with its neighbour;
# the job written (in a savepoint on PostgreSQL: transaction control is not logged); the event
# (numbered at COMMIT on PostgreSQL; on SQLite the pipeline's sequence first); webhook
# endpoints. The target stage has no WIP limit, so none is counted under the pipeline's lock.
# The payload's stage is the one read first.
MOVE_STATEMENTS = {"postgres": 9, "sqlite": 10}


async def test_a_move_costs_the_same_statements_whatever_the_stage_size(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, stages = await board(firm_a)
    await _add_jobs(firm_a, pipeline.id, 4)
    counts = []
    for more in (0, 60):
        await _add_jobs(firm_a, pipeline.id, more)
        anchor, mover = await Job.filter(stage_id=stages[0].id).order_by("id").limit(2)
        await jobs.move_job(scope_of(firm_a), anchor.id, stages[1].id)
        await gql("{ viewer { name } }")  # the token's last use is written once a minute
        sql_statements.statements.clear()
        data = await gql(
            MOVE, j=gid("Job", mover.id), s=gid("Stage", stages[1].id), a=gid("Job", anchor.id)
        )
        assert data["moveJob"]["errors"] == [] and data["moveJob"]["job"]["stage"]
        counts.append(len(sql_statements.statements))
    expected = MOVE_STATEMENTS["postgres" if is_postgres() else "sqlite"]
    assert counts == [expected, expected], sql_statements.statements
