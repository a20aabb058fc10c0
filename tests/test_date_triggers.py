"""Date-triggered automations: runs dated in the future, fired by the runner once the clock
(held by the test, workflow.clock) reaches them; skipped when the job leaves the stage or is
archived, moved with its due date, their conditions checked when they fire."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from automations import manage, runner
from models import (
    ActionType,
    Automation,
    AutomationRun,
    AutomationTrigger,
    Job,
    Pipeline,
    RunStatus,
    Stage,
    Task,
)
from tests.conftest import GraphQL
from tests.factories import board, client, gid, scope_of
from workflow import clock, jobs
from workflow.firms import NewFirm
from workflow.stage_entry import ALREADY_RAN, ARCHIVED, DUE_CLEARED, DUE_MOVED, LEFT_STAGE

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
DUE = date(2026, 3, 10)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def dated(
    firm: NewFirm,
    stage: Stage,
    trigger: AutomationTrigger,
    days: int | None = None,
    conditions: dict[str, Any] | None = None,
) -> Automation:
    return await manage.create_automation(
        scope_of(firm),
        stage.id,
        ActionType.CREATE_TASK,
        {"title": "Chase the client"},
        conditions=conditions,
        trigger=trigger,
        trigger_days=days,
    )


async def new_job(
    firm: NewFirm, pipeline: Pipeline, due: date | None = DUE, tags: list[str] | None = None
) -> Job:
    return await jobs.create_job(
        scope_of(firm),
        pipeline.id,
        (await client(firm)).id,
        "2025 return",
        due_date=due,
        tags=tags,
    )


async def runs(card: Job) -> list[AutomationRun]:
    return list(await AutomationRun.filter(job_id=card.id).order_by("id"))


async def tasks(card: Job) -> int:
    return await Task.filter(job_id=card.id).count()


def at(moment: datetime) -> datetime:
    """Move the frozen clock forward to `moment`."""
    return clock.advance(moment - clock.now())


@pytest.mark.parametrize(
    ("trigger", "days", "fires"),
    [
        (AutomationTrigger.DAYS_IN_STAGE, 3, T0 + 3 * DAY),
        (AutomationTrigger.DAYS_BEFORE_DUE, 2, midnight(DUE) - 2 * DAY),
        (AutomationTrigger.ON_DUE_DATE, None, midnight(DUE)),
        (AutomationTrigger.DAYS_AFTER_DUE, 1, midnight(DUE) + DAY),
    ],
)
async def test_each_trigger_fires_once_at_its_moment(
    gql: GraphQL,
    firm_a: NewFirm,
    trigger: AutomationTrigger,
    days: int | None,
    fires: datetime,
) -> None:
    pipeline, stages = await board(firm_a)
    await dated(firm_a, stages[1], trigger, days)
    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline)
        await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
        (run,) = await runs(card)
        assert run.status == RunStatus.PENDING and run.run_after == fires
        assert await runner.run_due() == 0  # not yet
        at(fires - SECOND)
        assert await runner.run_due() == 0
        clock.advance(SECOND)
        assert await runner.run_due() == 1
        clock.advance(60 * DAY)
        assert await runner.run_due() == 0  # once
    data = await gql(
        """query($id: ID!) { job(id: $id) { automationRuns { edges { node { status runAfter
        } } } } }""",
        id=gid("Job", card.id),
    )
    (edge,) = data["job"]["automationRuns"]["edges"]
    assert edge["node"]["status"] == "SUCCEEDED"
    assert datetime.fromisoformat(edge["node"]["runAfter"]) == fires
    assert await tasks(card) == 1


async def test_leaving_the_stage_or_archiving_cancels_the_run(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_IN_STAGE, 3)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_AFTER_DUE, 1)
    other, _ = await board(firm_a, name="Payroll")
    with clock.frozen(T0):
        moved, archived, transferred = [await new_job(firm_a, pipeline) for _ in range(3)]
        for card in (moved, archived, transferred):
            await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
        clock.advance(DAY)
        await jobs.move_job(scope_of(firm_a), moved.id, stages[2].id)
        await jobs.archive_job(scope_of(firm_a), archived.id)
        await jobs.transfer_job(scope_of(firm_a), transferred.id, other.id)
        for card, reason in ((moved, LEFT_STAGE), (archived, ARCHIVED), (transferred, LEFT_STAGE)):
            assert [(r.status, r.error, r.finished_at) for r in await runs(card)] == [
                (RunStatus.SKIPPED, reason, T0 + DAY)
            ] * 2  # in the change that moved or archived it
        clock.advance(60 * DAY)
        assert await runner.run_due() == 0
    assert await tasks(moved) + await tasks(archived) + await tasks(transferred) == 0


async def test_reentering_the_stage_schedules_anew(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_IN_STAGE, 3)
    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline)
        await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
        clock.advance(DAY)
        await jobs.move_job(scope_of(firm_a), card.id, stages[2].id)
        clock.advance(DAY)
        await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
        first, second = await runs(card)
        assert first.status == RunStatus.SKIPPED
        assert (second.status, second.run_after) == (RunStatus.PENDING, T0 + 5 * DAY)
        at(T0 + 3 * DAY)  # the first entry's moment
        assert await runner.run_due() == 0
        at(T0 + 5 * DAY)
        assert await runner.run_due() == 1
    assert await tasks(card) == 1


async def test_a_moved_due_date_reschedules_and_each_date_fires_once(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_BEFORE_DUE, 2)
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline)
        await jobs.move_job(scope, card.id, stages[1].id)
        await jobs.update_job(scope, card.id, due_date=date(2026, 3, 20))
        (run,) = await runs(card)  # the same run, moved
        assert (run.run_after, run.due_date) == (midnight(date(2026, 3, 18)), date(2026, 3, 20))
        at(midnight(DUE) - 2 * DAY)  # the first due date's moment passes
        assert await runner.run_due() == 0
        at(midnight(date(2026, 3, 18)))
        assert await runner.run_due() == 1
        # moved after it fired: a new date, a new run
        await jobs.update_job(scope, card.id, due_date=date(2026, 3, 30))
        assert [(r.status, r.due_date) for r in await runs(card)] == [
            (RunStatus.SUCCEEDED, date(2026, 3, 20)),
            (RunStatus.PENDING, date(2026, 3, 30)),
        ]
        # back to the date it already ran for: none again
        await jobs.update_job(scope, card.id, due_date=date(2026, 3, 20))
        assert [(r.status, r.error) for r in await runs(card)][1] == (
            RunStatus.SKIPPED,
            ALREADY_RAN,
        )
        clock.advance(60 * DAY)
        assert await runner.run_due() == 0
    assert await tasks(card) == 1


async def test_a_cleared_due_date_skips_and_a_due_date_set_schedules(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await dated(firm_a, stages[1], AutomationTrigger.ON_DUE_DATE)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_IN_STAGE, 1)  # not due-relative
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline, due=None)
        await jobs.move_job(scope, card.id, stages[1].id)
        assert [r.trigger for r in await runs(card)] == [AutomationTrigger.DAYS_IN_STAGE]
        await jobs.update_job(scope, card.id, due_date=DUE)  # the entry's run, recorded now
        on_due = (await runs(card))[1]
        assert (on_due.run_after, on_due.status) == (midnight(DUE), RunStatus.PENDING)
        assert on_due.entry_id == (await runs(card))[0].entry_id
        await jobs.update_job(scope, card.id, due_date=None)
        await on_due.refresh_from_db()
        assert (on_due.status, on_due.error) == (RunStatus.SKIPPED, DUE_CLEARED)
        assert (await runs(card))[0].status == RunStatus.PENDING  # the other stays
        await jobs.update_job(scope, card.id, due_date=DUE)  # the same date again: it never ran
        assert (await runs(card))[-1].run_after == midnight(DUE)
        await jobs.update_job(scope, card.id, due_date=date(2026, 4, 1))  # the same run, moved
        assert (await runs(card))[-1].run_after == midnight(date(2026, 4, 1))
        clock.advance(90 * DAY)
        assert await runner.run_due() == 2
    assert await tasks(card) == 2


async def test_a_date_already_past_fires_at_once(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_BEFORE_DUE, 30)
    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline)
        await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
        assert await runner.run_due() == 1
    assert await tasks(card) == 1


async def test_conditions_and_the_automation_are_checked_when_it_fires(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    ready = await dated(
        firm_a, stages[1], AutomationTrigger.DAYS_IN_STAGE, 2, conditions={"jobTagsAll": ["ready"]}
    )
    scope = scope_of(firm_a)
    with clock.frozen(T0):
        tagged_later, never_tagged = (
            await new_job(firm_a, pipeline),
            await new_job(firm_a, pipeline),
        )
        for card in (tagged_later, never_tagged):
            await jobs.move_job(scope, card.id, stages[1].id)
            assert [r.status for r in await runs(card)] == [RunStatus.PENDING]  # not at entry
        await jobs.update_job(scope, tagged_later.id, tags=["ready"])
        clock.advance(2 * DAY)
        assert await runner.run_due() == 2
        assert [r.status for r in await runs(tagged_later)] == [RunStatus.SUCCEEDED]
        (skipped,) = await runs(never_tagged)
        assert skipped.status == RunStatus.SKIPPED
        assert skipped.error == "conditions not met: the job lacks tags ['ready']"

        # disabled, then deleted, before its date
        await manage.update_automation(scope, ready.id, conditions={})
        disabled = await new_job(firm_a, pipeline)
        await jobs.move_job(scope, disabled.id, stages[1].id)
        await manage.update_automation(scope, ready.id, enabled=False)
        clock.advance(2 * DAY)
        assert await runner.run_due() == 1
        await manage.update_automation(scope, ready.id, enabled=True)
        deleted = await new_job(firm_a, pipeline)
        await jobs.move_job(scope, deleted.id, stages[1].id)
        await manage.delete_automation(scope, ready.id)
        clock.advance(2 * DAY)
        assert await runner.run_due() == 1
    assert (await runs(disabled))[0].error == "the automation was disabled before this ran"
    assert (await runs(deleted))[-1].error == "the automation was deleted before this ran"
    assert await tasks(disabled) + await tasks(deleted) == 0


CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { trigger triggerDays } errors { code field } } }"""
UPDATE = """mutation($input: UpdateAutomationInput!) { updateAutomation(input: $input) {
  automation { trigger triggerDays } errors { code field } } }"""


