"""Fairness between firms for automation runs: one firm's backlog of due runs does not queue
another firm's runs behind it (round robin by firm), on both backends."""

from __future__ import annotations

import asyncio

import pytest

from automations import manage, runner
from models import ActionType, AutomationRun, JobEvent, RunStatus
from tests.factories import board, client, job, scope_of
from workflow import unit
from workflow.firms import NewFirm, create_firm


@pytest.fixture
async def firm_c(db: str) -> NewFirm:
    return await create_firm("Firm C", "owner@c.test", "Cleo Owner")


async def _runs(firm: NewFirm, count: int) -> list[AutomationRun]:
    """`count` due CREATE_TASK runs of the firm, oldest first: one real stage entry's run and
    copies of it."""
    pipeline, stages = await board(firm)
    await manage.create_automation(
        scope_of(firm), stages[0].id, ActionType.CREATE_TASK, {"title": "Collect documents"}
    )
    await job(firm, pipeline, await client(firm))
    [first] = await AutomationRun.filter(firm_id=firm.firm.id)
    await AutomationRun.bulk_create(
        [
            AutomationRun(
                firm_id=first.firm_id,
                automation_id=first.automation_id,
                job_id=first.job_id,
                entry_id=first.entry_id,
                stage_id=first.stage_id,
                action=first.action,
                settings=first.settings,
                run_after=first.run_after,
            )
            for _ in range(count - 1)
        ]
    )
    return list(await AutomationRun.filter(firm_id=firm.firm.id).order_by("id"))


async def _status(run: AutomationRun) -> RunStatus:
    return (await AutomationRun.get(id=run.id)).status


async def test_a_firms_run_is_not_queued_behind_another_firms_backlog(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    flood = await _runs(firm_a, 100)
    [mine] = await _runs(firm_b, 1)
    assert await runner.run_due(limit=2) == 2
    assert await _status(mine) == RunStatus.SUCCEEDED  # first or second, not 101st
    assert [await _status(run) for run in flood[:2]] == [RunStatus.SUCCEEDED, RunStatus.PENDING]


async def test_runs_are_taken_round_robin_between_firms_across_calls(
    firm_a: NewFirm, firm_b: NewFirm, firm_c: NewFirm
) -> None:
    runs = {firm.firm.id: await _runs(firm, 5) for firm in (firm_a, firm_b, firm_c)}
    turns = runner.FirmTurns()
    for _ in range(4):  # one run at a time, like a runner woken for each: the turn moves on
        assert await runner.run_due(limit=1, turns=turns) == 1
    ran = {
        firm: sum([await _status(run) == RunStatus.SUCCEEDED for run in firm_runs])
        for firm, firm_runs in runs.items()
    }
    assert sorted(ran.values()) == [1, 1, 2]
    assert await runner.run_due() == 11  # and every run once, all told
    assert await AutomationRun.filter(status=RunStatus.SUCCEEDED).count() == 15


async def test_runs_committed_during_a_round_take_their_turn_in_the_next(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    await _runs(firm_a, 30)
    pipeline, stages = await board(firm_b)
    await manage.create_automation(
        scope_of(firm_b), stages[0].id, ActionType.CREATE_TASK, {"title": "Collect documents"}
    )
    avery = await client(firm_b)
    woken = asyncio.Event()  # what a commit that leaves runs sets in a server (Runner.wake)

    async def firm_b_enters_a_job(_: list[JobEvent]) -> None:  # after A's first run commits
        unit.remove_commit_callback(firm_b_enters_a_job)
        await job(firm_b, pipeline, avery)
        woken.set()

    unit.on_commit(firm_b_enters_a_job)
    try:
        assert await runner.run_due(limit=2, woken=woken) == 2
    finally:
        unit.remove_commit_callback(firm_b_enters_a_job)
    [mine] = await AutomationRun.filter(firm_id=firm_b.firm.id)
    assert mine.status == RunStatus.SUCCEEDED  # second, not after A's round of 20
