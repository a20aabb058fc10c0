"""An export on a real server process (its background runner, EXPORT_DIR, GET /exports/{id})
and a subscription from the export's cursor: it delivers the changes made after the
snapshot, from the next one on, none twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.live import BOARD_SUBSCRIPTION, MOVE, Board, Subscription, make_board, seq_of
from tests.servers import ServerProcess, graphql

pytestmark = pytest.mark.slow  # a server process

START = """mutation($p: ID!) { startExport(input: {pipelineId: $p, include: [TASKS]}) {
  export { id } errors { code } } }"""
POLL = "query($id: ID!) { export(id: $id) { status jobCount cursor url } }"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("export"), DATABASE_URL=database_url).start()
    yield server
    server.stop()


def move(server: ServerProcess, board: Board, job: int, stage: int) -> None:
    answer = graphql(server, board.token, MOVE, j=board.jobs[job], s=board.stages[stage])
    assert answer["moveJob"]["errors"] == []


async def finished(server: ServerProcess, board: Board, export_id: str) -> dict[str, object]:
    """The export once the server's runner has finished it (it is woken by the commit)."""
    deadline = time.monotonic() + 30
    while (export := graphql(server, board.token, POLL, id=export_id)["export"])[
        "status"
    ] != "FINISHED":
        assert export["status"] in ("PENDING", "RUNNING"), export
        assert time.monotonic() < deadline, "not finished in time"
        await asyncio.sleep(0.05)
    return dict(export)


async def test_a_subscription_from_the_exports_cursor_continues_the_file(
    server: ServerProcess,
) -> None:
    board = make_board(server, jobs=3)
    move(server, board, 0, 1)  # in the file
    started = graphql(server, board.token, START, p=board.pipeline)["startExport"]
    assert started["errors"] == []
    export = await finished(server, board, started["export"]["id"])
    assert export["jobCount"] == 3
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            str(export["url"]), headers={"Authorization": f"Bearer {board.token}"}
        )
    assert answer.status_code == 200
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["id"] for line in lines] == board.jobs
    assert [line["stage"]["id"] for line in lines] == [board.stages[i] for i in (1, 0, 0)]
    move(server, board, 1, 2)  # after the export: not in the file
    sub = await Subscription.open(
        server, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=export["cursor"]
    )
    replayed = await sub.event()
    move(server, board, 2, 1)  # and live ones go on from there
    live = await sub.event()
    await sub.close()
    assert (replayed["job"]["id"], replayed["stageId"]) == (board.jobs[1], board.stages[2])
    assert (live["job"]["id"], live["stageId"]) == (board.jobs[2], board.stages[1])
    assert seq_of(replayed["cursor"]) == seq_of(str(export["cursor"])) + 1
    assert seq_of(live["cursor"]) == seq_of(replayed["cursor"]) + 1