@pytest.mark.parametrize(
    ("trigger", "days"),
    [
        ("DAYS_IN_STAGE", None),
        ("DAYS_IN_STAGE", 0),
        ("DAYS_BEFORE_DUE", -1),
        ("DAYS_AFTER_DUE", manage.MAX_TRIGGER_DAYS + 1),
        ("STAGE_ENTRY", 5),
        ("ON_DUE_DATE", 1),
    ],
)
async def test_bad_trigger_days_are_refused_and_nothing_is_written(
    gql: GraphQL, firm_a: NewFirm, trigger: str, days: int | None
) -> None:
    _, stages = await board(firm_a)
    stage = gid("Stage", stages[1].id)
    bad = {"stageId": stage, "action": "ARCHIVE_JOB", "trigger": trigger, "triggerDays": days}
    data = await gql(CREATE, input=bad)
    assert data["createAutomation"] == {
        "automation": None,
        "errors": [{"code": "INVALID_INPUT", "field": "triggerDays"}],
    }
    assert await Automation.all().count() == 0

    good = await gql(CREATE, input={"stageId": stage, "action": "ARCHIVE_JOB"})
    assert good["createAutomation"]["automation"] == {"trigger": "STAGE_ENTRY", "triggerDays": None}
    (automation,) = await Automation.all()
    data = await gql(
        UPDATE,
        input={"id": gid("Automation", automation.id), "trigger": trigger, "triggerDays": days},
    )
    assert data["updateAutomation"]["errors"] == [{"code": "INVALID_INPUT", "field": "triggerDays"}]
    await automation.refresh_from_db()
    assert (automation.trigger, automation.trigger_days) == (AutomationTrigger.STAGE_ENTRY, None)


