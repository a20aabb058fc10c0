"""One firm floods a real `python server.py` with websockets and subscription starts (the
shipped limits: MAX_SOCKETS_PER_TOKEN, SUBSCRIPTION_STARTS_PER_10S, ...); another firm's
connection_ack stays quick. The flood runs in a process of its own, so that the figures
measure the server, not this test's event loop.

Every socket here goes to 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import struct
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
import websockets

from tests.live import TRANSPORT_WS, Board, make_board
from tests.reliability.infra import LONG, bearer
from tests.servers import ServerProcess

SOCKETS = 300 if LONG else 200  # the flooding firm's sockets, each with 100 subscriptions
FLOOD = 20.0 if LONG else 8.0  # seconds the other firm's connects are measured
BOARD = "subscription($p: ID!) { boardUpdated(pipelineId: $p) { type } }"


@dataclass
class Target:
    server: ServerProcess
    flooder: Board
    other: Board


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder: Path = tmp_path_factory.mktemp("flood")
    server = ServerProcess(folder, DATABASE_URL=f"sqlite://{folder / 'db.sqlite3'}").start()
    yield Target(
        server,
        make_board(server, jobs=1, firm="Flood CPA"),
        make_board(server, jobs=1, firm="Quiet CPA"),
    )
    server.stop()


# ----------------------------------------------------------------------------- the flood
# Bare frames over asyncio streams: the websockets library would cost the flood more CPU
# than the server spends refusing it.


def _frame(message: dict[str, object]) -> bytes:
    payload, mask = json.dumps(message).encode(), os.urandom(4)
    size = len(payload)
    head = bytes([0x81]) + (
        bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
    )
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


async def _flood_socket(port: int, board: Board, stop: float, tally: Counter[str]) -> None:
    """Connect, init, start 100 subscriptions in one write; read until closed, then again at
    once; every half second stop them all and start them again (churn)."""
    init = _frame({"type": "connection_init", "payload": bearer(board.token)})
    starts = b"".join(
        _frame(
            {
                "id": str(n),
                "type": "subscribe",
                "payload": {"query": BOARD, "variables": {"p": board.pipeline}},
            }
        )
        for n in range(100)
    )
    stops = b"".join(_frame({"id": str(n), "type": "complete"}) for n in range(100))
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {TRANSPORT_WS}"
                "\r\n\r\n".encode()
            )
            await reader.readuntil(b"\r\n\r\n")
            writer.write(init + starts)
            tally["connects"] += 1
            while time.monotonic() < stop:
                try:
                    data = await asyncio.wait_for(reader.read(65536), 0.5)
                except TimeoutError:
                    writer.write(stops + starts)
                    continue
                if not data:
                    break
                tally["rate limited"] += data.count(b"RATE_LIMITED")
                if b"\x88" in data:  # a close frame: connect again at once
                    tally["refused 4429" if b"\x11\x4d" in data else "closed"] += 1
                    break
            writer.close()
        except (OSError, asyncio.IncompleteReadError):
            tally["errors"] += 1
            await asyncio.sleep(0.1)


def flood(port: int, board: Board, seconds: float, report: Connection) -> None:
    """The flooding process: SOCKETS sockets for `seconds`; sends back its tally."""

    async def run() -> Counter[str]:
        tally: Counter[str] = Counter()
        stop = time.monotonic() + seconds
        await asyncio.gather(*(_flood_socket(port, board, stop, tally) for _ in range(SOCKETS)))
        return tally

    report.send(dict(asyncio.run(run())))


# ----------------------------------------------------------------------------- the figure


async def _ack_latency(target: Target) -> float:
    """Seconds from connecting to connection_ack (at least 30 if none came within 30 s)."""
    began = time.monotonic()
    try:
        async with websockets.connect(
            target.server.ws_url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            open_timeout=30,
        ) as ws:
            await ws.send(
                json.dumps({"type": "connection_init", "payload": bearer(target.other.token)})
            )
            ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert ack["type"] == "connection_ack", ack
    except TimeoutError:
        pass
    return time.monotonic() - began


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_another_firms_connection_ack_stays_quick_while_one_firm_floods(
    target: Target,
) -> None:
    quiet = [asyncio.run(_ack_latency(target)) for _ in range(5)]
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    flooder = context.Process(
        target=flood, args=(target.server.port, target.flooder, FLOOD + 4, theirs)
    )
    flooder.start()
    try:
        time.sleep(2)  # pacing: let the flood build up before measuring under it
        during: list[float] = []
        until = time.monotonic() + FLOOD
        while time.monotonic() < until:
            during.append(asyncio.run(_ack_latency(target)))
        tally = ours.recv() if ours.poll(60) else {}
    finally:
        flooder.join(30)
        if flooder.is_alive():
            flooder.kill()
    print(
        f"\nsocket flood: {SOCKETS} sockets of one firm, each starting 100 subscriptions "
        f"and again every 0.5 s, reconnecting at once when closed: {tally}; another firm's "
        f"connection_ack: quiet p50 {percentile(quiet, 0.5) * 1000:.1f} ms; "
        f"{len(during)} during the flood: p50 {percentile(during, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(during, 0.99) * 1000:.1f} ms, max {max(during) * 1000:.1f} ms"
    )
    assert target.server.alive()
    assert tally.get("refused 4429", 0) > 0 and tally.get("rate limited", 0) > 0, tally
    # Before the limits another firm waited 25 s and more. Alone, p99 is ~1 s; beside the
    # suite's other worker (its own servers on the same 2 cores) it reached 7 s in one CI run.
    assert percentile(during, 0.99) < 12.0
