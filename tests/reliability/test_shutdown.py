"""Clean shutdown. SIGTERM to a server process with requests in flight (moves and board
queries held inside their transactions by a table lock the test holds) and websockets open:
it stops accepting connections, lets every request in flight finish with 200, closes the
websockets with a going-away code (1001 or 1012, service restart), and exits 0 within a few
seconds. SIGTERM to a worker in the middle of an automation run: it exits 0 and its run is
left to another worker, which runs it exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from tests.databases import create_migrated_database, drop_database
from tests.live import LEGACY_WS, TRANSPORT_WS
from tests.reliability.board import MOVE, new_board, run_account
from tests.reliability.infra import (
    bearer,
    board_cursor,
    board_problems,
    fetch,
    start_all,
    unavailable,
)
from tests.reliability.workers import (
    ENTRIES,
    entries_waiting_for_a_worker,
    hold_lock,
    interrupt_a_worker,
    release,
    runs_done,
    wait_for_lock_waiters,
)
from tests.servers import ServerProcess, migrate_in_a_process

BOARD = """query($p: ID!) { pipeline(id: $p) { stages { name jobs(first: 100) { totalCount
  edges { node { id title version rank client { name } tasks(first: 10) {
  edges { node { title done } } } } } } } } }"""
WATCH = """subscription($p: ID!, $after: String) { boardUpdated(pipelineId: $p, after: $after) {
  cursor } }"""
GOING_AWAY = {1001, 1012}


async def _watcher(
    server: ServerProcess, token: str, pipeline: str, pipeline_pk: int, protocol: str
) -> websockets.ClientConnection:
    """An open websocket with a live board subscription (it has replayed an event)."""
    ws = await websockets.connect(server.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": bearer(token)}))
    await ws.recv()
    start = "subscribe" if protocol == TRANSPORT_WS else "start"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": start,
                "payload": {
                    "query": WATCH,
                    "variables": {"p": pipeline, "after": board_cursor(pipeline_pk, 0)},
                },
            }
        )
    )
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert message["type"] in ("next", "data"), message
    return ws


async def _close_code(ws: websockets.ClientConnection) -> int | None:
    try:
        async with asyncio.timeout(15):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


@dataclass
class Drain:
    answers: list[tuple[int, Any, float]]  # requests in flight at SIGTERM: status, body, took
    codes: list[int | None]  # close codes of the open websockets
    draining: bool  # still alive 1 s after SIGTERM, with requests in flight
    refused: bool  # new connections refused meanwhile
    exit_code: int | None
    exit_after_release: float  # seconds from the last request being able to finish to exit
    moves: int
    problems: list[str]


@pytest.fixture(scope="module")
async def drain(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Drain]:
    """The scenario, once for every assertion below."""
    try:
        url = await create_migrated_database("rel", migrate_in_a_process)
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f"PostgreSQL unreachable: {error}")
    server = ServerProcess(tmp_path_factory.mktemp("sigterm"), DATABASE_URL=url)
    try:
        await start_all([server])
        board = await new_board(server, jobs=6)
        sockets = [
            await _watcher(server, board.token, board.pipeline, board.pipeline_pk, p)
            for p in (TRANSPORT_WS, LEGACY_WS, TRANSPORT_WS)
        ]
        async with httpx.AsyncClient(timeout=60) as http:

            async def post(query: str, **variables: Any) -> tuple[int, Any, float]:
                sent = time.monotonic()
                response = await http.post(
                    f"{server.url}/graphql",
                    headers=bearer(board.token),
                    json={"query": query, "variables": variables},
                )
                return response.status_code, response.json(), time.monotonic() - sent

            lock = await hold_lock(url, "LOCK TABLE job IN ACCESS EXCLUSIVE MODE")
            try:
                in_flight = [
                    asyncio.create_task(post(MOVE, j=job, s=board.stages[1])) for job in board.jobs
                ]
                in_flight += [asyncio.create_task(post(BOARD, p=board.pipeline)) for _ in range(4)]
                await wait_for_lock_waiters(url, count=3)
                await asyncio.sleep(0.5)
                server.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                codes = await asyncio.gather(*(_close_code(ws) for ws in sockets))
                await asyncio.sleep(1)
                draining = server.alive()
                try:
                    await http.get(f"{server.url}/healthz", timeout=2)
                    refused = False
                except httpx.TransportError:
                    refused = True
            finally:
                await release(lock)
            released = time.monotonic()
            answers = await asyncio.gather(*in_flight)
        try:
            exit_code: int | None = await asyncio.to_thread(server.wait, 30)
        except subprocess.TimeoutExpired:
            exit_code = None
        exited = time.monotonic()
        moves = await fetch(url, "SELECT count(*) AS n FROM job_event WHERE type = 'JOB_MOVED'")
        result = Drain(
            answers,
            codes,
            draining,
            refused,
            exit_code,
            exited - released,
            int(moves[0]["n"]),
            await board_problems(url, [board.pipeline_pk]),
        )
        print(
            f"\nshutdown: {len(answers)} requests in flight at SIGTERM answered "
            f"{sorted({a[0] for a in answers})}, the slowest after "
            f"{max(a[2] for a in answers):.1f} s; websockets closed with {codes}; still "
            f"draining 1 s later: {draining}, new connections refused: {refused}; exit code "
            f"{exit_code} {result.exit_after_release:.1f} s after the last request could "
            f"finish ({exited - signalled:.1f} s after SIGTERM); moves committed: "
            f"{result.moves} of {len(board.jobs)}"
        )
        yield result
    finally:
        server.stop()
        await drop_database(url)


async def test_sigterm_lets_requests_in_flight_finish(drain: Drain) -> None:
    assert drain.draining and drain.refused
    assert all(status == 200 and "errors" not in body for status, body, _ in drain.answers)
    assert all(body["data"]["moveJob"]["errors"] == [] for _, body, _ in drain.answers[:6])
    assert drain.moves == 6
    assert drain.problems == []


async def test_sigterm_closes_websockets_with_a_going_away_code(drain: Drain) -> None:
    assert drain.codes and set(drain.codes) <= GOING_AWAY, drain.codes


async def test_sigterm_ends_the_process_within_seconds(drain: Drain) -> None:
    assert drain.exit_code is not None
    assert drain.exit_after_release < 5


async def test_sigterm_ends_the_process_with_exit_code_0(drain: Drain) -> None:
    assert drain.exit_code == 0


async def test_sigterm_to_a_worker_mid_run_releases_the_run_to_another(
    postgres_url: str, logs: Path, processes: list[ServerProcess]
) -> None:
    board, automation = await entries_waiting_for_a_worker(postgres_url, logs, processes)
    before, took, code = await interrupt_a_worker(
        postgres_url, logs, processes, board, signal.SIGTERM
    )
    successor = ServerProcess(logs, "worker", DATABASE_URL=postgres_url)
    processes.append(successor)
    successor.start()
    await runs_done(postgres_url, ENTRIES)
    await asyncio.sleep(1.5)  # every runner polls again: nothing runs twice
    account = await run_account(postgres_url, automation, board.stage_pks[1])
    print(
        f"\nworker shutdown: SIGTERM after {before} of {ENTRIES} runs, mid-run: exit code "
        f"{code} after {took:.1f} s; afterwards {account.runs} runs "
        f"{dict(account.statuses)}, {account.tasks} tasks, attempts at most "
        f"{account.max_attempts}"
    )
    assert code == 0
    assert took < 5
    assert account.problems() == []
    assert account.statuses == {"SUCCEEDED": ENTRIES}
    assert account.tasks == ENTRIES
    assert account.max_attempts == 1