async def test_trigger_changes_and_another_firms_automation(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm
) -> None:
    _, stages = await board(firm_a)
    data = await gql(
        CREATE,
        input={
            "stageId": gid("Stage", stages[1].id),
            "action": "ARCHIVE_JOB",
            "trigger": "DAYS_IN_STAGE",
            "triggerDays": 7,
        },
    )
    assert data["createAutomation"]["automation"] == {"trigger": "DAYS_IN_STAGE", "triggerDays": 7}
    (automation,) = await Automation.all()
    own = gid("Automation", automation.id)
    steps = [
        ({"trigger": "DAYS_AFTER_DUE"}, {"trigger": "DAYS_AFTER_DUE", "triggerDays": 7}),
        ({"triggerDays": 2}, {"trigger": "DAYS_AFTER_DUE", "triggerDays": 2}),
        ({"trigger": "ON_DUE_DATE"}, {"trigger": "ON_DUE_DATE", "triggerDays": None}),
        (
            {"trigger": "STAGE_ENTRY", "triggerDays": 0},
            {"trigger": "STAGE_ENTRY", "triggerDays": None},
        ),
    ]
    for change, expected in steps:
        data = await gql(UPDATE, input={"id": own, **change})
        assert data["updateAutomation"] == {"automation": expected, "errors": []}
    missing = gid("Automation", automation.id + 1000)
    answers = [
        await gql_b(UPDATE, input={"id": ident, "trigger": "DAYS_IN_STAGE", "triggerDays": 1})
        for ident in (own, missing)
    ]
    assert answers[0] == answers[1]
    assert answers[0]["updateAutomation"]["errors"] == [{"code": "NOT_FOUND", "field": "id"}]
    await automation.refresh_from_db()
    assert automation.trigger == AutomationTrigger.STAGE_ENTRY


