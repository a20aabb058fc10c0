"""Websocket abuse against a real server process (graphql-transport-ws, and the legacy
graphql-ws where it differs): each misbehaving client gets its protocol close code, the
server lives on, and a thousand connect/disconnect cycles leave no memory, file descriptor or
broker subscription behind.

One server for the module (SQLite, with a private Redis so that its board subscriptions can
be counted from outside)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis as redis_client
import websockets

from tests.live import LEGACY_WS, MOVE, TRANSPORT_WS, RawWebSocket, make_board
from tests.reliability.board import Board
from tests.reliability.infra import LONG, bearer, board_cursor, unavailable, until
from tests.servers import RedisProcess, ServerProcess, graphql

CYCLES = 3000 if LONG else 1000
FD_SLACK = 10  # pooled connections to Redis and the database; a leak would be one per cycle
BOARD = "subscription($p: ID!) { boardUpdated(pipelineId: $p) { cursor type } }"
REPLAY = """subscription($p: ID!, $after: String) { boardUpdated(pipelineId: $p, after: $after) {
  cursor type } }"""


@dataclass
class Target:
    server: ServerProcess
    board: Board
    redis: RedisProcess

    @property
    def init(self) -> dict[str, Any]:
        return {"type": "connection_init", "payload": bearer(self.board.token)}

    def subscribe(self, operation_id: str = "1", protocol: str = TRANSPORT_WS) -> dict[str, Any]:
        return {
            "id": operation_id,
            "type": "subscribe" if protocol == TRANSPORT_WS else "start",
            "payload": {"query": BOARD, "variables": {"p": self.board.pipeline}},
        }

    def socket(self, protocol: str = TRANSPORT_WS) -> RawWebSocket:
        """A socket that has been acknowledged."""
        ws = RawWebSocket(self.server.port, protocol)
        ws.send(self.init)
        assert b"connection_ack" in ws.frame()[1]
        return ws

    def board_subscriptions(self) -> int:
        """Redis subscriptions to the board's channel: one per process that watches it."""
        client = redis_client.Redis.from_url(self.redis.url)
        try:
            channel = f"pipeline:{self.board.pipeline_pk}"
            return int(client.pubsub_numsub(channel)[0][1])
        finally:
            client.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    folder = tmp_path_factory.mktemp("websockets")
    redis = RedisProcess().start()
    # Its thousand connect/subscribe cycles share one token: no subscription start rate.
    server = ServerProcess(
        folder,
        DATABASE_URL=f"sqlite://{folder / 'db.sqlite3'}",
        REDIS_URL=redis.url,
        SUBSCRIPTION_STARTS_PER_10S="0",
        FIRM_SUBSCRIPTION_STARTS_PER_10S="0",
    ).start()
    made = make_board(server, jobs=2)
    yield Target(server, Board(made.token, made.pipeline, made.stages, made.jobs), redis)
    server.stop()
    redis.stop()


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame of any size (RawWebSocket.send stops at 64 KB of text)."""
    mask, size = os.urandom(4), len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 1 << 16:
        length = bytes([0x80 | 126]) + struct.pack("!H", size)
    else:
        length = bytes([0x80 | 127]) + struct.pack("!Q", size)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big") if size else b""
    return bytes([0x80 | opcode]) + length + mask + masked


def outcome(ws: RawWebSocket, wait: float = 10) -> str:
    """How the server ended it: 'close 4400', 'dropped' (no close frame), or 'open'."""
    try:
        return f"close {ws.close_code(wait)}"
    except (ConnectionError, ConnectionResetError):
        return "dropped"
    except TimeoutError:
        return "open"
    finally:
        ws.sock.close()


# ----------------------------------------------------------------------------- the protocol


def test_no_connection_init_within_a_few_seconds_is_closed_4408(target: Target) -> None:
    ws = RawWebSocket(target.server.port)
    started = time.monotonic()
    ended = outcome(ws, wait=15)
    waited = time.monotonic() - started
    print(f"\nwebsocket: no connection_init: {ended} after {waited:.1f} s")
    assert ended == "close 4408"
    assert waited < 10


def test_a_second_connection_init_is_closed_4429(target: Target) -> None:
    ws = target.socket()
    ws.send(target.init)
    assert outcome(ws) == "close 4429"


def test_subscribe_before_the_ack_is_closed_4401(target: Target) -> None:
    ws = RawWebSocket(target.server.port)
    ws.send(target.subscribe())
    assert outcome(ws) == "close 4401"


def test_a_duplicate_operation_id_is_closed_4409(target: Target) -> None:
    ws = target.socket()
    ws.send(target.subscribe("same"))
    ws.send(target.subscribe("same"))
    assert outcome(ws) == "close 4409"


def test_too_many_subscriptions_on_one_socket_are_refused(target: Target) -> None:
    ws = target.socket()
    for number in range(200):
        ws.send(target.subscribe(str(number)))
    refused: list[str] = []
    ws.sock.settimeout(3)
    try:
        while True:
            opcode, data = ws.frame()
            if opcode == 0x8:
                refused.append(f"close {struct.unpack('!H', data[:2])[0]}")
                break
            message = json.loads(data)
            if message["type"] == "error":
                refused.append(message["id"])
    except TimeoutError:
        pass
    ws.sock.close()
    accepted = 200 - len(refused)
    print(
        f"\nwebsocket: 200 subscriptions on one socket: {accepted} accepted, {len(refused)} refused"
    )
    assert refused, "no limit: every subscription was accepted"
    assert accepted <= 100


# ----------------------------------------------------------------------------- bad frames

GARBAGE = [
    pytest.param(frame(0x1, b"not json {"), TRANSPORT_WS, "close 4400", id="not-json"),
    pytest.param(frame(0x2, b"\x00\x01\xff binary"), TRANSPORT_WS, "close 4400", id="binary"),
    pytest.param(frame(0x1, b"{}"), TRANSPORT_WS, "close 4400", id="no-type"),
    pytest.param(frame(0x1, b'{"type": 5}'), TRANSPORT_WS, "close 4400", id="type-not-a-string"),
    pytest.param(
        frame(0x1, b'{"type": "subscribe", "payload": {"query": "{ viewer { id } }"}}'),
        TRANSPORT_WS,
        "close 4400",
        id="subscribe-without-id",
    ),
    pytest.param(
        frame(0x1, b"\xff\xfe invalid utf-8"), TRANSPORT_WS, "close 1007", id="text-not-utf8"
    ),
    *[
        pytest.param(frame(0x1, raw), protocol, "close 4400", id=f"{name}-{protocol}")
        for name, raw in [
            ("array", b"[1, 2]"),
            ("string", b'"connection_init"'),
            ("number", b"5"),
            ("null", b"null"),
        ]
        for protocol in (TRANSPORT_WS, LEGACY_WS)
    ],
    *[
        pytest.param(
            frame(0x1, json.dumps({"id": "1", "type": "subscribe", "payload": payload}).encode()),
            TRANSPORT_WS,
            "close 4400",
            id=f"subscribe-payload-{name}",
        )
        for name, payload in [("string", "x"), ("null", None)]
    ],
    *[
        pytest.param(
            frame(0x1, json.dumps({"id": "1", "type": "subscribe", "payload": payload}).encode()),
            TRANSPORT_WS,
            "close 4400",
            id=f"subscribe-{name}",
        )
        for name, payload in [
            ("query-int", {"query": 5}),
            ("variables-list", {"query": BOARD, "variables": [1]}),
        ]
    ],
]


@pytest.mark.parametrize(("raw", "protocol", "expected"), GARBAGE)
def test_a_garbage_frame_is_closed_with_its_code(
    target: Target, raw: bytes, protocol: str, expected: str
) -> None:
    ws = target.socket(protocol)
    ws.sock.sendall(raw)
    ended = outcome(ws, wait=5)
    if ended == "open":  # maybe answered with an error message instead: show what
        ended = "open (no close)"
    assert target.server.alive()
    assert ended == expected


def test_an_oversized_frame_is_closed_1009_and_others_carry_on(target: Target) -> None:
    async def scenario() -> tuple[str, str]:
        url, protocols = target.server.ws_url, [TRANSPORT_WS]
        async with websockets.connect(url, subprotocols=protocols) as bystander:  # type: ignore[arg-type]
            await bystander.send(json.dumps(target.init))
            await bystander.recv()
            await bystander.send(json.dumps(target.subscribe()))
            await asyncio.sleep(0.3)
            big = target.socket()
            message = json.dumps({"type": "ping", "payload": {"x": "a" * 2_000_000}})
            big.sock.sendall(frame(0x1, message.encode()))
            ended = await asyncio.to_thread(outcome, big)
            await asyncio.to_thread(
                graphql,
                target.server,
                target.board.token,
                MOVE,
                j=target.board.jobs[0],
                s=target.board.stages[1],
            )
            event = json.loads(await asyncio.wait_for(bystander.recv(), 10))
            return ended, event["payload"]["data"]["boardUpdated"]["type"]

    ended, seen = asyncio.run(scenario())
    print(f"\nwebsocket: a 2 MB frame: {ended}; another socket then got {seen}")
    assert ended == "close 1009"
    assert seen == "JOB_MOVED"
    assert target.server.alive()


# ----------------------------------------------------------------------------- hygiene


async def _cycle(target: Target, number: int, live: bool) -> None:
    """Connect, subscribe to the board, leave: once the subscription is live (it replayed an
    event), or at once."""
    protocol = TRANSPORT_WS if number % 2 else LEGACY_WS
    subscribe = target.subscribe("1", protocol)
    if live:
        subscribe["payload"]["variables"]["after"] = board_cursor(target.board.pipeline_pk, 0)
        subscribe["payload"]["query"] = REPLAY
    async with websockets.connect(target.server.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps(target.init))
        await ws.recv()
        await ws.send(json.dumps(subscribe))
        if live:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert message["type"] in ("next", "data"), message


async def _cycles(target: Target, count: int, live: bool, start: int = 0) -> float:
    began = time.monotonic()
    for batch in range(start, start + count, 10):
        await asyncio.gather(*(_cycle(target, n, live) for n in range(batch, batch + 10)))
    return time.monotonic() - began


def _settled(target: Target, fds: int, within: float = 15) -> None:
    """Until the server has let go of every subscription and socket (a few descriptors of
    connection pools may come and go); fails if it does not."""
    try:
        asyncio.run(
            until(
                lambda: (
                    target.board_subscriptions() == 0 and target.server.open_fds() <= fds + FD_SLACK
                ),
                within=within,
                step=0.2,
            )
        )
    except TimeoutError:
        pytest.fail(
            f"still {target.board_subscriptions()} board subscriptions in Redis and "
            f"{target.server.open_fds()} fds (at first {fds})"
        )


def test_a_thousand_connect_disconnect_cycles_leave_nothing_behind(target: Target) -> None:
    _settled(target, target.server.open_fds() + 64)
    asyncio.run(_cycles(target, 100, live=True))  # warm every cache and pool
    _settled(target, target.server.open_fds() + 64)
    time.sleep(0.5)
    rss, fds = target.server.rss_kb(), target.server.open_fds()
    took = asyncio.run(_cycles(target, CYCLES, live=True, start=100))
    _settled(target, fds)
    time.sleep(0.5)
    grown, fds_after = target.server.rss_kb() - rss, target.server.open_fds()
    print(
        f"\nwebsocket: {CYCLES} connect/subscribe/disconnect cycles in {took:.1f} s: RSS "
        f"{rss / 1024:.1f} MB -> {(rss + grown) / 1024:.1f} MB ({grown:+d} KB), fds "
        f"{fds} -> {fds_after}, board subscriptions in Redis after: "
        f"{target.board_subscriptions()}"
    )
    assert target.server.alive()
    assert target.board_subscriptions() == 0
    assert fds_after <= fds + FD_SLACK
    assert grown < 5 * 1024, f"RSS grew {grown} KB over {CYCLES} cycles"


def test_leaving_right_after_subscribing_leaves_nothing_behind(target: Target) -> None:
    """Runs after the cycles test above, which a subscription left behind would disturb."""
    fds = target.server.open_fds()

    async def one_by_one() -> float:
        began = time.monotonic()
        for number in range(100):
            await _cycle(target, number, live=False)
        return time.monotonic() - began

    took = asyncio.run(one_by_one())
    print(f"\nwebsocket: 100 subscribe-and-leave-at-once cycles in {took:.1f} s")
    _settled(target, fds, within=8)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
def test_a_subscription_with_a_syntax_error_is_told_so(target: Target, protocol: str) -> None:
    ws = target.socket(protocol)
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    ws.send({"id": "1", "type": start, "payload": {"query": "subscription {"}})
    ws.sock.settimeout(3)
    answer = b""
    try:
        opcode, answer = ws.frame()
    except TimeoutError:
        pass
    ws.sock.close()
    assert b"Syntax Error" in answer, answer
