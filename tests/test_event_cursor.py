"""Pipeline.eventCursor: a board read and a subscription from its cursor miss no change, with
no wait between them (a real server process, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.live import BOARD_SUBSCRIPTION, MOVE, Board, Subscription, make_board, seq_of
from tests.servers import ServerProcess, graphql

pytestmark = pytest.mark.slow  # every test here starts server processes

BOARD = """query($p: ID!) { pipeline(id: $p) { eventCursor stages { id
  jobs(first: 10) { edges { node { id version } } } } } }"""


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per backend for the module: each test makes boards of its own."""
    server = ServerProcess(tmp_path_factory.mktemp("cursor"), DATABASE_URL=database_url).start()
    yield server
    server.stop()


def read_board(server: ServerProcess, board: Board) -> dict[str, object]:
    return graphql(server, board.token, BOARD, p=board.pipeline)["pipeline"]


def move(server: ServerProcess, board: Board, job: int, stage: int) -> None:
    answer = graphql(server, board.token, MOVE, j=board.jobs[job], s=board.stages[stage])
    assert answer["moveJob"]["errors"] == []


async def test_changes_made_between_the_read_and_the_subscription_are_replayed(
    server: ServerProcess,
) -> None:
    board = make_board(server)
    cursor = read_board(server, board)["eventCursor"]
    move(server, board, 0, 1)  # after the read, before anyone subscribes
    move(server, board, 1, 2)
    sub = await Subscription.open(
        server, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=cursor
    )
    first, second = await sub.event(), await sub.event()
    move(server, board, 2, 1)  # and live ones go on from there
    third = await sub.event()
    await sub.close()
    assert [e["job"]["id"] for e in (first, second, third)] == board.jobs
    assert [e["stageId"] for e in (first, second, third)] == [board.stages[i] for i in (1, 2, 1)]
    assert seq_of(second["cursor"]) == seq_of(first["cursor"]) + 1
    assert seq_of(third["cursor"]) == seq_of(second["cursor"]) + 1


async def test_the_cursor_moves_with_the_board_and_nothing_is_replayed_twice(
    server: ServerProcess,
) -> None:
    board = make_board(server)
    before = read_board(server, board)["eventCursor"]
    move(server, board, 0, 1)
    after = read_board(server, board)["eventCursor"]
    assert seq_of(after) == seq_of(before) + 1  # type: ignore[arg-type]
    sub = await Subscription.open(
        server, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=after
    )
    move(server, board, 0, 2)
    event = await sub.event()  # the move already in the read board is not sent again
    await sub.close()
    assert (event["job"]["id"], event["stageId"]) == (board.jobs[0], board.stages[2])


async def test_another_pipelines_cursor_is_refused(server: ServerProcess) -> None:
    board = make_board(server)
    other = make_board(server, firm="Other CPA")
    foreign = graphql(server, other.token, BOARD, p=other.pipeline)["pipeline"]["eventCursor"]
    sub = await Subscription.open(
        server, board.token, BOARD_SUBSCRIPTION, p=board.pipeline, after=foreign
    )
    message = await asyncio.wait_for(sub.message(), 10)
    await sub.close()
    assert message["payload"]["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
