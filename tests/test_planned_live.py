"""Live events rendered by the read-path plan (web.live.render_planned) are the very text the
executor renders: subscription documents over boardUpdated and jobUpdated, on real deliveries
read from the log (job created, moved, updated, archived, tasks and assignees, STAGE_CHANGED
with no job), on SQLite and PostgreSQL; and a covered render's statements do not grow with
the job's tasks and assignees."""

from __future__ import annotations

import json
import re
from typing import Any, cast

import pytest
from graphql import parse, validate
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from api import schema
from models import User, keys
from realtime.hub import FeedKey, read_log
from schema import planned
from schema.context import Context
from schema.events import BoardEventType
from schema.feed_cursors import FEED_CURSOR
from schema.loaders import Loaders
from schema.shared_events import SharedEventExecutor
from tests.conftest import StatementCounter
from tests.factories import board, client, gid, scope_of
from tests.test_planned_reads import Ids, Writer, _ids
from web.live import Share, render
from workflow import jobs, pipelines, tasks
from workflow.firms import NewFirm
from workflow.global_ids import decode_id

FANOUT = """subscription Board($p: ID!) { boardUpdated(pipelineId: $p) {
  cursor type stageId fromStageId occurredAt job { id title version rank stage { id } } } }"""
RICH = """subscription($p: ID!) { boardUpdated(pipelineId: $p) { __typename type pipelineId
  job { __typename id title status priority startDate dueDate tags customFields period
    stageEnteredAt stageDueAt createdAt updatedAt client { id name email tags }
    pipeline { id name eventCursor stages { id name } }
    stage { name position wipLimit jobs(first: 2) { totalCount edges { node { title } } } }
    assignees { id name email role isActive }
    tasks(first: 5) { totalCount pageInfo { hasNextPage endCursor }
      edges { cursor node { id title done doneAt assignee { name } job { title } } } } } } }"""
ALIASED = """subscription($p: ID!, $yes: Boolean!) { b: boardUpdated(pipelineId: $p) {
  ...E j2: job @include(if: $yes) { title } t2: type @skip(if: $yes) } }
  fragment E on BoardEvent { t: type job { ... on Job { id assignees { name } } } }"""
JOB = """subscription($j: ID!) { jobUpdated(jobId: $j) { type cursor
  job { title version status tasks { edges { node { title done } } } client { name } } } }"""
UNCOVERED = """subscription($p: ID!) { boardUpdated(pipelineId: $p) {
  type job { title isOverdue } } }"""
COVERED = [FANOUT, RICH, ALIASED, JOB]


def _share(firm: NewFirm, text: str, variables: dict[str, Any]) -> Share:
    document = parse(text)
    assert validate(schema._schema, document) == []  # noqa: SLF001
    context = Context(cast(Any, None), scope_of(firm), "test")
    built = SharedEventExecutor.build(
        schema._schema,  # noqa: SLF001
        document,
        context_value=context,
        raw_variable_values=variables,
    )
    assert not isinstance(built, list), built
    return Share(("test", text, str(variables)), built, context)


async def _render(share: Share, event: BoardEventType, plan: bool) -> tuple[str, list[str]]:
    answered: list[str] = []
    planning, record = planned.PLANNING.set(plan), planned.ANSWERED.set(answered)
    try:
        text = await render(share, event, Loaders(share.context.scope))
    finally:
        planned.PLANNING.reset(planning)
        planned.ANSWERED.reset(record)
    return text, answered


SEALED = re.compile(r'"([^"\\]{31,})"')


def _normalized(text: str) -> str:
    """Pipeline.eventCursor is sealed with a fresh nonce each time: shown by what it holds."""

    def opened(match: re.Match[str]) -> str:
        value = keys.unseal(match.group(1), FEED_CURSOR)
        return match.group(0) if value is None else f'"feed:{value!r}"'

    return SEALED.sub(opened, text)


async def _history(firm: NewFirm) -> tuple[int, int]:
    """A board whose log holds every kind of event a board shows; (pipeline, job) ids."""
    scope = scope_of(firm)
    pipeline, stages = await board(firm)
    staff = [
        await User.create(firm_id=firm.firm.id, name=f"Staff {n}", email=f"l{n}@x.test")
        for n in range(2)
    ]
    customer = await client(firm)
    card = await jobs.create_job(
        scope, pipeline.id, customer.id, "live", assignee_ids=[s.id for s in staff]
    )
    other = await jobs.create_job(scope, pipeline.id, customer.id, "other", tags=["vip"])
    task = await tasks.create_task(scope, card.id, "collect", assignee_id=staff[1].id)
    await tasks.create_task(scope, card.id, "file")
    await tasks.set_task_done(scope, task.id, True)
    await jobs.move_job(scope, card.id, stages[1].id)
    await jobs.update_job(scope, card.id, title="live, renamed")
    await pipelines.update_stage(scope, stages[2].id, name="Final review", wip_limit=3)
    await jobs.archive_job(scope, other.id)
    return pipeline.id, card.id


async def _events(kind: str, pk: int) -> list[BoardEventType]:
    key = FeedKey(kind, pk)
    return [BoardEventType.from_delivery(delivery, key) for delivery in await read_log(key, 0)]


