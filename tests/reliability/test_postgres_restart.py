"""PostgreSQL restarted under traffic. Not the shared server: a private cluster (initdb into a
temporary folder, a free port), stopped with `pg_ctl stop -m fast` while a server process
takes a stream of moves, left down for a few seconds, started again.

While it is down every request is answered quickly with a JSON GraphQL error (no hang, no
traceback, no driver detail) that tells the client to retry; the server recovers by itself;
and no change was half written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.databases import create_database
from tests.reliability.board import new_board, pk
from tests.reliability.infra import (
    LONG,
    Answer,
    MoveStream,
    board_problems,
    fetch,
    no_traceback,
    start_all,
    unavailable,
    until,
)
from tests.servers import PostgresProcess, ServerProcess

DOWN = 15.0 if LONG else 3.0
DRIVER_WORDS = (
    "asyncpg",
    "tortoise",
    "connect call failed",
    "connection refused",
    "errno",
    "postgres",
    "sqlstate",
    "127.0.0.1",
)


@dataclass
class Outage:
    answers: list[Answer]
    down: float  # when PostgreSQL had stopped
    up: float  # when it was started again
    readiness: list[tuple[float, int, object]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unknown_versions: list[tuple[str, int]] = field(default_factory=list)
    alive: bool = True

    @property
    def while_down(self) -> list[Answer]:
        return [a for a in self.answers if self.down <= a.sent and a.sent + a.took <= self.up]

    @property
    def recovered(self) -> float | None:
        """Seconds after the restart until the first acknowledged move."""
        after = [a.sent + a.took for a in self.answers if a.ok and a.sent >= self.up]
        return min(after) - self.up if after else None


async def _poll_readiness(
    url: str, seen: list[tuple[float, int, object]], stop: asyncio.Event
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        while not stop.is_set():
            try:
                response = await http.get(f"{url}/readyz")
                seen.append((time.monotonic(), response.status_code, response.json()))
            except (httpx.HTTPError, ValueError) as error:
                seen.append((time.monotonic(), 0, repr(error)))
            await asyncio.sleep(0.25)


@pytest.fixture(scope="module")
async def outage(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Outage]:
    """The scenario, once for every assertion below."""
    try:
        postgres = PostgresProcess()
    except RuntimeError as missing:
        unavailable(str(missing))
    server: ServerProcess | None = None
    try:
        postgres.init().start()
        url = await create_database("rel", postgres.admin_url)
        server = ServerProcess(tmp_path_factory.mktemp("pg-restart"), DATABASE_URL=url)
        await start_all([server])
        board = await new_board(server, jobs=4)
        readiness: list[tuple[float, int, object]] = []
        stop = asyncio.Event()
        poller = asyncio.create_task(_poll_readiness(server.url, readiness, stop))
        stream = MoveStream([server], board.token, board.jobs, board.stages, timeout=40).start()
        await until(lambda: len(stream.acknowledged()) >= 20, within=30)
        await asyncio.to_thread(postgres.stop, "fast")
        down = time.monotonic()
        await asyncio.sleep(DOWN)
        up = time.monotonic()
        await asyncio.to_thread(postgres.start)
        result = Outage(stream.answers, down, up, readiness)
        try:
            await until(lambda: result.recovered is not None, within=30, step=0.2)
            # /readyz samples past the recovery, for the last test
            settled = up + (result.recovered or 0) + 0.5
            await until(lambda: sum(t > settled for t, _, _ in readiness) >= 4, within=10)
        except TimeoutError:
            pass
        await stream.stop()
        stop.set()
        await poller
        result.alive = server.alive()
        result.problems = await board_problems(url, [board.pipeline_pk])
        versions = await fetch(
            url, "SELECT job_id, job_version FROM job_event WHERE job_id IS NOT NULL"
        )
        known = {(r["job_id"], r["job_version"]) for r in versions}
        for answer in stream.acknowledged():
            version = answer.body["data"]["moveJob"]["job"]["version"]
            if (pk(answer.job), version) not in known:
                result.unknown_versions.append((answer.job, version))
        _report(result)
        yield result
    finally:
        if server is not None:
            server.stop()
        postgres.remove()


def _report(outage: Outage) -> None:
    down = outage.while_down
    shapes = sorted({(a.status, tuple(a.codes), a.headers.get("retry-after")) for a in down})
    slowest = max((a.took for a in down), default=0)
    ready = sorted(
        {(code, repr(body)) for t, code, body in outage.readiness if outage.down <= t <= outage.up}
    )
    print(
        f"\npostgres: {len(outage.answers)} requests, {len(outage.answers) - len(down)} "
        f"around the outage ({sum(a.ok for a in outage.answers)} acknowledged); "
        f"{len(down)} while it was down {DOWN:.0f} s, answered as "
        f"(status, codes, retry-after) {shapes}, the slowest in {slowest:.2f} s; "
        f"/readyz meanwhile {ready}; first move acknowledged "
        f"{outage.recovered if outage.recovered is not None else 'never'} s after the "
        f"restart; half-written changes: {outage.problems or 'none'}; acknowledged "
        f"versions missing: {len(outage.unknown_versions)}; example answer while down: "
        f"{down[0].text[:300] if down else '-'}"
    )


async def test_requests_fail_fast_and_cleanly_while_postgresql_is_down(outage: Outage) -> None:
    down = outage.while_down
    assert len(down) >= 5
    assert all(a.status is not None for a in down), "the server stopped answering"
    assert max(a.took for a in down) < 10, "a request hung"
    for answer in down:
        assert isinstance(answer.body, dict) and answer.body.get("errors") or answer.codes, (
            answer.status,
            answer.text[:300],
        )
        assert no_traceback(answer.text), answer.text[:500]
        assert not any(word in answer.text.lower() for word in DRIVER_WORDS), answer.text[:500]
    assert outage.alive


async def test_failures_while_postgresql_is_down_tell_the_client_to_retry(
    outage: Outage,
) -> None:
    """503 with Retry-After and a code saying so, like a request that timed out."""
    down = outage.while_down
    shapes = {(a.status, tuple(a.codes), "retry-after" in a.headers) for a in down}
    assert shapes == {(503, ("SERVICE_UNAVAILABLE",), True)}


async def test_the_server_recovers_by_itself(outage: Outage) -> None:
    assert outage.alive
    assert outage.recovered is not None and outage.recovered < 15
    during = {
        (code, repr(body))
        for t, code, body in outage.readiness
        if outage.down + 1 <= t <= outage.up
    }
    after = [code for t, code, _ in outage.readiness if t > outage.up + outage.recovered + 0.5]
    assert during == {(503, repr({"database": "down", "broker": "ok"}))}
    assert after and set(after) == {200}


async def test_no_change_was_half_written(outage: Outage) -> None:
    assert outage.problems == []
    assert outage.unknown_versions == []
