"""A websocket GraphQL client for both sub-protocols, and a small board to watch."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from models import keys
from schema.feed_cursors import FEED_CURSOR
from tests.servers import ServerProcess, graphql
from workflow.global_ids import parse_id

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
BOARD_SUBSCRIPTION = """subscription($p: ID!, $after: String) {
  boardUpdated(pipelineId: $p, after: $after) {
    cursor type stageId fromStageId pipelineId occurredAt job { id title version }
  } }"""
MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  job { version } errors { code } } }"""


class Progress:
    """A count that one thread advances and another waits on."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = threading.Condition()

    def step(self) -> None:
        with self._changed:
            self.count += 1
            self._changed.notify_all()

    def wait_for(self, count: int, within: float = 60) -> None:
        with self._changed:
            reached = self._changed.wait_for(lambda: self.count >= count, within)
        assert reached, f"{self.count} of {count} steps after {within} s"


class Subscription:
    """One subscription over its own websocket."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws, self.protocol = ws, protocol

    @classmethod
    async def open(
        cls,
        server: ServerProcess,
        token: str | None,
        query: str,
        protocol: str = TRANSPORT_WS,
        **variables: Any,
    ) -> Subscription:
        ws = await websockets.connect(server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
        payload = {"Authorization": f"Bearer {token}"} if token is not None else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        start = "subscribe" if protocol == TRANSPORT_WS else "start"
        await ws.send(
            json.dumps(
                {"id": "1", "type": start, "payload": {"query": query, "variables": variables}}
            )
        )
        return cls(ws, protocol)

    @classmethod
    async def attached(
        cls,
        server: ServerProcess,
        token: str,
        query: str,
        after: str,
        protocol: str = TRANSPORT_WS,
        **variables: Any,
    ) -> tuple[Subscription, dict[str, Any]]:
        """A subscription known to be attached to its feed, and its first event: it resumes
        `after` a cursor just before an event already in the log, and is returned once that
        event has arrived. The server joins the feed before it replays, so whatever commits
        from then on reaches the subscription. (Without this, a change committed before the
        server has joined is, rightly, not an event of a subscription "from now on".)"""
        sub = await cls.open(server, token, query, protocol, after=after, **variables)
        return sub, await sub.event()

    async def message(self, wait: float = 10) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.ws.recv(), wait)))

    async def event(self, wait: float = 10) -> dict[str, Any]:
        """The next event's data; fails on anything else."""
        message = await self.message(wait)
        assert message["type"] in ("next", "data"), message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return next(iter(data.values()))

    async def close(self) -> None:
        await self.ws.close()


async def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the connection; the code it closed with."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def seq_of(cursor: str) -> int:
    """The position a board cursor names (opaque to clients; the suite shares the servers'
    key, tests.conftest)."""
    return int((keys.unseal(cursor, FEED_CURSOR) or b"").decode().split(":")[2])


def feed_cursor(raw: str) -> str:
    """The cursor a server would give for `kind:id:position`."""
    return keys.seal(raw.encode(), FEED_CURSOR)


@dataclass
class Board:
    token: str
    pipeline: str
    stages: list[str]
    jobs: list[str]


def board_cursor(board: Board, seq: int) -> str:
    """The cursor of the board's event `seq` (its jobs' creations are events 1..jobs)."""
    return feed_cursor(f"pipeline:{parse_id(board.pipeline, 'p')[1]}:{seq}")


def job_cursor(job: str, position: int) -> str:
    """The cursor of a job's feed at an event id (0: before all of them)."""
    return feed_cursor(f"job:{parse_id(job, 'job')[1]}:{position}")


async def watch_board(
    server: ServerProcess,
    token: str,
    board: Board,
    protocol: str = TRANSPORT_WS,
    last: int | None = None,
) -> Subscription:
    """boardUpdated, attached (Subscription.attached): it has received the board's event
    `last` (by default the last job's creation) and will receive every later one."""
    last = len(board.jobs) if last is None else last
    after = board_cursor(board, last - 1)
    sub, event = await Subscription.attached(
        server, token, BOARD_SUBSCRIPTION, after, protocol, p=board.pipeline
    )
    assert seq_of(event["cursor"]) == last, event
    return sub


def make_board(server: ServerProcess, jobs: int = 3, firm: str = "Acme CPA") -> Board:
    owner = json.loads(server.cli("create-firm", firm, "--owner-email", "owner@acme.test"))
    token = owner["token"]
    pipeline = graphql(
        server,
        token,
        """mutation { createPipeline(input: {name: "1040 Return",
        stageNames: ["Review Docs", "Prepare Return", "Review"]}) {
        pipeline { id stages { id } } } }""",
    )["createPipeline"]["pipeline"]
    client = graphql(
        server,
        token,
        """mutation { createClient(input: {name: "Avery"}) {
        client { id } } }""",
    )["createClient"]["client"]["id"]
    ids = [
        graphql(
            server,
            token,
            """mutation($p: ID!, $c: ID!, $t: String!) {
            createJob(input: {pipelineId: $p, clientId: $c, title: $t}) { job { id } } }""",
            p=pipeline["id"],
            c=client,
            t=f"job {n}",
        )["createJob"]["job"]["id"]
        for n in range(jobs)
    ]
    return Board(token, pipeline["id"], [s["id"] for s in pipeline["stages"]], ids)


class RawWebSocket:
    """A bare-bones websocket client over a plain socket that reads only when told to, so a
    test can play a client that stops reading (libraries keep reading into their buffers)."""

    def __init__(self, port: int, protocol: str = TRANSPORT_WS) -> None:
        self.sock = socket.socket()
        # A fixed receive buffer (no autotuning), so that not reading soon stops the sender.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n".encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, message: dict[str, Any]) -> None:
        payload, mask = json.dumps(message).encode(), os.urandom(4)
        size = len(payload)
        header = bytes([0x81]) + (
            bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed without a close frame")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(size)

    def close_code(self, wait: float = 30) -> int:
        """Read everything the server sent until its close frame; the code in it."""
        self.sock.settimeout(wait)
        while True:
            opcode, payload = self.frame()
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])