async def test_planned_live_payloads_are_the_resolvers_text(db: str, firm_a: NewFirm) -> None:
    pipeline_id, job_id = await _history(firm_a)
    board_events = await _events("pipeline", pipeline_id)
    kinds = {str(event.type) for event in board_events}
    assert {"JOB_CREATED", "JOB_MOVED", "JOB_UPDATED", "JOB_ARCHIVED", "STAGE_CHANGED"} <= kinds
    assert any(event.job is None for event in board_events)
    job_events = await _events("job", job_id)
    for text in [*COVERED, UNCOVERED]:
        for yes in (True, False) if "$yes" in text else (None,):
            variables: dict[str, Any] = {"p": gid("Pipeline", pipeline_id)}
            if yes is not None:
                variables["yes"] = yes
            if "$j" in text:
                variables = {"j": gid("Job", job_id)}
            share = _share(firm_a, text, variables)
            for event in job_events if "$j" in text else board_events:
                resolvers, by_resolvers = await _render(share, event, plan=False)
                answer, by_plan = await _render(share, event, plan=True)
                assert by_resolvers == []
                assert by_plan == ["planned" if text in COVERED else "resolvers"], text
                assert '"errors"' not in resolvers, resolvers
                assert _normalized(answer) == _normalized(resolvers), (text, event.type)


async def test_the_job_is_the_row_the_delivery_read(db: str, firm_a: NewFirm) -> None:
    """Both ways show the job as the delivery read it, even once it has changed since: the
    plan does not read the job again, only its relations."""
    pipeline_id, job_id = await _history(firm_a)
    [created, *_] = await _events("job", job_id)
    await jobs.update_job(scope_of(firm_a), job_id, title="changed after the delivery")
    share = _share(firm_a, RICH, {"p": gid("Pipeline", pipeline_id)})
    resolvers, _ = await _render(share, created, plan=False)
    answer, by_plan = await _render(share, created, plan=True)
    assert by_plan == ["planned"]
    shown = json.loads(answer)["data"]["boardUpdated"]["job"]
    assert shown["title"] == "live, renamed"  # its tasks' `job` is read: the title now
    assert shown["tasks"]["edges"][0]["node"]["job"]["title"] == "changed after the delivery"
    assert _normalized(answer) == _normalized(resolvers)


@pytest.fixture
async def ids(db: str, firm_a: NewFirm, firm_b: NewFirm) -> Ids:
    """The read path's differential graph (two firms, archived job, tasks, assignees)."""
    return await _ids(firm_a, firm_b)


@pytest.mark.timeout(180)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(data=st.data())
async def test_drawn_job_selections_render_the_same_both_ways(
    firm_a: NewFirm, ids: Ids, data: st.DataObject
) -> None:
    """The read path's document writer draws the event's job selection."""
    writer = Writer(data.draw, ids)
    job = writer.selection("Job", 2)
    declared = "".join(f", ${name}: Boolean!" for name in sorted(writer.variables))
    text = (
        f"subscription S($p: ID!{declared}) {{ boardUpdated(pipelineId: $p) {{ type cursor "
        f"{writer.key('job')} {{ {job} }} }} }} {' '.join(writer.fragments)}"
    )
    note(text)
    pipeline = decode_id(ids.pipelines[0], "Pipeline", "id")
    variables: dict[str, Any] = {"p": gid("Pipeline", pipeline)}
    variables.update({name: name == "yes" for name in writer.variables})
    share = _share(firm_a, text, variables)
    for event in await _events("pipeline", pipeline):
        resolvers, _ = await _render(share, event, plan=False)
        answer, by_plan = await _render(share, event, plan=True)
        assert '"errors"' not in resolvers, resolvers
        assert by_plan == ["planned"], text
        assert _normalized(answer) == _normalized(resolvers), text


TASKS_AND_PEOPLE = """subscription($j: ID!) { jobUpdated(jobId: $j) { type job { title
  client { name } stage { name } assignees { name }
  tasks(first: 50) { totalCount edges { node { title assignee { name } } } } } } }"""
# client, stage, assignees, tasks page, tasks count, task assignees
LIVE_STATEMENTS = 6


async def test_a_planned_render_costs_fixed_statements(
    db: str, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    scope = scope_of(firm_a)
    pipeline, _ = await board(firm_a)
    customer = await client(firm_a)
    counts = []
    for size in (1, 20):
        staff = [
            await User.create(firm_id=firm_a.firm.id, name=f"P{size}-{n}", email=f"p{size}{n}@x.t")
            for n in range(size)
        ]
        card = await jobs.create_job(
            scope, pipeline.id, customer.id, f"{size}", assignee_ids=[s.id for s in staff]
        )
        for n in range(size):
            await tasks.create_task(scope, card.id, f"t{n}", assignee_id=staff[n].id)
        [*_, event] = await _events("job", card.id)
        share = _share(firm_a, TASKS_AND_PEOPLE, {"j": gid("Job", card.id)})
        sql_statements.statements.clear()
        answer, by_plan = await _render(share, event, plan=True)
        assert by_plan == ["planned"]
        counts.append(len(sql_statements.statements))
        assert answer.count('"title":"t') == size
        resolvers, _ = await _render(share, event, plan=False)
        assert answer == resolvers
    assert counts == [LIVE_STATEMENTS, LIVE_STATEMENTS], sql_statements.statements
