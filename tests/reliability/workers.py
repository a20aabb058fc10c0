"""Catching a process in the middle of its work: locks held by the test make a change wait
inside its transaction (a worker with its automation run claimed, a request in flight), so a
signal arrives at a known moment."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx

from tests.databases import asyncpg_url
from tests.reliability.board import CLIENT, CREATE_JOB, Board, add_create_task, new_board
from tests.reliability.infra import LONG, fetch, gql, start_all
from tests.servers import ServerProcess

ENTRIES = 150 if LONG else 40


async def hold_lock(url: str, statement: str, *args: object) -> asyncpg.Connection:
    """Open a transaction that takes a lock (`statement`) and keeps it until rolled back."""
    connection = await asyncpg.connect(asyncpg_url(url))
    await connection.execute("BEGIN")
    await connection.execute(statement, *args)
    return connection


async def hold_pipeline_lock(url: str, pipeline_pk: int) -> asyncpg.Connection:
    """Lock a pipeline row as a change would: every change of that board waits for it."""
    return await hold_lock(url, "SELECT id FROM pipeline WHERE id = $1 FOR UPDATE", pipeline_pk)


async def release(connection: asyncpg.Connection) -> None:
    await connection.execute("ROLLBACK")
    await connection.close()


async def lock_waiters(url: str) -> int:
    """Sessions of this database waiting for a lock."""
    database = url.rpartition("/")[2]
    [row] = await fetch(
        url,
        """SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = $1 AND wait_event_type = 'Lock'""",
        database,
    )
    return int(row["n"])


async def wait_for_lock_waiters(url: str, count: int = 1, within: float = 30) -> None:
    async with asyncio.timeout(within):
        while True:
            if await lock_waiters(url) >= count:
                return
            await asyncio.sleep(0.05)


async def runs_done(url: str, at_least: int, within: float = 60) -> int:
    """Until `at_least` automation runs have finished (succeeded, skipped or failed)."""
    async with asyncio.timeout(within):
        while True:
            [row] = await fetch(
                url, "SELECT count(*) AS n FROM automation_run WHERE status <> 'PENDING'"
            )
            if row["n"] >= at_least:
                return int(row["n"])
            await asyncio.sleep(0.05)


async def entries_waiting_for_a_worker(
    url: str, logs: Path, processes: list[ServerProcess]
) -> tuple[Board, int]:
    """A serving process that runs no automation, and ENTRIES jobs created straight into a
    stage with a CREATE_TASK automation: ENTRIES runs wait for a worker."""
    server = ServerProcess(logs, "--no-runner", DATABASE_URL=url)
    processes.append(server)
    await start_all([server])
    board = await new_board(server, jobs=0)
    automation = await add_create_task(server, board, board.stages[1])
    async with httpx.AsyncClient(timeout=30) as http:
        client = (await gql(http, server, board.token, CLIENT))["createClient"]["client"]["id"]

        async def create(n: int) -> str:
            data = await gql(
                http,
                server,
                board.token,
                CREATE_JOB,
                p=board.pipeline,
                c=client,
                s=board.stages[1],
                t=f"job {n}",
            )
            return str(data["createJob"]["job"]["id"])

        for chunk in range(0, ENTRIES, 20):
            board.jobs += await asyncio.gather(
                *(create(n) for n in range(chunk, min(chunk + 20, ENTRIES)))
            )
    return board, automation


async def interrupt_a_worker(
    url: str,
    logs: Path,
    processes: list[ServerProcess],
    board: Board,
    signal_number: int,
) -> tuple[int, float, int | None]:
    """Let a worker do some of the runs, catch it in the middle of one (its run claimed, its
    transaction waiting for the pipeline lock we hold), send it `signal_number`, then let the
    lock go. (Runs done before, seconds it took to exit, its exit code or None if it had not
    exited 10 s after the signal; it is killed then.)"""
    worker = ServerProcess(logs, "worker", DATABASE_URL=url)
    processes.append(worker)
    worker.start()
    before = await runs_done(url, ENTRIES // 4)
    lock = await hold_pipeline_lock(url, board.pipeline_pk)
    try:
        await wait_for_lock_waiters(url)
        signalled = time.monotonic()
        worker.send_signal(signal_number)
        try:
            code: int | None = await asyncio.to_thread(worker.wait, 10)
        except subprocess.TimeoutExpired:
            code = None
            worker.kill()
        exited = time.monotonic() - signalled
    finally:
        await release(lock)
    return before, exited, code
