"""Slowloris against a real `python server.py`: connections that send their request head or
body slowly (or never finish it) are closed once HEADER_TIMEOUT_SECONDS / BODY_TIMEOUT_SECONDS
have passed, other clients are served meanwhile, and a process holds at most MAX_CONNECTIONS
connections (websockets included): the next ones are refused and the server lives on.

Every socket here goes to 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live import TRANSPORT_WS, RawWebSocket
from tests.reliability.infra import KEEPALIVE, LONG, bearer, until
from tests.servers import ServerProcess

ATTACKERS = 2000 if LONG else 1000
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
SLACK = 6.0  # a loaded 2-core machine; without the timeouts these connections never close
VIEWER = "{ viewer { id } }"


@dataclass
class Target:
    server: ServerProcess
    token: str


def _start(folder: Path, **env: str) -> Target:
    server = ServerProcess(folder, DATABASE_URL=f"sqlite://{folder / 'db.sqlite3'}", **env).start()
    owner = json.loads(server.cli("create-firm", "Acme CPA", "--owner-email", "o@acme.test"))
    return Target(server, owner["token"])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A server with short timeouts and room for the whole attack (the cap is tested apart)."""
    started = _start(
        tmp_path_factory.mktemp("slowloris"),
        HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        MAX_CONNECTIONS=str(ATTACKERS + 200),
    )
    yield started
    started.server.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _ended(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """Everything the server sent until it closed the connection, and when that was; raises
    TimeoutError if it is still open after `within` s."""
    received = b""
    async with asyncio.timeout(within):
        while chunk := await reader.read(65536):
            received += chunk
    return received, time.monotonic()


async def _served_meanwhile(target: Target, stop: asyncio.Event) -> list[float]:
    """A well-behaved client's request latencies (s) until `stop`; each must succeed."""
    took: list[float] = []
    async with httpx.AsyncClient(timeout=30, limits=KEEPALIVE) as http:
        while not stop.is_set():
            sent = time.monotonic()
            response = await http.post(
                f"{target.server.url}/graphql", headers=bearer(target.token), json={"query": VIEWER}
            )
            took.append(time.monotonic() - sent)
            assert response.status_code == 200, response.text
            await asyncio.sleep(0.02)
    return took


def _report(what: str, closed: list[float], latencies: list[float]) -> None:
    print(
        f"\nslowloris: {what}: closed after p50 {statistics.median(closed):.2f} s, max "
        f"{max(closed):.2f} s; meanwhile {len(latencies)} requests of another client: p50 "
        f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 "
        f"{percentile(latencies, 0.99) * 1000:.1f} ms"
    )


# ----------------------------------------------------------------------------- slow heads


def test_a_thousand_half_sent_heads_are_closed_and_others_are_served(target: Target) -> None:
    async def scenario() -> tuple[list[bytes], list[float], list[float], int]:
        fds = target.server.open_fds()
        opened: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        for _ in range(ATTACKERS):
            reader, writer = await asyncio.open_connection("127.0.0.1", target.server.port)
            writer.write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl")
            opened.append((reader, writer))
        began = time.monotonic()
        stop = asyncio.Event()
        client = asyncio.create_task(_served_meanwhile(target, stop))
        try:
            ends = await asyncio.gather(
                *(_ended(reader, HEADER_TIMEOUT + SLACK) for reader, _ in opened)
            )
        finally:
            stop.set()
            latencies = await client
            for _, writer in opened:
                writer.close()
        await until(lambda: target.server.open_fds() <= fds + 10, within=10)
        return (
            [data for data, _ in ends],
            [at - began for _, at in ends],
            latencies,
            target.server.open_fds() - fds,
        )

    try:
        answers, closed, latencies, fds_grown = asyncio.run(scenario())
    except TimeoutError:
        pytest.fail(
            f"half-sent request heads still open {HEADER_TIMEOUT + SLACK:.0f} s after "
            f"HEADER_TIMEOUT_SECONDS={HEADER_TIMEOUT}"
        )
    _report(
        f"{ATTACKERS} half-sent heads (HEADER_TIMEOUT_SECONDS={HEADER_TIMEOUT:.0f})",
        closed,
        latencies,
    )
    assert {answer[:12] for answer in answers} <= {b"", b"HTTP/1.1 408"}
    assert max(closed) < HEADER_TIMEOUT + SLACK
    assert latencies and percentile(latencies, 0.99) < 2.0
    assert target.server.alive() and fds_grown <= 10


@pytest.mark.parametrize("after_a_request", [False, True], ids=["first-head", "keep-alive"])
def test_a_head_trickled_byte_by_byte_is_cut_at_the_deadline(
    target: Target, after_a_request: bool
) -> None:
    """The deadline counts from the head's start, however steadily bytes keep coming; on a
    keep-alive connection it applies to every request's head."""

    async def trickle() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", target.server.port)
        if after_a_request:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            await reader.readexactly(
                int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            )
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        began = time.monotonic()
        ended = asyncio.create_task(_ended(reader, HEADER_TIMEOUT + SLACK))
        try:
            while not ended.done():
                writer.write(b"a")
                await asyncio.sleep(0.2)  # pacing of the attack, not synchronisation
            received, at = await ended
        finally:
            writer.close()
        return received, at - began

    received, after = asyncio.run(trickle())
    print(f"\nslowloris: a head trickled a byte every 0.2 s: closed after {after:.2f} s")
    assert received[:12] in (b"", b"HTTP/1.1 408")
    assert after < HEADER_TIMEOUT + SLACK


def test_an_endless_head_is_refused_before_it_fills_the_memory(target: Target) -> None:
    """Within the deadline a client could send gigabytes of one header line; the parser would
    keep it all."""

    async def scenario() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", target.server.port)
        writer.write(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
        )
        try:
            received, _ = await _ended(reader, HEADER_TIMEOUT + SLACK)
        finally:
            writer.close()
        return received

    received = asyncio.run(scenario())
    assert received.startswith(b"HTTP/1.1 431"), received[:100]


# ----------------------------------------------------------------------------- slow bodies


async def _slow_body(target: Target, path: str, head: bytes) -> tuple[bytes, float]:
    """Send a head announcing 10,000 bytes, then the body a byte every 0.2 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", target.server.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        f"\r\nContent-Length: 10000\r\n".encode()
        + head
        + b'\r\n{"query": "'
    )
    began = time.monotonic()
    ended = asyncio.create_task(_ended(reader, BODY_TIMEOUT + SLACK))
    try:
        while not ended.done():
            writer.write(b" ")
            await asyncio.sleep(0.2)
        received, at = await ended
    finally:
        writer.close()
    return received, at - began


def test_a_slow_body_is_answered_408_and_closed(target: Target) -> None:
    try:
        received, after = asyncio.run(
            _slow_body(target, "/graphql", f"Authorization: Bearer {target.token}\r\n".encode())
        )
    except TimeoutError:
        pytest.fail(
            f"a slow body still open {BODY_TIMEOUT + SLACK:.0f} s after "
            f"BODY_TIMEOUT_SECONDS={BODY_TIMEOUT}"
        )
    print(f"\nslowloris: a body trickled a byte every 0.2 s: {received[:12]!r} after {after:.2f} s")
    assert received.startswith(b"HTTP/1.1 408"), received
    assert b"REQUEST_TIMEOUT" in received
    assert after < BODY_TIMEOUT + SLACK


def test_a_body_nobody_reads_is_not_kept_open_either(target: Target) -> None:
    """A route that answers without reading the body (405 here): the connection would live
    as long as the body trickles in."""
    try:
        received, after = asyncio.run(_slow_body(target, "/healthz", b""))
    except TimeoutError:
        pytest.fail("a trickled body nobody reads keeps its connection open")
    assert received.startswith(b"HTTP/1.1 405"), received
    assert after < BODY_TIMEOUT + SLACK


# ----------------------------------------------------------------------------- the cap

CAP = 40


def test_connections_beyond_max_connections_are_refused_and_the_server_lives_on(
    tmp_path: Path,
) -> None:
    """CAP connections held open (sockets with unfinished heads and acknowledged websockets):
    further connections are refused (503, or closed without an answer); once they go, the
    server serves again."""
    capped = _start(tmp_path, MAX_CONNECTIONS=str(CAP), HEADER_TIMEOUT_SECONDS="60")
    try:
        sockets = []
        for _ in range(CAP // 4):
            ws = RawWebSocket(capped.server.port, TRANSPORT_WS)
            ws.send({"type": "connection_init", "payload": bearer(capped.token)})
            assert b"connection_ack" in ws.frame()[1]
            sockets.append(ws.sock)
        for _ in range(CAP - len(sockets)):
            sock = socket.create_connection(("127.0.0.1", capped.server.port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sockets.append(sock)

        outcomes: list[str] = []
        for _ in range(20):
            try:
                response = httpx.get(f"{capped.server.url}/healthz", timeout=5)
                outcomes.append(str(response.status_code))
            except httpx.TransportError as error:
                outcomes.append(type(error).__name__)
        print(
            f"\nslowloris: MAX_CONNECTIONS={CAP} held: 20 more connections got "
            f"{sorted(set(outcomes))}"
        )
        assert capped.server.alive()
        assert "200" not in outcomes and set(outcomes) <= {
            "503",
            "RemoteProtocolError",
            "ReadError",
            "ConnectError",
            "WriteError",
        }
        assert "503" in outcomes  # most see the answer; a few may lose it to a reset

        for sock in sockets:
            sock.close()

        def serves() -> bool:
            try:
                return httpx.get(f"{capped.server.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        asyncio.run(until(serves, within=10, step=0.1))
    finally:
        capped.server.stop()