async def test_a_dated_run_that_moves_or_archives_the_job_succeeds(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    await manage.create_automation(
        scope,
        stages[1].id,
        ActionType.MOVE_JOB,
        {"stageId": stages[2].id},
        trigger=AutomationTrigger.DAYS_IN_STAGE,
        trigger_days=1,
    )
    await manage.create_automation(
        scope, stages[2].id, ActionType.ARCHIVE_JOB, {}, trigger=AutomationTrigger.ON_DUE_DATE
    )
    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline)
        await jobs.move_job(scope, card.id, stages[1].id)
        at(T0 + DAY)
        assert await runner.run_due() == 1
        await card.refresh_from_db()
        assert card.stage_id == stages[2].id and card.stage_entered_at == T0 + DAY
        at(midnight(DUE))
        assert await runner.run_due() == 1
    assert [r.status for r in await runs(card)] == [RunStatus.SUCCEEDED] * 2
    await card.refresh_from_db()
    assert card.status == "ARCHIVED"


@pytest.mark.postgres_only
async def test_a_run_a_runner_holds_blocks_neither_a_move_nor_a_due_date(firm_a: NewFirm) -> None:
    """A runner locks the run, then the job: a change that holds the job passes over the run
    (waiting for it would deadlock), and the runner skips it once it has the job."""
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    await dated(firm_a, stages[1], AutomationTrigger.DAYS_IN_STAGE, 1)
    await dated(firm_a, stages[2], AutomationTrigger.DAYS_BEFORE_DUE, 1)

    async def holding(run: AutomationRun, held: asyncio.Event, release: asyncio.Event) -> None:
        async with in_transaction():
            await AutomationRun.filter(id=run.id).select_for_update().first()
            held.set()
            await release.wait()

    async def while_held(run: AutomationRun, change: Any) -> None:
        held, release = asyncio.Event(), asyncio.Event()
        holder = asyncio.create_task(holding(run, held, release))
        await held.wait()
        try:
            await asyncio.wait_for(change, 20)  # a guard: it returns at once
        finally:
            release.set()
            await holder

    with clock.frozen(T0):
        card = await new_job(firm_a, pipeline)
        await jobs.move_job(scope, card.id, stages[1].id)
        clock.advance(DAY)
        (in_stage,) = await runs(card)
        await while_held(in_stage, jobs.move_job(scope, card.id, stages[2].id))
        await in_stage.refresh_from_db()
        assert in_stage.status == RunStatus.PENDING  # left to the runner that held it
        _, before_due = await runs(card)
        at(midnight(DUE) - DAY)
        await while_held(before_due, jobs.update_job(scope, card.id, due_date=date(2026, 4, 1)))
        assert await runner.run_due() == 2  # the two held runs, skipped
        for run, reason in ((in_stage, LEFT_STAGE), (before_due, DUE_MOVED)):
            await run.refresh_from_db()
            assert (run.status, run.error) == (RunStatus.SKIPPED, reason)
        (moved,) = await AutomationRun.filter(job_id=card.id, status=RunStatus.PENDING)
        assert moved.run_after == midnight(date(2026, 3, 31))
        at(midnight(date(2026, 3, 31)))
        assert await runner.run_due() == 1
    assert await tasks(card) == 1
