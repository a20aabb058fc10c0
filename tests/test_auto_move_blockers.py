"""`Job.autoMoveBlockers` on a board: batched (a fixed number of statements whatever the number
of jobs) and counted in the query's cost like a short list."""

from __future__ import annotations

from graphql import parse

from api import schema
from models import Job
from models.firm import Permission
from schema.guard import LIST_ESTIMATE, analyze
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, scope_of
from workflow import clients, documents, jobs, tasks
from workflow.firms import NewFirm

BOARD = """{ pipelines(first: 1) { edges { node { stages { name jobs(first: 100) {
  edges { node { title autoMoveBlockers } } } } } } } }"""
# token lookup, data version, pipelines, stages, jobs; open tasks, organizers, invoices
BOARD_STATEMENTS = 8


async def _add_jobs(
    firm: NewFirm, pipeline: int, stage: int, count: int, start: int = 0
) -> list[Job]:
    """Jobs in `stage`, each with an open and a done task, an organizer and an invoice there,
    and an open task left behind in the first stage (not a blocker once it moved)."""
    scope = scope_of(firm)
    avery = await client(firm)
    added = []
    for n in range(start, start + count):
        card = await jobs.create_job(scope, pipeline, avery.id, f"job {n}")
        await tasks.create_task(scope, card.id, "Left behind")
        await jobs.move_job(scope, card.id, stage)
        await tasks.create_task(scope, card.id, f"Open {n}")
        done = await tasks.create_task(scope, card.id, "Done")
        await tasks.set_task_done(scope, done.id, True)
        await documents.send_organizer(scope, card.id, f"Organizer {n}", ["Income?"])
        await documents.create_invoice(
            scope, card.id, "USD", [{"description": "1040", "quantity": 1, "unitPriceCents": 100}]
        )
        added.append(card)
    return added


async def _load(gql: GraphQL, counter: StatementCounter, firm: NewFirm) -> tuple[int, dict]:
    """Statements of one uncached board load (after a change), and its jobs' blockers."""
    await gql(BOARD)  # warm: the token's last-used time is written at most once a minute
    await clients.create_client(scope_of(firm), "Someone new")  # a change: the next load runs
    counter.statements.clear()
    data = await gql(BOARD)
    executed = len(counter.statements)
    stages = data["pipelines"]["edges"][0]["node"]["stages"]
    blockers = {
        e["node"]["title"]: e["node"]["autoMoveBlockers"]
        for s in stages
        for e in s["jobs"]["edges"]
    }
    return executed, blockers


async def test_blockers_of_50_jobs_cost_the_statements_of_one(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, stages = await board(firm_a)
    await _add_jobs(firm_a, pipeline.id, stages[1].id, 1)
    one, blockers = await _load(gql, sql_statements, firm_a)
    invoices = {}
    for card in await _add_jobs(firm_a, pipeline.id, stages[1].id, 49, 1):
        invoices[card.title] = (await card.invoices.all().first()).id  # type: ignore[union-attr]
    fifty, blockers = await _load(gql, sql_statements, firm_a)
    assert one == fifty == BOARD_STATEMENTS, sql_statements.statements
    assert len(blockers) == 50
    assert blockers["job 7"] == [
        "task 'Open 7'",
        "organizer 'Organizer 7'",
        f"invoice #{invoices['job 7']}",
    ]


async def test_blockers_are_answered_for_each_job_of_the_board(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """A job with nothing open, one whose items are all done, and one moved on: each its own."""
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    (busy,) = await _add_jobs(firm_a, pipeline.id, stages[1].id, 1)
    avery = await client(firm_a, "Blake")
    await jobs.create_job(scope, pipeline.id, avery.id, "idle")
    finished = await jobs.create_job(scope, pipeline.id, avery.id, "finished")
    task = await tasks.create_task(scope, finished.id, "All done")
    await tasks.set_task_done(scope, task.id, True)
    await jobs.move_job(scope, busy.id, stages[2].id)  # its open items stay in stages[1]
    await tasks.create_task(scope, busy.id, "Review")
    data = await gql(BOARD)
    found = {
        e["node"]["title"]: e["node"]["autoMoveBlockers"]
        for s in data["pipelines"]["edges"][0]["node"]["stages"]
        for e in s["jobs"]["edges"]
    }
    assert found == {"job 0": ["task 'Review'"], "idle": [], "finished": []}


def test_blockers_count_in_the_query_cost() -> None:
    """100 jobs asking for their blockers cost 100 short lists more than without them."""

    def cost(fields: str) -> int:
        document = parse(
            "{ pipelines(first: 1) { edges { node { stages { jobs(first: 100) "
            "{ edges { node { " + fields + " } } } } } } } }"
        )
        return analyze(schema._schema, document, None, None, frozenset(Permission)).cost

    stages_jobs = LIST_ESTIMATE * 100
    assert cost("title autoMoveBlockers") - cost("title") == stages_jobs * LIST_ESTIMATE
