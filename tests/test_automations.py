"""Automations on stage entry: recorded with the entry, run once after commit, loop-guarded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automations import manage, runner
from models import (
    ActionType,
    AutomationRun,
    Client,
    Job,
    JobEvent,
    JobStatus,
    RunStatus,
    Stage,
    Task,
    User,
)
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from workflow import clients, jobs
from workflow.errors import DomainError
from workflow.firms import NewFirm
from workflow.stage_entry import MAX_DEPTH

CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { id action settings enabled position stage { name } } errors { code field } } }"""
RUNS = """query($id: ID!) { job(id: $id) { tasks { edges { node { title dueDate
  assignee { name } } } } automationRuns { edges { node { action status attempts error result
  depth } } } } }"""


async def test_create_task_runs_once_when_a_job_enters_the_stage(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat", email="pat@a.test")
    created = await gql(
        CREATE,
        input={
            "stageId": gid("Stage", stages[1].id),
            "action": "CREATE_TASK",
            "settings": {
                "title": "Prepare the return",
                "assigneeId": gid("User", pat.id),
                "dueInDays": 3,
            },
        },
    )
    assert created["createAutomation"]["errors"] == []
    assert created["createAutomation"]["automation"]["settings"] == {
        "title": "Prepare the return",
        "description": "",
        "assigneeId": gid("User", pat.id),
        "assignToJobAssignees": False,
        "dueInDays": 3,
    }
    card = await job(firm_a, pipeline, await client(firm_a))
    assert await AutomationRun.all().count() == 0  # nothing on the first stage

    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    assert await AutomationRun.filter(status=RunStatus.PENDING).count() == 1  # with the move
    assert await runner.run_due() == 1
    assert await runner.run_due() == 0  # exactly once

    data = (await gql(RUNS, id=gid("Job", card.id)))["job"]
    task = await Task.get(job_id=card.id)
    assert data["tasks"]["edges"] == [
        {
            "node": {
                "title": "Prepare the return",
                "assignee": {"name": "Pat"},
                "dueDate": (datetime.now(UTC) + timedelta(days=3)).date().isoformat(),
            }
        }
    ]
    assert data["automationRuns"]["edges"] == [
        {
            "node": {
                "action": "CREATE_TASK",
                "status": "SUCCEEDED",
                "attempts": 1,
                "error": None,
                "result": {"taskIds": [gid("Task", task.id)]},
                "depth": 0,
            }
        }
    ]


async def test_a_refused_move_records_no_run(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await Stage.filter(id=stages[1].id).update(wip_limit=1)
    await manage.create_automation(scope_of(firm_a), stages[1].id, ActionType.ARCHIVE_JOB, {})
    avery = await client(firm_a)
    first, second = await job(firm_a, pipeline, avery, "a"), await job(firm_a, pipeline, avery)
    await jobs.move_job(scope_of(firm_a), first.id, stages[1].id)
    with pytest.raises(DomainError):
        await jobs.move_job(scope_of(firm_a), second.id, stages[1].id)
    assert await AutomationRun.filter(job_id=second.id).count() == 0


async def test_moves_around_a_cycle_stop_at_the_depth_limit(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    for here, there in ((stages[1], stages[2]), (stages[2], stages[1])):
        data = await gql(
            CREATE,
            input={
                "stageId": gid("Stage", here.id),
                "action": "MOVE_JOB",
                "settings": {"stageId": gid("Stage", there.id)},
            },
        )
        assert data["createAutomation"]["errors"] == []
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    await runner.run_due()
    runs = await AutomationRun.filter(job_id=card.id).order_by("id")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * MAX_DEPTH + [RunStatus.FAILED]
    assert [r.depth for r in runs] == list(range(MAX_DEPTH + 1))
    assert "loop" in (runs[-1].error or "")


async def test_a_job_that_left_the_stage_skips_its_runs(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await manage.create_automation(
        scope_of(firm_a), stages[1].id, ActionType.CREATE_TASK, {"title": "Review"}
    )
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    await jobs.move_job(scope_of(firm_a), card.id, stages[2].id)  # before the runner got to it
    await runner.run_due()
    run = await AutomationRun.get(job_id=card.id)
    assert (run.status, run.error) == (RunStatus.SKIPPED, "the job left the stage before this ran")
    assert await Task.filter(job_id=card.id).count() == 0


async def test_a_failing_run_retries_with_backoff_then_fails(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await manage.create_automation(
        scope_of(firm_a), stages[1].id, ActionType.MOVE_JOB, {"stageId": stages[2].id}
    )
    await Stage.filter(id=stages[2].id).update(wip_limit=1)
    avery = await client(firm_a)
    blocker = await job(firm_a, pipeline, avery, "blocker")
    await jobs.move_job(scope_of(firm_a), blocker.id, stages[2].id)
    card = await job(firm_a, pipeline, avery)
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    for attempt in range(1, runner.MAX_ATTEMPTS + 1):
        await AutomationRun.filter(job_id=card.id).update(run_after=datetime.now(UTC))
        assert await runner.run_due() == 1
        run = await AutomationRun.get(job_id=card.id)
        assert run.attempts == attempt and "limit" in (run.error or "")
        if attempt < runner.MAX_ATTEMPTS:
            assert run.status == RunStatus.PENDING and run.run_after > datetime.now(UTC)
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert (await Job.get(id=card.id)).stage_id == stages[1].id  # nothing half-done
    event = await JobEvent.filter(job_id=card.id).order_by("-seq").first()
    assert event is not None and event.type == "AUTOMATION_RAN"
    assert event.changes["status"] == "FAILED" and "limit" in event.changes["error"]


async def test_bad_settings_are_refused_when_saved(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    other, other_stages = await board(firm_a, ("Elsewhere",), name="Other")
    cases = [
        ("CREATE_TASK", {"title": ""}, "settings.title"),
        ("CREATE_TASK", {"title": "x", "dueInDays": -1}, "settings.dueInDays"),
        ("CREATE_TASK", {"title": "x", "colour": "red"}, "settings"),
        ("MOVE_JOB", {"stageId": gid("Stage", other_stages[0].id)}, "settings.stageId"),
        ("MOVE_JOB", {"stageId": gid("Stage", stages[1].id)}, "settings.stageId"),
        ("MOVE_JOB", {}, "settings.stageId"),
        ("ARCHIVE_JOB", {"now": True}, "settings"),
    ]
    for action, settings, field in cases:
        data = await gql(
            CREATE,
            input={"stageId": gid("Stage", stages[1].id), "action": action, "settings": settings},
        )
        assert data["createAutomation"]["automation"] is None
        assert data["createAutomation"]["errors"][0]["field"] == field, (action, settings)
    listing = await gql(
        """query($id: ID!) { node(id: $id) { ... on Stage {
        automations { id } } } }""",
        id=gid("Stage", stages[1].id),
    )
    assert listing["node"]["automations"] == []


async def test_automations_are_listed_in_order_and_can_be_disabled(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    ids = []
    for title in ("first", "second"):
        data = await gql(
            CREATE,
            input={
                "stageId": gid("Stage", stages[1].id),
                "action": "CREATE_TASK",
                "settings": {"title": title},
            },
        )
        ids.append(data["createAutomation"]["automation"]["id"])
    await gql(
        """mutation($id: ID!) { updateAutomation(input: {id: $id, enabled: false}) {
        errors { code } } }""",
        id=ids[0],
    )
    listing = await gql(
        """query($id: ID!) { node(id: $id) { ... on Stage { automations {
        id enabled position settings } } } }""",
        id=gid("Stage", stages[1].id),
    )
    assert [
        (a["id"], a["enabled"], a["position"], a["settings"]["title"])
        for a in listing["node"]["automations"]
    ] == [(ids[0], False, 0, "first"), (ids[1], True, 1, "second")]
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    await runner.run_due()
    assert [t.title for t in await Task.filter(job_id=card.id)] == ["second"]
    deleted = await gql(
        """mutation($id: ID!) { deleteAutomation(input: {id: $id}) {
        deletedId errors { code } } }""",
        id=ids[1],
    )
    assert deleted["deleteAutomation"] == {"deletedId": ids[1], "errors": []}


async def test_another_firms_stage_takes_no_automation(gql_b: GraphQL, firm_a: NewFirm) -> None:
    _, stages = await board(firm_a)
    data = await gql_b(
        CREATE,
        input={"stageId": gid("Stage", stages[0].id), "action": "ARCHIVE_JOB", "settings": {}},
    )
    assert data["createAutomation"]["errors"] == [{"code": "NOT_FOUND", "field": "stageId"}]


@pytest.mark.parametrize(
    ("conditions", "runs"),
    [
        ({}, True),
        ({"clientTagsAll": ["vip"]}, True),
        ({"clientTagsAll": ["vip", "business"]}, False),
        ({"clientTagsNone": ["individual"]}, False),
        ({"clientTagsNone": ["business"]}, True),
        ({"jobTagsAll": ["2025"]}, True),
        ({"jobTagsAll": ["2024"]}, False),
        ({"priorities": ["HIGH", "URGENT"]}, True),
        ({"priorities": ["LOW"]}, False),
    ],
)
async def test_conditions_decide_which_jobs_an_automation_runs_for(
    firm_a: NewFirm, conditions: dict[str, list[str]], runs: bool
) -> None:
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    await manage.create_automation(
        scope, stages[1].id, ActionType.CREATE_TASK, {"title": "Review"}, conditions=conditions
    )
    avery = await clients.create_client(scope, "Avery", None, ["vip", "individual"])
    card = await jobs.create_job(
        scope, pipeline.id, avery.id, "2025 return", tags=["2025"], priority=jobs.Priority.HIGH
    )
    await jobs.move_job(scope, card.id, stages[1].id)
    await runner.run_due()
    run = await AutomationRun.get(job_id=card.id)
    assert run.status == (RunStatus.SUCCEEDED if runs else RunStatus.SKIPPED)
    assert await Task.filter(job_id=card.id).count() == int(runs)
    if not runs:
        assert (run.error or "").startswith("conditions not met")


async def test_bad_conditions_are_refused(gql: GraphQL, firm_a: NewFirm) -> None:
    _, stages = await board(firm_a)
    for conditions, field in (
        ({"priorities": ["SOON"]}, "conditions.priorities"),
        ({"colour": ["red"]}, "conditions"),
        ({"clientTagsAll": "vip"}, "conditions.clientTagsAll"),
    ):
        data = await gql(
            """mutation($input: CreateAutomationInput!) {
            createAutomation(input: $input) { errors { code field } } }""",
            input={
                "stageId": gid("Stage", stages[1].id),
                "action": "ARCHIVE_JOB",
                "conditions": conditions,
            },
        )
        assert data["createAutomation"]["errors"] == [{"code": "INVALID_INPUT", "field": field}]


async def test_a_manual_move_may_skip_automations(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    skipped = await manage.create_automation(
        scope, stages[1].id, ActionType.CREATE_TASK, {"title": "Engagement letter"}
    )
    await manage.create_automation(scope, stages[1].id, ActionType.CREATE_TASK, {"title": "Review"})
    card = await job(firm_a, pipeline, await client(firm_a))
    data = await gql(
        """mutation($input: MoveJobInput!) { moveJob(input: $input) {
        errors { code } } }""",
        input={
            "jobId": gid("Job", card.id),
            "stageId": gid("Stage", stages[1].id),
            "skipAutomationIds": [gid("Automation", skipped.id)],
        },
    )
    assert data["moveJob"]["errors"] == []
    await runner.run_due()
    assert [t.title for t in await Task.filter(job_id=card.id)] == ["Review"]
    statuses = (
        await AutomationRun.filter(job_id=card.id).order_by("id").values_list("status", flat=True)
    )
    assert statuses == [RunStatus.SKIPPED, RunStatus.SUCCEEDED]


async def test_retry_a_failed_run(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    await manage.create_automation(
        scope, stages[1].id, ActionType.MOVE_JOB, {"stageId": stages[2].id}
    )
    await Stage.filter(id=stages[2].id).update(wip_limit=1)
    avery = await client(firm_a)
    blocker = await job(firm_a, pipeline, avery, "blocker")
    await jobs.move_job(scope, blocker.id, stages[2].id)
    card = await job(firm_a, pipeline, avery)
    await jobs.move_job(scope, card.id, stages[1].id)
    run = await AutomationRun.get(job_id=card.id)
    await AutomationRun.filter(id=run.id).update(status=RunStatus.FAILED, attempts=5)
    retry = """mutation($id: ID!) { retryAutomationRun(input: {id: $id}) {
        automationRun { status attempts } errors { code field } } }"""
    await jobs.archive_job(scope, blocker.id)  # the cause is gone
    data = await gql(retry, id=gid("AutomationRun", run.id))
    assert data["retryAutomationRun"] == {
        "automationRun": {"status": "PENDING", "attempts": 0},
        "errors": [],
    }
    assert await runner.run_due() == 1
    assert (await Job.get(id=card.id)).stage_id == stages[2].id
    again = await gql(retry, id=gid("AutomationRun", run.id))
    assert again["retryAutomationRun"]["errors"] == [{"code": "INVALID_INPUT", "field": "id"}]


async def test_transfer_and_update_tags_actions(firm_a: NewFirm) -> None:
    lead, lead_stages = await board(firm_a, ("New Lead", "Won"), name="Lead")
    books, books_stages = await board(firm_a, ("Onboard", "Monthly"), name="Books")
    scope = scope_of(firm_a)
    await manage.create_automation(
        scope,
        lead_stages[1].id,
        ActionType.UPDATE_TAGS,
        {"target": "CLIENT", "add": ["client"], "remove": ["lead"]},
    )
    await manage.create_automation(
        scope,
        lead_stages[1].id,
        ActionType.TRANSFER_JOB,
        {"pipelineId": books.id, "stageId": books_stages[1].id},
    )
    await manage.create_automation(
        scope, books_stages[1].id, ActionType.UPDATE_TAGS, {"add": ["bookkeeping"]}
    )
    avery = await clients.create_client(scope, "Avery", None, ["lead", "vip"])
    card = await jobs.create_job(scope, lead.id, avery.id, "Books for Avery")
    await jobs.move_job(scope, card.id, lead_stages[1].id)
    assert await runner.run_due() == 3
    moved = await Job.get(id=card.id)
    assert (moved.pipeline_id, moved.stage_id, moved.tags) == (
        books.id,
        books_stages[1].id,
        ["bookkeeping"],
    )
    assert (await Client.get(id=avery.id)).tags == ["vip", "client"]
    runs = await AutomationRun.filter(job_id=card.id).order_by("id")
    assert [(r.action, r.status, r.depth) for r in runs] == [
        (ActionType.UPDATE_TAGS, RunStatus.SUCCEEDED, 0),
        (ActionType.TRANSFER_JOB, RunStatus.SUCCEEDED, 0),
        (ActionType.UPDATE_TAGS, RunStatus.SUCCEEDED, 1),
    ]


async def test_archive_job_action(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await manage.create_automation(scope_of(firm_a), stages[2].id, ActionType.ARCHIVE_JOB, {})
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.move_job(scope_of(firm_a), card.id, stages[2].id)
    assert await runner.run_due() == 1
    archived = await Job.get(id=card.id)
    assert (archived.status, archived.version) == (JobStatus.ARCHIVED, 3)


async def test_create_task_for_each_of_the_jobs_assignees(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    scope = scope_of(firm_a)
    pat = await User.create(firm_id=firm_a.firm.id, name="Pat", email="pat@a.test")
    await manage.create_automation(
        scope,
        stages[1].id,
        ActionType.CREATE_TASK,
        {"title": "Review", "assignToJobAssignees": True},
    )
    card = await jobs.create_job(
        scope,
        pipeline.id,
        (await client(firm_a)).id,
        "2025",
        assignee_ids=[firm_a.owner.id, pat.id],
    )
    await jobs.move_job(scope, card.id, stages[1].id)
    await runner.run_due()
    assignees = (
        await Task.filter(job_id=card.id).order_by("id").values_list("assignee_id", flat=True)
    )
    assert assignees == sorted([firm_a.owner.id, pat.id])
