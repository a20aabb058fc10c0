"""Exports (startExport, Query.export, GET /exports/{id}) on SQLite and PostgreSQL: the file
holds the board as the GraphQL API shows it, its cursor continues the board feed with no gap
and no duplicate, the file is its firm's alone, kept for its retention, announced by a
webhook, and run exactly once whichever worker claims it."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from exporter import runner
from models import (
    Export,
    ExportStatus,
    JobEvent,
    Pipeline,
    Role,
    Stage,
    WebhookDelivery,
    WebhookEndpoint,
)
from realtime.hub import FeedKey, read_log
from schema.feed_cursors import decode_feed_cursor
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from workflow import clock, exports, jobs, people, tasks, webhooks
from workflow.firms import NewFirm, issue_token
from workflow.webhook_outbox import EXPORT_FINISHED

START = """mutation($p: ID!, $include: [ExportInclude!]!) {
  startExport(input: {pipelineId: $p, include: $include}) {
    export { id status include jobCount cursor url finishedAt }
    errors { code field message }
  }
}"""
EXPORT = """query($id: ID!) { export(id: $id) {
  id status include jobCount cursor url createdAt finishedAt expiresAt } }"""
# The board as the API shows it: what every line of the file must equal.
BOARD = """query($p: ID!) { pipeline(id: $p) { eventCursor jobs(first: 100, includeArchived: true) {
  edges { node {
    id title status priority rank version startDate dueDate tags stageEnteredAt stageDueAt
    createdAt updatedAt
    stage { id name position }
    client { id name email tags }
    assignees { id name email }
    tasks(first: 100) { edges { node { id title done dueDate doneAt assignee { id } } } }
  } }
} } }"""
ALL = ["TASKS", "ASSIGNEES", "CLIENT"]
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def export_dir(tmp_path: Path) -> Iterator[Path]:
    """The deployment's export settings, as web.workers sets them, in a folder of the test."""
    before = exports.CONFIG
    exports.configure(str(tmp_path / "exports"), 24, "http://test")
    yield tmp_path / "exports"
    exports.CONFIG = before


@pytest.fixture
def frozen() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


async def busy_board(firm: NewFirm, jobs_count: int = 4) -> tuple[Pipeline, list[int]]:
    """A board with jobs in two stages, tasks (one done), two assignees on a job, an archived
    job (the fourth, if any), and a second client."""
    pipeline, stages = await board(firm)
    scope = scope_of(firm)
    avery = await client(firm)
    blue = await client(firm, "Blue Harbor LLC")
    helper, _ = await people.invite_user(scope, "sam@a.test", "Sam Staff", Role.STAFF)
    made = []
    for n in range(jobs_count):
        made.append(await job(firm, pipeline, avery if n % 2 else blue, f"return {n}"))
    await jobs.update_job(scope, made[0].id, tags=["vip"], assignee_ids=[firm.owner.id, helper.id])
    await jobs.move_job(scope, made[1].id, stages[1].id)
    first = await tasks.create_task(scope, made[0].id, "Collect W-2", assignee_id=helper.id)
    await tasks.create_task(scope, made[0].id, "Sign 8879")
    await tasks.set_task_done(scope, first.id, True)
    await tasks.create_task(scope, made[2].id, "Call client")
    if len(made) > 3:
        await jobs.archive_job(scope, made[3].id)
    return pipeline, [j.id for j in made]


async def start(gql: GraphQL, pipeline: Pipeline, include: list[str]) -> dict[str, Any]:
    answer = (await gql(START, p=gid("Pipeline", pipeline.id), include=include))["startExport"]
    assert answer["errors"] == []
    return dict(answer["export"])


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def finished_file(export_id: str) -> Path:
    from workflow.global_ids import parse_id

    row = await Export.get(id=parse_id(export_id, "id")[1])
    path = exports.file_path(row)
    assert path is not None
    return path


def as_line(node: dict[str, Any]) -> dict[str, Any]:
    """A job of the GraphQL board in the file's shape."""
    return {
        **{k: v for k, v in node.items() if k not in ("client", "tasks")},
        "customFields": {},
        "clientId": node["client"]["id"],
        "client": {**node["client"], "customFields": {}},
        "tasks": [
            {**{k: v for k, v in t.items() if k != "assignee"}, "assigneeId": t["assignee"]["id"]}
            if t["assignee"]
            else {**{k: v for k, v in t.items() if k != "assignee"}, "assigneeId": None}
            for t in (edge["node"] for edge in node["tasks"]["edges"])
        ],
    }


