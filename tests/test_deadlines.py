"""Deadlines (workflow.deadlines, announced by automations.scheduler), with the clock held by
the test (workflow.clock): Job.stageDueAt and Job.isOverdue, JobFilter.overdue, and one
JOB_OVERDUE event per crossing of a stage limit or a due date, whatever the moves, the
rescheduling and the number of schedulers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from automations import scheduler
from models import EventType, Job, JobEvent, JobStatus, Stage, WebhookDelivery, sql
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, scope_of
from tests.receiver import Receiver
from webhooks import sender
from webhooks.transport import new_client
from workflow import clock, deadlines, jobs, pipelines, webhooks
from workflow.firms import NewFirm
from workflow.unit import change

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)

JOB = """query($id: ID!) { job(id: $id) { stageEnteredAt stageDueAt isOverdue dueDate } }"""
OVERDUE = """query($overdue: Boolean) { jobs(filter: {overdue: $overdue}, first: 100) {
  edges { node { title isOverdue } } } }"""
OVERDUE_LITERAL = """{ jobs(filter: {overdue: true}, first: 100) { edges { node { title } } } }"""


async def _limited_board(firm: NewFirm, days: tuple[int | None, ...] = (3, 5, None)) -> list[Stage]:
    _, stages = await board(firm, name=f"1040 {days}")
    for stage, limit in zip(stages, days, strict=True):
        if limit is not None:
            await pipelines.update_stage(scope_of(firm), stage.id, time_limit_days=limit)
    return list(await Stage.filter(id__in=[s.id for s in stages]).order_by("position"))


async def _job(firm: NewFirm, stages: list[Stage], title: str = "2025 return", **kw: Any) -> Job:
    customer = await client(firm, f"Client of {title}")
    pipeline, stage = stages[0].pipeline_id, stages[0].id
    return await jobs.create_job(scope_of(firm), pipeline, customer.id, title, stage_id=stage, **kw)


async def _overdue_events(job_id: int | None = None) -> list[dict[str, Any]]:
    events = JobEvent.filter(type=EventType.JOB_OVERDUE).order_by("id")
    if job_id is not None:
        events = events.filter(job_id=job_id)
    return [event.changes for event in await events]


async def _passes(*steps: timedelta) -> list[int]:
    """Move the clock by each step, then let the scheduler do what is due: events at each."""
    announced = []
    for step in steps:
        clock.advance(step)
        announced.append(await scheduler.run_due())
    return announced


def _stage(at: datetime) -> dict[str, Any]:
    return {"deadline": "STAGE_LIMIT", "dueAt": at.isoformat()}


def _due(day: date) -> dict[str, Any]:
    return {"deadline": "DUE_DATE", "dueAt": deadlines.due_date_passes(day).isoformat()}  # type: ignore[union-attr]


async def test_stage_due_at_and_is_overdue_follow_the_stage_limit(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    stages = await _limited_board(firm_a)
    with clock.frozen(T0):
        card = await _job(firm_a, stages)
        data = (await gql(JOB, id=gid("Job", card.id)))["job"]
        assert datetime.fromisoformat(data["stageEnteredAt"]) == T0
        assert datetime.fromisoformat(data["stageDueAt"]) == T0 + 3 * DAY
        assert data["isOverdue"] is False
        clock.advance(3 * DAY - SECOND)
        assert (await gql(JOB, id=gid("Job", card.id)))["job"]["isOverdue"] is False
        clock.advance(SECOND)  # reached: overdue (the cache does not answer with the old one)
        assert (await gql(JOB, id=gid("Job", card.id)))["job"]["isOverdue"] is True
        # a stage without a limit: no stageDueAt, not overdue
        await jobs.move_job(scope_of(firm_a), card.id, stages[2].id)
        data = (await gql(JOB, id=gid("Job", card.id)))["job"]
        assert (data["stageDueAt"], data["isOverdue"]) == (None, False)


async def test_the_stage_limit_is_announced_once_and_a_move_arms_it_again(
    firm_a: NewFirm,
) -> None:
    stages = await _limited_board(firm_a)
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        card = await _job(firm_a, stages)
        assert await _passes(timedelta(0), 3 * DAY - SECOND, SECOND, timedelta(0), 30 * DAY) == [
            0, 0, 1, 0, 0,
        ]  # fmt: skip
        assert await _overdue_events(card.id) == [_stage(T0 + 3 * DAY)]
        # entering another stage: its own limit, counted from the entry, announced once
        entered = clock.now()
        await jobs.move_job(scope, card.id, stages[1].id)
        assert (await Job.get(id=card.id)).stage_due_at == entered + 5 * DAY
        assert await _passes(5 * DAY - SECOND, SECOND, DAY) == [0, 1, 0]
        # and back into the first stage: a new entry, a new crossing
        entered = clock.now()
        await jobs.move_job(scope, card.id, stages[0].id)
        assert await _passes(3 * DAY, 3 * DAY) == [1, 0]
    assert await _overdue_events(card.id) == [
        _stage(T0 + 3 * DAY),
        _stage(T0 + 33 * DAY + 5 * DAY),
        _stage(entered + 3 * DAY),
    ]
    [event] = await JobEvent.filter(job_id=card.id, type=EventType.JOB_OVERDUE).limit(1)
    assert (event.actor_id, event.job_version) == (None, 1)  # the system; no new version


async def test_a_due_date_passes_at_the_end_of_its_day_once_per_due_date(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    stages = await _limited_board(firm_a, (None, None, None))
    scope = scope_of(firm_a)
    due = T0.date() + timedelta(days=2)  # passes at midnight UTC after that day
    with clock.frozen(T0):
        card = await _job(firm_a, stages, due_date=due)
        end_of_due = datetime(2026, 3, 5, tzinfo=UTC)
        assert (await Job.get(id=card.id)).overdue_check_at == end_of_due
        assert await _passes(end_of_due - T0 - SECOND) == [0]
        assert (await gql(JOB, id=gid("Job", card.id)))["job"]["isOverdue"] is False
        assert await _passes(SECOND, DAY) == [1, 0]
        assert (await gql(JOB, id=gid("Job", card.id)))["job"]["isOverdue"] is True
        # moving the job does not announce its due date again
        await jobs.move_job(scope, card.id, stages[1].id)
        assert await _passes(DAY) == [0]
        # a due date moved but still past stays announced
        await jobs.update_job(scope, card.id, due_date=due - timedelta(days=1))
        assert await _passes(DAY) == [0]
        # a later due date is a new crossing, at its end
        later = clock.now().date() + timedelta(days=3)
        await jobs.update_job(scope, card.id, due_date=later)
        assert (await gql(JOB, id=gid("Job", card.id)))["job"]["isOverdue"] is False
        assert await _passes(2 * DAY, DAY, DAY) == [0, 0, 1]
    assert await _overdue_events(card.id) == [_due(due), _due(later)]


async def test_changing_the_due_date_reschedules_its_announcement(firm_a: NewFirm) -> None:
    stages = await _limited_board(firm_a, (None, None, None))
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        earlier = await _job(firm_a, stages, "earlier", due_date=date(2026, 3, 10))
        cleared = await _job(firm_a, stages, "cleared", due_date=date(2026, 3, 3))
        later = await _job(firm_a, stages, "later", due_date=date(2026, 3, 3))
        await jobs.update_job(scope, earlier.id, due_date=date(2026, 3, 2))
        await jobs.update_job(scope, cleared.id, due_date=None)
        await jobs.update_job(scope, later.id, due_date=date(2026, 3, 20))
        assert (await Job.get(id=cleared.id)).overdue_check_at is None
        assert await _passes(DAY) == [1]  # 3 March, 09:00
        assert await _passes(DAY, 20 * DAY) == [0, 1]
    assert await _overdue_events(earlier.id) == [_due(date(2026, 3, 2))]
    assert await _overdue_events(cleared.id) == []
    assert await _overdue_events(later.id) == [_due(date(2026, 3, 20))]


async def test_changing_a_stage_limit_reschedules_its_jobs(firm_a: NewFirm) -> None:
    stages = await _limited_board(firm_a)
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        first = await _job(firm_a, stages, "first")
        clock.advance(DAY)
        second = await _job(firm_a, stages, "second")
        await pipelines.update_stage(scope, stages[0].id, time_limit_days=10)
        due = {j.id: j.stage_due_at for j in await Job.filter(stage_id=stages[0].id)}
        assert due == {first.id: T0 + 10 * DAY, second.id: T0 + 11 * DAY}
        assert await _passes(3 * DAY) == [0]  # the old limit passes quietly
        await pipelines.update_stage(scope, stages[0].id, time_limit_days=2)  # now past: due
        assert await _passes(timedelta(0)) == [2]
        # longer again, into the future: armed again, a new crossing when it passes
        await pipelines.update_stage(scope, stages[0].id, time_limit_days=6)
        assert await _passes(DAY, DAY, DAY) == [0, 1, 1]
        # cleared: nothing left to announce
        await pipelines.update_stage(scope, stages[0].id, time_limit_days=None)
        assert {j.stage_due_at for j in await Job.filter(stage_id=stages[0].id)} == {None}
        assert await _passes(30 * DAY) == [0]
    assert await _overdue_events(first.id) == [_stage(T0 + 2 * DAY), _stage(T0 + 6 * DAY)]


async def test_completed_and_archived_jobs_stay_quiet(gql: GraphQL, firm_a: NewFirm) -> None:
    stages = await _limited_board(firm_a)
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        archived = await _job(firm_a, stages, "archived", due_date=T0.date())
        completed = await _job(firm_a, stages, "completed", due_date=T0.date())
        await jobs.archive_job(scope, archived.id)
        await jobs.update_job(scope, completed.id, status=JobStatus.COMPLETED)
        assert await _passes(10 * DAY) == [0]
        data = (await gql(JOB, id=gid("Job", archived.id)))["job"]
        assert data["isOverdue"] is False
        # made active again past deadlines never announced: announced then
        await jobs.update_job(scope, completed.id, status=JobStatus.ACTIVE)
        assert await _passes(timedelta(0)) == [2]
    assert await _overdue_events(archived.id) == []
    assert {c["deadline"] for c in await _overdue_events(completed.id)} == {
        "STAGE_LIMIT",
        "DUE_DATE",
    }


async def test_the_overdue_filter_matches_is_overdue_and_stays_in_its_firm(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    stages = await _limited_board(firm_a, (3, None, None))
    stages_b = await _limited_board(firm_b, (1, None, None))
    with clock.frozen(T0):
        await _job(firm_a, stages, "stage limit")
        await _job(firm_a, stages[1:], "due date", due_date=T0.date() + DAY)
        await _job(firm_a, stages[1:], "no deadline")
        await _job(firm_a, stages[1:], "far", due_date=T0.date() + 30 * DAY)
        await _job(firm_b, stages_b, "firm b")

        async def titles(run: GraphQL, overdue: bool | None) -> dict[str, bool]:
            edges = (await run(OVERDUE, overdue=overdue))["jobs"]["edges"]
            return {e["node"]["title"]: e["node"]["isOverdue"] for e in edges}

        assert await titles(gql, True) == {}
        assert set(await titles(gql, False)) == {"stage limit", "due date", "no deadline", "far"}
        clock.advance(2 * DAY)  # firm B's limit and firm A's due date have passed
        assert await titles(gql, True) == {"due date": True}
        assert (await gql(OVERDUE_LITERAL))["jobs"]["edges"] == [{"node": {"title": "due date"}}]
        clock.advance(DAY)
        assert await titles(gql, True) == {"stage limit": True, "due date": True}
        assert await titles(gql, False) == {"no deadline": False, "far": False}
        assert await titles(gql, None) == {
            "stage limit": True, "due date": True, "no deadline": False, "far": False,
        }  # fmt: skip
        assert await titles(gql_b, True) == {"firm b": True}


async def test_each_crossing_is_announced_once_by_concurrent_schedulers(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    """On SQLite the schedulers take turns; on PostgreSQL they claim jobs from each other."""
    cards = []
    with clock.frozen(T0):
        for firm in (firm_a, firm_b):
            stages = await _limited_board(firm, (2, None, None))
            for n in range(12):
                cards.append(await _job(firm, stages, f"job {n}", due_date=T0.date()))
        clock.advance(3 * DAY)
        announced = await asyncio.gather(*(deadlines.announce_due_deadlines() for _ in range(4)))
        assert sum(announced) == 2 * len(cards), announced
        assert await _passes(timedelta(0), DAY) == [0, 0]
    events = await JobEvent.filter(type=EventType.JOB_OVERDUE)
    assert sorted((e.job_id, e.changes["deadline"]) for e in events) == sorted(
        (card.id, kind) for card in cards for kind in ("STAGE_LIMIT", "DUE_DATE")
    )
    assert await Job.filter(overdue_check_at__isnull=False).count() == 0


async def test_a_webhook_receives_job_overdue(firm_a: NewFirm) -> None:
    stages = await _limited_board(firm_a, (None, None, None))
    with Receiver() as receiver, clock.frozen(T0):
        await webhooks.create_endpoint(scope_of(firm_a), receiver.url, ["JOB_OVERDUE"])
        card = await _job(firm_a, stages, due_date=T0.date())
        assert await _passes(DAY) == [1]
        async with new_client(sender.TIMEOUT) as http_client:
            while await sender.send_due(http_client, (0,)):
                pass
        [delivery] = await WebhookDelivery.all()
        assert delivery.event_type == "JOB_OVERDUE"
        [message] = receiver.messages()
    event = message.event
    assert event["type"] == "JOB_OVERDUE"
    assert event["data"]["job"]["id"] == gid("Job", card.id)
    assert event["data"]["changes"] == _due(T0.date())
    assert event["data"]["job"]["stageDueAt"] is None  # no stage limit on this board


async def test_a_tick_reads_only_what_is_due(
    firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    """A pass costs one read when nothing is due, however many jobs wait; and a fixed number
    of statements per due job."""
    stages = await _limited_board(firm_a, (None, None, None))
    with clock.frozen(T0):
        for n in range(30):
            await _job(firm_a, stages, f"later {n}", due_date=T0.date() + 30 * DAY)
        for n in range(5):
            await _job(firm_a, stages, f"soon {n}", due_date=T0.date())
        clock.advance(DAY)
        sql_statements.statements.clear()
        assert await deadlines.announce_due_deadlines() == 5
        per_job = (len(sql_statements.statements) - 2) / 5  # two reads: the round and the next
        sql_statements.statements.clear()
        assert await deadlines.announce_due_deadlines() == 0
        assert len(sql_statements.statements) == 1
    print(f"statements per announced job: {per_job}")
    assert per_job <= 12


@pytest.mark.postgres_only
async def test_an_announcement_waits_for_a_change_of_the_job_under_way(
    firm_a: NewFirm,
) -> None:
    """A due date moved later in a change that commits while the scheduler waits for the job:
    the scheduler then sees the new date, and announces nothing."""
    stages = await _limited_board(firm_a, (None, None, None))
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        card = await _job(firm_a, stages, due_date=T0.date())
        clock.advance(DAY)
        locked, release = asyncio.Event(), asyncio.Event()

        async def postpone() -> None:
            async with change(scope) as unit:
                held = await unit.lock_job(card.id)
                locked.set()
                await release.wait()
                held.due_date = T0.date() + 10 * DAY
                deadlines.reschedule(held, clock.now())
                await held.save(update_fields=["due_date", *deadlines.FIELDS])

        task = asyncio.create_task(postpone())
        await locked.wait()
        announcing = asyncio.create_task(deadlines.announce_due_deadlines())
        deadline = time.monotonic() + 10
        while not await sql.fetch('SELECT 1 FROM "pg_locks" WHERE NOT "granted"', []):
            assert time.monotonic() < deadline, "the scheduler never waited for the job"
            await asyncio.sleep(0.01)
        release.set()
        await task
        assert await announcing == 0
    assert await _overdue_events(card.id) == []
