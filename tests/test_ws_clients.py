"""The websocket protocols against a reference client, Python's `gql`, on both sub-protocols:
a live event, then a resume from its cursor with the event missed meanwhile, and an error
of a subscription (an unknown pipeline) as the client library surfaces it. A real server
process on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

from tests.factories import gid
from tests.live import BOARD_SUBSCRIPTION, MOVE, Board, board_cursor, make_board, seq_of
from tests.servers import ServerProcess, graphql

pytestmark = pytest.mark.slow  # a server process
PROTOCOLS = [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("ws-clients")
    running = ServerProcess(folder, DATABASE_URL=f"sqlite://{folder / 'db.sqlite3'}").start()
    yield running
    running.stop()


def client(server: ServerProcess, board: Board, protocol: str) -> Client:
    transport = WebsocketsTransport(
        url=server.ws_url,
        init_payload={"Authorization": f"Bearer {board.token}"},
        subprotocols=[protocol],
    )
    return Client(transport=transport)


def move(server: ServerProcess, board: Board, job: int, stage: int) -> None:
    answer = graphql(server, board.token, MOVE, j=board.jobs[job], s=board.stages[stage])
    assert answer["moveJob"]["errors"] == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_receives_live_events_and_resumes_from_a_cursor(
    server: ServerProcess, protocol: str
) -> None:
    board = make_board(server, firm=f"Acme {protocol}")
    request = gql(BOARD_SUBSCRIPTION)
    # from just before the last job's creation: that event, replayed, says it is attached
    request.variable_values = {"p": board.pipeline, "after": board_cursor(board, 2)}
    async with client(server, board, protocol) as session:
        events = session.subscribe(request)
        replayed = (await asyncio.wait_for(anext(events), 10))["boardUpdated"]
        await asyncio.to_thread(move, server, board, 0, 1)
        live = (await asyncio.wait_for(anext(events), 10))["boardUpdated"]
        await events.aclose()
    assert (replayed["type"], seq_of(replayed["cursor"])) == ("JOB_CREATED", 3)
    assert (live["type"], live["job"]["id"], seq_of(live["cursor"])) == (
        "JOB_MOVED",
        board.jobs[0],
        4,
    )

    await asyncio.to_thread(move, server, board, 1, 2)  # while nobody watches
    request.variable_values = {"p": board.pipeline, "after": live["cursor"]}
    async with client(server, board, protocol) as session:
        events = session.subscribe(request)
        missed = (await asyncio.wait_for(anext(events), 10))["boardUpdated"]
        await events.aclose()
    assert seq_of(missed["cursor"]) == seq_of(live["cursor"]) + 1
    assert (missed["type"], missed["job"]["id"]) == ("JOB_MOVED", board.jobs[1])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_surfaces_a_subscription_error(server: ServerProcess, protocol: str) -> None:
    board = make_board(server, firm=f"Beta {protocol}")
    request = gql(BOARD_SUBSCRIPTION)
    request.variable_values = {"p": gid("Pipeline", 999_999)}
    async with client(server, board, protocol) as session:
        with pytest.raises(TransportQueryError) as raised:
            async for _ in session.subscribe(request):
                pass
    assert raised.value.errors is not None
    assert raised.value.errors[0]["extensions"] == {"code": "NOT_FOUND", "field": "pipelineId"}
