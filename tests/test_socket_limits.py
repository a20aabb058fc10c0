"""Websockets and subscription starts per token and per firm: over a limit, connection_init is
closed with 4429 and a subscription start is answered with a RATE_LIMITED error; other tokens
and firms carry on. A socket sending too many messages is closed with 4429 too. Against a real
server process with small limits; the start rate's token buckets also as a unit, with a clock
the test moves."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.live import LEGACY_WS, MOVE, TRANSPORT_WS, Board, make_board
from tests.servers import ServerProcess, graphql
from web.sockets import StartLimits
from workflow.scope import Scope

LIMITS = {
    "MAX_SOCKETS_PER_TOKEN": "3",
    "MAX_SOCKETS_PER_FIRM": "4",
    "SUBSCRIPTION_STARTS_PER_10S": "5",
    "FIRM_SUBSCRIPTION_STARTS_PER_10S": "8",
}
BOARD = "subscription($p: ID!) { boardUpdated(pipelineId: $p) { type } }"
CREATE_TOKEN = """mutation { createApiToken(input: {name: "second", scopes: [READ]}) {
  secret errors { code } } }"""


# The limits are counted in the server's memory whatever the database: one backend does.
ONE_BACKEND = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: every test counts against firms (and tokens) of its own."""
    log_dir = tmp_path_factory.mktemp("socket-limits")
    running = ServerProcess(log_dir, DATABASE_URL=database_url, **LIMITS).start()
    yield running
    running.stop()


def firm(server: ServerProcess) -> Board:
    return make_board(server, jobs=1, firm=f"Firm {uuid.uuid4().hex[:6]}")


def second_token(server: ServerProcess, board: Board) -> str:
    return str(graphql(server, board.token, CREATE_TOKEN)["createApiToken"]["secret"])


async def connect(
    server: ServerProcess, token: str, protocol: str = TRANSPORT_WS
) -> tuple[ClientConnection | None, int | None, list[dict[str, Any]]]:
    """(the acknowledged socket, None, []) or (None, its close code, what came before)."""
    ws = await websockets.connect(server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    before: list[dict[str, Any]] = []
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] == "connection_ack":
                return ws, None, []
            before.append(message)
    except websockets.ConnectionClosed as closed:
        return None, closed.rcvd.code if closed.rcvd else None, before


async def connected(server: ServerProcess, token: str) -> ClientConnection:
    ws, code, _ = await connect(server, token)
    assert ws is not None, f"refused with {code}"
    return ws


async def subscribe(ws: ClientConnection, board: Board, ids: range) -> None:
    for number in ids:
        await ws.send(
            json.dumps(
                {
                    "id": str(number),
                    "type": "subscribe",
                    "payload": {"query": BOARD, "variables": {"p": board.pipeline}},
                }
            )
        )


async def messages(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(count)]


def codes(message: dict[str, Any]) -> list[str]:
    payload = message["payload"]
    errors = payload if isinstance(payload, list) else [payload]
    return [error["extensions"]["code"] for error in errors]


@pytest.mark.slow
@ONE_BACKEND
async def test_sockets_over_the_token_and_firm_limits_are_refused_4429(
    server: ServerProcess,
) -> None:
    acme, other = firm(server), firm(server)
    second = second_token(server, acme)
    held = [await connected(server, acme.token) for _ in range(3)]
    try:
        _, code, _ = await connect(server, acme.token)
        assert code == 4429  # the token's 4th socket
        held.append(await connected(server, second))  # the firm's 4th: another token's
        _, code, _ = await connect(server, second)
        assert code == 4429  # the firm's 5th
        held.append(await connected(server, other.token))  # another firm is not concerned

        await held.pop(0).close()  # a socket that goes frees its place
        for _ in range(100):
            ws, code, _ = await connect(server, second)
            if ws is not None:
                held.append(ws)
                break
            assert code == 4429
            await asyncio.sleep(0.1)  # the server notices the close after the client
        else:
            pytest.fail("a closed socket still counts against its firm")
    finally:
        for ws in held:
            await ws.close()


@pytest.mark.slow
@ONE_BACKEND
async def test_the_legacy_protocol_is_refused_the_same_way(server: ServerProcess) -> None:
    acme = firm(server)
    held = [await connected(server, acme.token) for _ in range(3)]
    try:
        _, code, before = await connect(server, acme.token, LEGACY_WS)
        assert code == 4429
        assert [message["type"] for message in before] == ["connection_error"]
    finally:
        for ws in held:
            await ws.close()


