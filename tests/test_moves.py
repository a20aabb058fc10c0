"""moveJob, transferJob and friends: placement, history events, versions, stage edits."""

from __future__ import annotations

import pytest

from models import Job, JobEvent, Stage
from tests.conftest import GraphQL, StatementCounter
from tests.factories import board, client, gid, job, scope_of
from workflow import jobs, ranking
from workflow.firms import NewFirm

MOVE = """mutation($input: MoveJobInput!) { moveJob(input: $input) {
  job { id version rank stage { id } stageEnteredAt } errors { code field message } } }"""
TRANSFER = """mutation($input: TransferJobInput!) { transferJob(input: $input) {
  job { version pipeline { id } stage { id } } errors { code field } } }"""
COLUMN = """query($id: ID!) {
  node(id: $id) { ... on Stage { jobs { edges { node { title } } } } } }"""


async def column(gql: GraphQL, stage: Stage) -> list[str]:
    data = await gql(COLUMN, id=gid("Stage", stage.id))
    return [e["node"]["title"] for e in data["node"]["jobs"]["edges"]]


async def test_move_to_another_stage_bumps_version_and_logs_it(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    before = (await Job.get(id=card.id)).stage_entered_at

    target = gid("Stage", stages[2].id)
    data = await gql(MOVE, input={"jobId": gid("Job", card.id), "stageId": target})

    payload = data["moveJob"]
    assert payload["errors"] == []
    assert payload["job"]["version"] == 2
    assert payload["job"]["stage"]["id"] == gid("Stage", stages[2].id)
    assert (await Job.get(id=card.id)).stage_entered_at > before
    event = await JobEvent.filter(job_id=card.id).order_by("-id").first()
    assert event is not None
    assert (event.type, event.job_version) == ("JOB_MOVED", 2)
    assert (event.from_stage_id, event.to_stage_id) == (stages[0].id, stages[2].id)
    assert (event.actor_id, event.seq) == (firm_a.owner.id, 2)


async def test_after_and_before_place_the_job(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    a, b, c = [await job(firm_a, pipeline, avery, t) for t in "abc"]
    d = await job(firm_a, pipeline, avery, "d")
    await jobs.move_job(scope_of(firm_a), d.id, stages[1].id)
    ids = {card.title: gid("Job", card.id) for card in (a, b, c, d)}

    async def move(title: str, stage: Stage, **place: str) -> None:
        data = await gql(
            MOVE,
            input={
                "jobId": ids[title],
                "stageId": gid("Stage", stage.id),
                **{k: ids[v] for k, v in place.items()},
            },
        )
        assert data["moveJob"]["errors"] == []

    await move("c", stages[0], beforeJobId="a")
    assert await column(gql, stages[0]) == ["c", "a", "b"]
    await move("c", stages[0], afterJobId="a")
    assert await column(gql, stages[0]) == ["a", "c", "b"]
    await move("a", stages[0], afterJobId="c", beforeJobId="b")
    assert await column(gql, stages[0]) == ["c", "a", "b"]
    await move("b", stages[1], beforeJobId="d")
    assert await column(gql, stages[1]) == ["b", "d"]
    await move("c", stages[1], afterJobId="b")
    assert await column(gql, stages[1]) == ["b", "c", "d"]
    assert await column(gql, stages[0]) == ["a"]


async def test_a_move_writes_one_job_row(
    gql: GraphQL, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    cards = [await job(firm_a, pipeline, avery, f"job {n}") for n in range(20)]
    sql_statements.statements.clear()
    await gql(
        MOVE,
        input={
            "jobId": gid("Job", cards[-1].id),
            "afterJobId": gid("Job", cards[3].id),
            "stageId": gid("Stage", stages[0].id),
        },
    )
    writes = [s for s in sql_statements.statements if s.lstrip().upper().startswith("UPDATE")]
    job_writes = [s for s in writes if '"job"' in s.split("SET")[0]]
    assert len(job_writes) == 1, writes


async def test_moving_into_its_own_stage_without_a_place_changes_nothing(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    same = gid("Stage", stages[0].id)
    data = await gql(MOVE, input={"jobId": gid("Job", card.id), "stageId": same})
    assert data["moveJob"]["job"]["version"] == 1
    assert await JobEvent.filter(job_id=card.id).count() == 1


async def test_many_placements_between_the_same_neighbours(
    firm_a: NewFirm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys grow by a character every few placements; past the limit the stage is renumbered."""
    monkeypatch.setattr(ranking, "REBALANCE_LENGTH", 8)
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    scope = scope_of(firm_a)
    left = await job(firm_a, pipeline, avery, "left")
    right = await job(firm_a, pipeline, avery, "right")
    placed = []
    for n in range(120):  # each new job goes right after "left": always between the same two
        card = await job(firm_a, pipeline, avery, f"n{n}")
        await jobs.move_job(scope, card.id, stages[0].id, after_job_id=left.id)
        placed.append(card.id)
    order = await Job.filter(stage_id=stages[0].id).order_by("rank").values_list("id", flat=True)
    assert order == [left.id, *reversed(placed), right.id]
    ranks = await Job.filter(stage_id=stages[0].id).values_list("rank", flat=True)
    assert len(set(ranks)) == len(ranks)
    assert max(map(len, ranks)) <= 8
    # renumbering changed other jobs too: each change bumped a version and was logged
    renumbered = await JobEvent.filter(pipeline_id=pipeline.id, type="JOB_MOVED").all()
    assert any(e.changes.get("renumbered") for e in renumbered)
    for card in await Job.filter(stage_id=stages[0].id):
        assert (
            card.version
            == await JobEvent.filter(job_id=card.id).exclude(type="TASK_CHANGED").count()
        )


async def test_transfer_enters_the_first_stage_and_logs_both_pipelines(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    lead, lead_stages = await board(firm_a, ("New Lead", "Won"), name="Bookkeeping Lead")
    books, books_stages = await board(firm_a, ("Onboard", "Monthly close"), name="Bookkeeping")
    avery = await client(firm_a)
    card = await job(firm_a, lead, avery)
    already = await job(firm_a, books, avery, "already there")

    into_books = {"jobId": gid("Job", card.id), "pipelineId": gid("Pipeline", books.id)}
    data = await gql(TRANSFER, input=into_books)

    assert data["transferJob"] == {
        "job": {
            "version": 2,
            "pipeline": {"id": gid("Pipeline", books.id)},
            "stage": {"id": gid("Stage", books_stages[0].id)},
        },
        "errors": [],
    }
    assert await column(gql, books_stages[0]) == [already.title, card.title]
    out = await JobEvent.get(pipeline_id=lead.id, type="JOB_TRANSFERRED_OUT")
    into = await JobEvent.get(pipeline_id=books.id, type="JOB_TRANSFERRED_IN")
    for event in (out, into):
        assert (event.job_id, event.job_version) == (card.id, 2)
        assert (event.from_pipeline_id, event.to_pipeline_id) == (lead.id, books.id)
        assert (event.from_stage_id, event.to_stage_id) == (lead_stages[0].id, books_stages[0].id)
    assert (out.seq, into.seq) == (2, 2)  # each pipeline numbers its own log


async def test_transfer_to_a_named_stage(gql: GraphQL, firm_a: NewFirm) -> None:
    lead, _ = await board(firm_a, ("New Lead",), name="Lead")
    books, books_stages = await board(firm_a, ("Onboard", "Monthly close"), name="Books")
    card = await job(firm_a, lead, await client(firm_a))
    data = await gql(
        TRANSFER,
        input={
            "jobId": gid("Job", card.id),
            "expectedVersion": 1,
            "pipelineId": gid("Pipeline", books.id),
            "stageId": gid("Stage", books_stages[1].id),
        },
    )
    assert data["transferJob"]["job"]["stage"]["id"] == gid("Stage", books_stages[1].id)


async def test_update_job_logs_what_changed(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, _ = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    update = """mutation($input: UpdateJobInput!) { updateJob(input: $input) {
      job { title version dueDate tags priority } errors { code } } }"""
    data = await gql(
        update,
        input={
            "id": gid("Job", card.id),
            "title": "2025 return (amended)",
            "dueDate": "2026-04-15",
            "tags": ["vip", " vip "],
        },
    )
    assert data["updateJob"] == {
        "job": {
            "title": "2025 return (amended)",
            "version": 2,
            "dueDate": "2026-04-15",
            "tags": ["vip"],
            "priority": "NORMAL",
        },
        "errors": [],
    }
    event = await JobEvent.get(job_id=card.id, type="JOB_UPDATED")
    assert event.changes == {
        "title": {"from": "2025 return", "to": "2025 return (amended)"},
        "due_date": {"from": None, "to": "2026-04-15"},
        "tags": {"from": [], "to": ["vip"]},
    }
    same = await gql(update, input={"id": gid("Job", card.id), "title": "2025 return (amended)"})
    assert same["updateJob"]["job"]["version"] == 2  # nothing changed, nothing bumped


async def test_archive_and_restore(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    archive = """mutation($id: ID!) { archiveJob(input: {id: $id}) { job { status version } } }"""
    assert (await gql(archive, id=gid("Job", card.id)))["archiveJob"]["job"] == {
        "status": "ARCHIVED",
        "version": 2,
    }
    assert await column(gql, stages[0]) == []
    restore = """mutation($id: ID!) { updateJob(input: {id: $id, status: ACTIVE}) {
      job { status version } } }"""
    assert (await gql(restore, id=gid("Job", card.id)))["updateJob"]["job"] == {
        "status": "ACTIVE",
        "version": 3,
    }
    assert await column(gql, stages[0]) == [card.title]


async def test_restoring_a_job_respects_the_wip_limit(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    await Stage.filter(id=stages[0].id).update(wip_limit=1)
    avery = await client(firm_a)
    first = await job(firm_a, pipeline, avery, "first")
    await jobs.archive_job(scope_of(firm_a), first.id)
    await job(firm_a, pipeline, avery, "second")
    data = await gql(
        """mutation($id: ID!) { updateJob(input: {id: $id, status: ACTIVE}) {
        job { id } errors { code } } }""",
        id=gid("Job", first.id),
    )
    assert data["updateJob"] == {"job": None, "errors": [{"code": "WIP_LIMIT_REACHED"}]}


async def test_an_archived_jobs_assignees_stay_put(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, _ = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    await jobs.archive_job(scope_of(firm_a), card.id)
    data = await gql(
        """mutation($id: ID!, $u: [ID!]) { updateJob(input: {id: $id,
        assigneeIds: $u}) { errors { code } } }""",
        id=gid("Job", card.id),
        u=[gid("User", firm_a.owner.id)],
    )
    assert data["updateJob"]["errors"] == [{"code": "JOB_ARCHIVED"}]


async def test_tasks_complete_reopen_delete(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, _ = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    created = await gql(
        """mutation($input: CreateTaskInput!) { createTask(input: $input) {
        task { id title done doneAt assignee { name } } errors { code } } }""",
        input={
            "jobId": gid("Job", card.id),
            "title": "Request W-2",
            "assigneeId": gid("User", firm_a.owner.id),
            "dueDate": "2026-02-01",
        },
    )
    task = created["createTask"]["task"]
    assert (task["title"], task["done"], task["doneAt"]) == ("Request W-2", False, None)
    assert task["assignee"] == {"name": "Alice Owner"}
    done = await gql(
        """mutation($id: ID!) { completeTask(input: {id: $id}) {
        task { done doneAt } } }""",
        id=task["id"],
    )
    assert done["completeTask"]["task"]["done"] is True
    assert done["completeTask"]["task"]["doneAt"] is not None
    reopened = await gql(
        """mutation($id: ID!) { reopenTask(input: {id: $id}) {
        task { done doneAt } } }""",
        id=task["id"],
    )
    assert reopened["reopenTask"]["task"] == {"done": False, "doneAt": None}
    deleted = await gql(
        """mutation($id: ID!) { deleteTask(input: {id: $id}) {
        deletedId job { tasks { totalCount } } errors { code } } }""",
        id=task["id"],
    )
    assert deleted["deleteTask"] == {
        "deletedId": task["id"],
        "job": {"tasks": {"totalCount": 0}},
        "errors": [],
    }
    actions = [
        e.changes["action"]
        for e in await JobEvent.filter(job_id=card.id, type="TASK_CHANGED").order_by("seq")
    ]
    assert actions == ["created", "completed", "reopened", "deleted"]
    assert (await Job.get(id=card.id)).version == 1  # task changes leave the job's version


async def test_stage_create_reorder_delete(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    names = """query($id: ID!) { pipeline(id: $id) { stages { id name position } } }"""
    created = await gql(
        """mutation($input: CreateStageInput!) { createStage(input: $input) {
        stage { name position wipLimit } errors { code } } }""",
        input={
            "pipelineId": gid("Pipeline", pipeline.id),
            "name": "Engagement",
            "position": 1,
            "wipLimit": 5,
        },
    )
    assert created["createStage"]["stage"] == {"name": "Engagement", "position": 1, "wipLimit": 5}
    current = (await gql(names, id=gid("Pipeline", pipeline.id)))["pipeline"]["stages"]
    assert [(s["name"], s["position"]) for s in current] == [
        ("Review Docs", 0),
        ("Engagement", 1),
        ("Prepare Return", 2),
        ("Review", 3),
    ]
    reordered = await gql(
        """mutation($input: ReorderStagesInput!) { reorderStages(input: $input) {
        pipeline { stages { name } } errors { code } } }""",
        input={
            "pipelineId": gid("Pipeline", pipeline.id),
            "stageIds": [s["id"] for s in reversed(current)],
        },
    )
    assert [s["name"] for s in reordered["reorderStages"]["pipeline"]["stages"]] == [
        "Review",
        "Prepare Return",
        "Engagement",
        "Review Docs",
    ]
    deleted = await gql(
        """mutation($input: DeleteStageInput!) { deleteStage(input: $input) {
        deletedId pipeline { stages { name position } } errors { code } } }""",
        input={"id": gid("Stage", stages[0].id), "moveJobsToStageId": gid("Stage", stages[2].id)},
    )
    assert deleted["deleteStage"]["pipeline"]["stages"] == [
        {"name": "Review", "position": 0},
        {"name": "Prepare Return", "position": 1},
        {"name": "Engagement", "position": 2},
    ]
    moved = await Job.get(id=card.id)
    assert (moved.stage_id, moved.version) == (stages[2].id, 2)
    assert await JobEvent.filter(pipeline_id=pipeline.id, type="STAGE_CHANGED").count() == 3


async def test_deleting_a_stage_respects_the_target_wip_limit(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    await job(firm_a, pipeline, avery, "a")
    await job(firm_a, pipeline, avery, "b")
    await Stage.filter(id=stages[1].id).update(wip_limit=1)
    data = await gql(
        """mutation($input: DeleteStageInput!) { deleteStage(input: $input) {
        deletedId errors { code field } } }""",
        input={"id": gid("Stage", stages[0].id), "moveJobsToStageId": gid("Stage", stages[1].id)},
    )
    assert data["deleteStage"] == {
        "deletedId": None,
        "errors": [{"code": "WIP_LIMIT_REACHED", "field": "moveJobsToStageId"}],
    }
    assert await Job.filter(stage_id=stages[0].id).count() == 2