async def test_start_export_then_query_it_until_it_finishes(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, _ = await busy_board(firm_a)
    export = await start(gql, pipeline, ["CLIENT", "TASKS"])
    assert {k: export[k] for k in ("status", "include", "jobCount", "cursor", "url")} == {
        "status": "PENDING",
        "include": ["TASKS", "CLIENT"],  # each once, in the enum's order
        "jobCount": 0,
        "cursor": None,
        "url": None,
    }
    assert await runner.run_due() == 1
    done = (await gql(EXPORT, id=export["id"]))["export"]
    assert done["status"] == "FINISHED"
    assert done["jobCount"] == 3  # the archived job is not on the board
    assert done["url"] == f"http://test/exports/{export['id']}"
    assert done["finishedAt"] is not None and done["expiresAt"] is not None
    seq = (await Pipeline.get(id=pipeline.id)).event_seq
    assert decode_feed_cursor(done["cursor"], FeedKey("pipeline", pipeline.id)) == seq
    by_node = await gql(
        "query($id: ID!) { node(id: $id) { ... on Export { status } } }", id=export["id"]
    )
    assert by_node == {"node": {"status": "FINISHED"}}


async def test_the_file_holds_the_board_as_the_api_shows_it(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, _ = await busy_board(firm_a)
    export = await start(gql, pipeline, [*ALL, "ARCHIVED"])
    await runner.run_due()
    written = lines(await finished_file(export["id"]))
    shown = (await gql(BOARD, p=gid("Pipeline", pipeline.id)))["pipeline"]["jobs"]["edges"]
    expected = [as_line(edge["node"]) for edge in shown]  # oldest first, archived too
    differ = [
        (n, key, line.get(key), want.get(key))
        for n, (line, want) in enumerate(zip(written, expected, strict=True))
        for key in line.keys() | want.keys()
        if line.get(key) != want.get(key)
    ]
    assert differ == []
    assert written == expected
    assert [len(line["tasks"]) for line in written] == [2, 0, 1, 0]
    assert [a["name"] for a in written[0]["assignees"]] == ["Alice Owner", "Sam Staff"]
    # without the parts not asked for
    export = await start(gql, pipeline, [])
    await runner.run_due()
    bare = lines(await finished_file(export["id"]))
    assert len(bare) == 3
    assert not {"client", "tasks", "assignees"} & set(bare[0])


async def test_changes_during_the_export_come_after_its_cursor_exactly_once(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    """The snapshot is fixed, then (while the export still reads) jobs move, a task
    changes and a job is created: the file shows none of it, and the feed after the cursor
    (what boardUpdated(after: cursor) replays) holds exactly those changes, in order."""
    pipeline, made = await busy_board(firm_a, jobs_count=3)
    scope = scope_of(firm_a)
    stages = [s.id for s in await Stage.filter(pipeline_id=pipeline.id).order_by("position")]
    before = (await Pipeline.get(id=pipeline.id)).event_seq
    during: list[int] = []

    async def change_the_board() -> None:
        await jobs.move_job(scope, made[0], stages[2])
        await tasks.create_task(scope, made[2], "Late task")
        new = await job(firm_a, pipeline, await client(firm_a, "Late LLC"), "late job")
        during.append(new.id)

    export = await start(gql, pipeline, ALL)
    [claimed] = await runner.claim()
    assert await runner.run(claimed, fixed=change_the_board)
    done = (await gql(EXPORT, id=export["id"]))["export"]
    position = decode_feed_cursor(done["cursor"], FeedKey("pipeline", pipeline.id))
    assert position == before
    written = lines(await finished_file(export["id"]))
    assert [line["title"] for line in written] == ["return 0", "return 1", "return 2"]
    assert written[0]["stage"]["id"] == gid("Stage", stages[0])  # before the move
    assert [t["title"] for t in written[2]["tasks"]] == ["Call client"]
    replay = await read_log(FeedKey("pipeline", pipeline.id), position)
    assert [(d.event.type, d.event.job_id) for d in replay] == [
        ("JOB_MOVED", made[0]),
        ("TASK_CHANGED", made[2]),
        ("JOB_CREATED", during[0]),
    ]
    assert [d.event.seq for d in replay] == [before + 1, before + 2, before + 3]
    # and nothing in the file is after the cursor: every earlier event is at or before it
    assert await JobEvent.filter(pipeline_id=pipeline.id, seq__lte=position).count() == before


async def test_the_file_is_read_with_the_token_of_its_firm_only(
    http: httpx.AsyncClient, gql: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    pipeline, _ = await busy_board(firm_a)
    export = await start(gql, pipeline, ALL)
    path = f"/exports/{export['id']}"

    async def get(token: str | None, where: str = path) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await http.get(where, headers=headers)

    assert (await get(firm_a.token)).status_code == 409  # not finished yet
    await runner.run_due()
    answer = await get(firm_a.token)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    file = await finished_file(export["id"])
    assert answer.content == file.read_bytes()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert (await get(None)).status_code == 401
    assert (await get("wf_nonsense")).status_code == 401
    other = await get(firm_b.token)  # another firm's export: exactly like a missing one
    missing = await get(firm_a.token, f"/exports/{gid('Export', 999_999)}")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert (await get(firm_a.token, "/exports/not-an-id")).status_code == 404
    assert (await get(firm_a.token, f"/exports/{gid('Job', 1)}")).status_code == 404
    _, write_only = await issue_token(firm_a.owner, "writer", ["WRITE"])
    assert (await get(write_only)).status_code == 403


async def test_an_export_is_deleted_after_its_retention(
    http: httpx.AsyncClient, gql: GraphQL, firm_a: NewFirm, frozen: None
) -> None:
    pipeline, _ = await busy_board(firm_a)
    export = await start(gql, pipeline, [])
    await runner.run_due()
    file = await finished_file(export["id"])
    clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert await runner.sweep() == 0
    assert file.exists()
    clock.advance(timedelta(seconds=1))
    assert await runner.sweep() == 1
    assert not file.exists()
    gone = (await gql(EXPORT, id=export["id"]))["export"]
    assert (gone["status"], gone["url"]) == ("EXPIRED", None)
    answer = await http.get(
        f"/exports/{export['id']}", headers={"Authorization": f"Bearer {firm_a.token}"}
    )
    assert answer.status_code == 410


async def test_a_finished_export_is_announced_by_webhook(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, _ = await busy_board(firm_a)
    other, _ = await board(firm_a, name="Payroll")

    async def endpoint(types: list[str], pipeline_id: int | None = None) -> WebhookEndpoint:
        return await WebhookEndpoint.create(
            firm_id=firm_a.firm.id,
            url="https://hooks.example.test/in",
            event_types=types,
            pipeline_id=pipeline_id,
            encrypted_secret="unused",
        )

    wants = await endpoint([EXPORT_FINISHED])
    every = await endpoint([])
    await endpoint(["JOB_MOVED"])  # other event types only
    await endpoint([EXPORT_FINISHED], other.id)  # another pipeline only
    export = await start(gql, pipeline, [])
    await runner.run_due()
    deliveries = await WebhookDelivery.filter(event_type=EXPORT_FINISHED).order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [wants.id, every.id]
    assert deliveries[0].payload["data"] == {
        "exportId": export["id"],
        "pipelineId": gid("Pipeline", pipeline.id),
        "jobCount": 3,
        "url": f"http://test/exports/{export['id']}",
    }
    assert webhooks._event_types([EXPORT_FINISHED]) == [EXPORT_FINISHED]  # may be chosen


async def test_hostile_inputs_are_refused_and_another_firms_exports_are_invisible(
    gql: GraphQL, gql_b: GraphQL, firm_a: NewFirm, firm_b: NewFirm
) -> None:
    pipeline, _ = await busy_board(firm_a)
    theirs = await gql_b(START, p=gid("Pipeline", pipeline.id), include=[])
    assert [e["code"] for e in theirs["startExport"]["errors"]] == ["NOT_FOUND"]
    bad = await gql(START, expect_errors=True, p=gid("Pipeline", pipeline.id), include=["SECRETS"])
    assert "SECRETS" in bad["errors"][0]["message"]
    many = await gql(START, p=gid("Pipeline", pipeline.id), include=["TASKS"] * 1000)
    assert [e["code"] for e in many["startExport"]["errors"]] == ["INVALID_INPUT"]
    wrong_type = await gql(START, p=gid("Job", 1), include=[])
    assert [e["code"] for e in wrong_type["startExport"]["errors"]] == ["INVALID_ID"]
    mine = await start(gql, pipeline, [])
    assert (await gql_b(EXPORT, id=mine["id"])) == {"export": None}
    for _ in range(exports.FIRM_MAX_OPEN - 1):
        await start(gql, pipeline, [])
    full = await gql(START, p=gid("Pipeline", pipeline.id), include=[])
    assert [e["code"] for e in full["startExport"]["errors"]] == ["INVALID_INPUT"]
    assert await Export.filter(firm_id=firm_b.firm.id).count() == 0


async def test_one_export_of_a_firm_runs_at_a_time_and_firms_take_turns(
    firm_a: NewFirm, firm_b: NewFirm
) -> None:
    a_pipeline, _ = await board(firm_a)
    b_pipeline, _ = await board(firm_b)
    a_exports = [await exports.start_export(scope_of(firm_a), a_pipeline.id, []) for _ in range(4)]
    [b_export] = [await exports.start_export(scope_of(firm_b), b_pipeline.id, [])]
    first = await runner.claim(limit=5)
    assert sorted(e.id for e in first) == sorted([a_exports[0].id, b_export.id])
    assert await runner.claim(limit=5) == []  # both firms at their cap
    assert await runner.run(next(e for e in first if e.firm_id == firm_a.firm.id))
    [second] = await runner.claim(limit=5)
    assert second.id == a_exports[1].id


async def test_an_attempt_that_lost_its_lease_does_not_finish_the_export(
    firm_a: NewFirm, frozen: None
) -> None:
    pipeline, _ = await busy_board(firm_a)
    await exports.start_export(scope_of(firm_a), pipeline.id, [])
    [slow] = await runner.claim()
    clock.advance(runner.LEASE + timedelta(seconds=1))  # taken for dead
    [again] = await runner.claim()
    assert (again.id, again.attempts) == (slow.id, 2)
    assert not await runner.run(slow)  # its file is dropped, the row untouched
    assert await runner.run(again)
    row = await Export.get(id=slow.id)
    assert (row.status, row.attempts, row.job_count) == (ExportStatus.FINISHED, 2, 3)
    folder = exports.CONFIG.folder
    assert [p.name for p in folder.iterdir()] == [row.file_name]


@pytest.mark.postgres_only
async def test_two_workers_run_each_export_exactly_once(firm_a: NewFirm, firm_b: NewFirm) -> None:
    """Two runners claim at once from one PostgreSQL (each with its own connections): every
    export is finished by one attempt, once, with one webhook delivery."""
    firms = [firm_a, firm_b, *[await _firm(n) for n in range(4)]]
    for firm in firms:
        pipeline, _ = await busy_board(firm, jobs_count=3)
        await WebhookEndpoint.create(
            firm_id=firm.firm.id,
            url="https://hooks.example.test/in",
            event_types=[EXPORT_FINISHED],
            encrypted_secret="unused",
        )
        for _ in range(2):
            await exports.start_export(scope_of(firm), pipeline.id, ALL)
    finished = await asyncio.gather(runner.run_due(limit=2), runner.run_due(limit=3))
    assert sum(finished) == 12
    rows = await Export.all()
    assert {(r.status, r.attempts) for r in rows} == {(ExportStatus.FINISHED, 1)}
    deliveries = await WebhookDelivery.filter(event_type=EXPORT_FINISHED)
    assert sorted(d.payload["data"]["exportId"] for d in deliveries) == sorted(
        gid("Export", r.id) for r in rows
    )
    assert len(list(exports.CONFIG.folder.iterdir())) == 12


async def _firm(n: int) -> NewFirm:
    from workflow.firms import create_firm

    return await create_firm(f"Firm {n}", f"owner@{n}.test", f"Owner {n}")