@pytest.mark.slow
@ONE_BACKEND
async def test_subscription_starts_over_the_token_and_firm_rates_get_an_error(
    server: ServerProcess,
) -> None:
    acme, other = firm(server), firm(server)
    first = await connected(server, acme.token)
    second = await connected(server, second_token(server, acme))
    bystander = await connected(server, other.token)
    try:
        await subscribe(first, acme, range(1, 7))  # the token may start 5 per 10 s
        [refused] = await messages(first, 1)
        assert (refused["type"], refused["id"], codes(refused)) == ("error", "6", ["RATE_LIMITED"])
        assert refused["payload"][0]["extensions"]["retryAfter"] >= 1

        await subscribe(second, acme, range(1, 5))  # the firm may start 8 per 10 s
        [refused] = await messages(second, 1)
        assert (refused["type"], refused["id"], codes(refused)) == ("error", "4", ["RATE_LIMITED"])

        await subscribe(bystander, other, range(1, 2))
        await asyncio.to_thread(graphql, server, acme.token, MOVE, j=acme.jobs[0], s=acme.stages[1])
        await asyncio.to_thread(
            graphql, server, other.token, MOVE, j=other.jobs[0], s=other.stages[1]
        )
        for ws, started in ((first, 5), (second, 3), (bystander, 1)):
            events = await messages(ws, started)  # the accepted starts are live
            assert sorted((m["type"], m["id"]) for m in events) == [
                ("next", str(n)) for n in range(1, started + 1)
            ]
    finally:
        for ws in (first, second, bystander):
            await ws.close()


@pytest.mark.slow
@ONE_BACKEND
async def test_a_legacy_subscription_start_over_the_rate_gets_an_error(
    server: ServerProcess,
) -> None:
    acme = firm(server)
    ws = await websockets.connect(server.ws_url, subprotocols=[LEGACY_WS])  # type: ignore[list-item]
    try:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {acme.token}"}}
            )
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for number in range(1, 7):
            await ws.send(
                json.dumps(
                    {
                        "id": str(number),
                        "type": "start",
                        "payload": {"query": BOARD, "variables": {"p": acme.pipeline}},
                    }
                )
            )
        received = await messages(ws, 1)
        while received[-1]["type"] == "ka":
            received = await messages(ws, 1)
        [refused] = received
        assert (refused["type"], refused["id"], codes(refused)) == ("error", "6", ["RATE_LIMITED"])
    finally:
        await ws.close()


@pytest.mark.slow
@ONE_BACKEND
async def test_a_socket_sending_too_many_messages_is_closed_4429(server: ServerProcess) -> None:
    """Any message costs the event loop, answered or not: 200 per 10 s, then the socket goes."""
    acme = firm(server)
    ws = await connected(server, acme.token)
    for _ in range(250):
        await ws.send(json.dumps({"type": "ping"}))
    pongs = 0
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            pongs += message["type"] == "pong"
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else None
    assert code == 4429
    assert 190 <= pongs <= 200  # connection_init counted too; a few refilled meanwhile


# ----------------------------------------------------------------------------- the buckets


def test_start_rate_allows_a_burst_then_refills_over_the_window() -> None:
    now = [100.0]
    limits = StartLimits(per_token=4, per_firm=6, window=10.0, clock=lambda: now[0])
    ann, bob = Scope(firm_id=1, user_id=1, token_id=1), Scope(firm_id=1, user_id=2, token_id=2)
    assert [limits.take(ann) for _ in range(4)] == [0.0] * 4
    assert limits.take(ann) == pytest.approx(2.5)  # one start back every 10/4 s
    assert [limits.take(bob) for _ in range(2)] == [0.0] * 2  # the firm's last two
    assert limits.take(bob) == pytest.approx(10 / 6)  # the firm's bucket, not bob's
    now[0] += 2.5
    assert limits.take(ann) == 0.0  # refilled: a token start and a firm start
    assert limits.take(ann) > 0
    now[0] += 60
    assert [limits.take(bob) for _ in range(4)] == [0.0] * 4  # full again, never above
    assert limits.take(bob) > 0


def test_a_refused_start_does_not_count() -> None:
    now = [0.0]
    limits = StartLimits(per_token=1, per_firm=0, window=10.0, clock=lambda: now[0])
    ann = Scope(firm_id=1, user_id=1, token_id=1)
    assert limits.take(ann) == 0.0
    for _ in range(5):
        assert limits.take(ann) > 0
    now[0] += 10
    assert limits.take(ann) == 0.0


def test_zero_means_no_limit() -> None:
    limits = StartLimits(per_token=0, per_firm=0, window=10.0, clock=lambda: 0.0)
    ann = Scope(firm_id=1, user_id=1, token_id=1)
    assert all(limits.take(ann) == 0.0 for _ in range(10_000))
