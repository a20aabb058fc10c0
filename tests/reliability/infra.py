"""Machinery of the reliability suite: an async GraphQL client that fails over between
servers, a board subscriber that resumes from its cursor, and read-only checks of the
database the servers wrote. (The processes it starts, kills and restarts: tests.servers.)

Nothing here restarts a shared service: Redis and PostgreSQL are stopped only when they are
this suite's own processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
import websockets

from tests.databases import asyncpg_url
from tests.live import TRANSPORT_WS, feed_cursor, seq_of
from tests.servers import ServerProcess

LONG = os.environ.get("RELIABILITY_LONG", "") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """A service or tool the scenario needs is missing: a failure under CI, a skip locally."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


# --------------------------------------------------------------------------- databases


async def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Read what the servers wrote, over a connection of our own."""
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


# --------------------------------------------------------------------------- processes


async def start_all(processes: Iterable[ServerProcess]) -> list[ServerProcess]:
    """Start processes one after the other (the first applies the migrations), off the loop."""
    started = []
    for process in processes:
        started.append(await asyncio.to_thread(process.start))
    return started


async def until(condition: Callable[[], bool], within: float, step: float = 0.05) -> None:
    """Wait for a condition that no event announces; TimeoutError after `within` s."""
    async with asyncio.timeout(within):
        while True:
            if condition():
                return
            await asyncio.sleep(step)


# --------------------------------------------------------------------------- GraphQL


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# uvicorn closes a connection idle for 5 s; a client reusing it at that moment gets a reset
# for a request the server never read. Clients that pause drop idle connections sooner.
KEEPALIVE = httpx.Limits(keepalive_expiry=1.0)


async def gql(
    http: httpx.AsyncClient, server: ServerProcess, token: str, query: str, **variables: Any
) -> dict[str, Any]:
    """One GraphQL request that must succeed; its data."""
    response = await http.post(
        f"{server.url}/graphql",
        headers=bearer(token),
        json={"query": query, "variables": variables},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


class FailoverClient:
    """An API client that sends each request to the next server and, when a server does not
    answer (connection refused or reset, or a 5xx), sends it again to another one."""

    def __init__(self, servers: Sequence[ServerProcess], token: str, start: int = 0) -> None:
        self.servers, self.token, self.turn = servers, token, start
        self.http = httpx.AsyncClient(timeout=30, limits=KEEPALIVE)
        self.lost = 0  # requests whose outcome we never learned (sent again)

    async def __aenter__(self) -> FailoverClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def post(self, query: str, deadline: float = 60, **variables: Any) -> dict[str, Any]:
        give_up = time.monotonic() + deadline
        while True:
            server = self.servers[self.turn % len(self.servers)]
            self.turn += 1
            try:
                response = await self.http.post(
                    f"{server.url}/graphql",
                    headers=bearer(self.token),
                    json={"query": query, "variables": variables},
                )
                if response.status_code < 500:
                    assert response.status_code == 200, response.text
                    return dict(response.json())
            except httpx.TransportError:
                pass
            self.lost += 1
            assert time.monotonic() < give_up, "no server answered"
            await asyncio.sleep(0.05)


STREAM_MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  job { version } errors { code field } } }"""


@dataclass
class Answer:
    """One request of a stream and what came back (status None: no HTTP answer at all)."""

    sent: float
    took: float
    status: int | None
    text: str
    job: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def body(self) -> Any:
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        body = self.body
        return (
            self.status == 200
            and isinstance(body, dict)
            and not body.get("errors")
            and body["data"]["moveJob"]["errors"] == []
        )

    @property
    def codes(self) -> list[str | None]:
        body = self.body
        if not isinstance(body, dict):
            return []
        errors = body.get("errors") or (body.get("data") or {}).get("moveJob", {}).get("errors")
        return [(e.get("extensions") or e).get("code") for e in errors or []]


@dataclass
class MoveStream:
    """Clients that each move their own job on to the next stage, one move after the other,
    until told to stop; a move that was not acknowledged is sent again (a repeat of an applied
    move changes nothing)."""

    servers: Sequence[ServerProcess]
    token: str
    jobs: list[str]
    stages: list[str]
    timeout: float = 15
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> MoveStream:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(len(self.jobs))]
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def acknowledged(self) -> list[Answer]:
        return [a for a in self.answers if a.ok]

    async def _client(self, number: int) -> None:
        job, step = self.jobs[number], 0
        async with httpx.AsyncClient(timeout=self.timeout, limits=KEEPALIVE) as http:
            while not self._stop.is_set():
                server = self.servers[(number + len(self.answers)) % len(self.servers)]
                target = self.stages[(step + 1) % len(self.stages)]
                sent = time.monotonic()
                try:
                    response = await http.post(
                        f"{server.url}/graphql",
                        headers=bearer(self.token),
                        json={"query": STREAM_MOVE, "variables": {"j": job, "s": target}},
                    )
                    answer = Answer(
                        sent,
                        time.monotonic() - sent,
                        response.status_code,
                        response.text,
                        job,
                        target,
                        dict(response.headers),
                    )
                except httpx.HTTPError as error:
                    answer = Answer(
                        sent,
                        time.monotonic() - sent,
                        None,
                        f"{type(error).__name__}: {error}",
                        job,
                        target,
                    )
                self.answers.append(answer)
                if answer.ok:
                    step += 1
                else:
                    await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- subscriptions

WATCH = """subscription($p: ID!, $after: String) { boardUpdated(pipelineId: $p, after: $after) {
  cursor type job { id version } } }"""


def board_cursor(pipeline_pk: int, seq: int) -> str:
    """The cursor of a board's event `seq` (opaque to clients; the suite shares the servers'
    key, tests.conftest)."""
    return feed_cursor(f"pipeline:{pipeline_pk}:{seq}")


@dataclass
class Watcher:
    """A boardUpdated subscriber that, whenever its socket drops, subscribes again with the
    last cursor it received, on the next server in turn."""

    servers: Sequence[ServerProcess]
    token: str
    pipeline: str
    cursor: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    closes: list[int | None] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    _ws: Any = None
    _task: asyncio.Task[None] | None = None

    def start(self) -> Watcher:
        self._task = asyncio.create_task(self._follow())
        return self

    @property
    def seqs(self) -> list[int]:
        return [seq_of(event["cursor"]) for event in self.events]

    async def drop(self) -> None:
        """Disconnect on purpose; the watcher resumes by itself."""
        if self._ws is not None:
            await self._ws.close()

    async def wait_for_seq(self, seq: int, within: float = 60) -> None:
        async with asyncio.timeout(within):
            while True:
                if self.events and seq_of(self.events[-1]["cursor"]) >= seq:
                    return
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            server = self.servers[self.connections % len(self.servers)]
            self.connections += 1
            try:
                await self._session(server)
            except (OSError, websockets.WebSocketException, TimeoutError) as error:
                code = getattr(getattr(error, "rcvd", None), "code", None)
                self.closes.append(code)
            self._ws = None
            await asyncio.sleep(0.1)

    async def _session(self, server: ServerProcess) -> None:
        async with websockets.connect(
            server.ws_url,
            subprotocols=[TRANSPORT_WS],  # type: ignore[list-item]
            open_timeout=5,
            max_size=None,
        ) as ws:
            self._ws = ws
            await ws.send(json.dumps({"type": "connection_init", "payload": bearer(self.token)}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert ack["type"] == "connection_ack", ack
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {
                            "query": WATCH,
                            "variables": {"p": self.pipeline, "after": self.cursor},
                        },
                    }
                )
            )
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                if message["type"] != "next" or "errors" in message["payload"]:
                    self.errors.append(message)
                    return
                event = message["payload"]["data"]["boardUpdated"]
                event["receivedAt"] = time.monotonic()
                self.events.append(event)
                self.cursor = event["cursor"]


@contextlib.asynccontextmanager
async def watching(
    servers: Sequence[ServerProcess],
    token: str,
    pipeline: str,
    pipeline_pk: int,
    after_seq: int,
) -> AsyncIterator[Watcher]:
    watcher = Watcher(servers, token, pipeline, board_cursor(pipeline_pk, after_seq)).start()
    try:
        yield watcher
    finally:
        await watcher.stop()


# --------------------------------------------------------------------------- checks


def exactly_once(seqs: list[int], first: int, last: int) -> tuple[int, int, int]:
    """(events, duplicates, missing) of a stream that should hold every seq first..last once."""
    counts = Counter(seqs)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    missing = len(set(range(first, last + 1)) - set(counts))
    return len(seqs), duplicates, missing


async def board_problems(url: str, pipeline_pks: Iterable[int]) -> list[str]:
    """What is inconsistent in these pipelines' boards and event logs (empty if nothing):
    every job in a stage of its pipeline, ranks unique within a stage, versions 1..version
    each written by an event, the stage the last stage-changing event says, pipeline
    sequences without gaps."""
    pks = list(pipeline_pks)
    problems: list[str] = []
    for row in await fetch(
        url,
        """
            SELECT j.id FROM job j JOIN stage s ON s.id = j.stage_id
            WHERE j.pipeline_id = ANY($1) AND s.pipeline_id <> j.pipeline_id""",
        pks,
    ):
        problems.append(f"job {row['id']} is in a stage of another pipeline")
    for row in await fetch(
        url,
        """
            SELECT stage_id, rank, count(*) AS n FROM job WHERE pipeline_id = ANY($1)
            GROUP BY stage_id, rank HAVING count(*) > 1""",
        pks,
    ):
        problems.append(f"{row['n']} jobs share rank {row['rank']!r} in stage {row['stage_id']}")
    jobs = await fetch(
        url, "SELECT id, version, stage_id, pipeline_id FROM job WHERE pipeline_id = ANY($1)", pks
    )
    events = await fetch(
        url,
        """
            SELECT e.job_id, e.job_version, e.type, e.to_stage_id, e.pipeline_id
            FROM job_event e JOIN job j ON j.id = e.job_id
            WHERE j.pipeline_id = ANY($1) ORDER BY e.id""",
        pks,
    )
    by_job: dict[int, list[asyncpg.Record]] = defaultdict(list)
    for event in events:
        by_job[event["job_id"]].append(event)
    stage_changes = {"JOB_CREATED", "JOB_MOVED", "JOB_TRANSFERRED_IN"}
    for job in jobs:
        history = by_job[job["id"]]
        versions = {e["job_version"] for e in history}
        if versions != set(range(1, job["version"] + 1)):
            extra = sorted(versions - set(range(1, job["version"] + 1)))[:5]
            gaps = sorted(set(range(1, job["version"] + 1)) - versions)[:5]
            problems.append(
                f"job {job['id']} at version {job['version']}: versions without "
                f"an event {gaps}, events past its version {extra}"
            )
        placed = [e for e in history if e["type"] in stage_changes]
        if placed and placed[-1]["to_stage_id"] != job["stage_id"]:
            problems.append(
                f"job {job['id']} is in stage {job['stage_id']} but its history "
                f"last put it in {placed[-1]['to_stage_id']}"
            )
    for row in await fetch(
        url,
        """
            SELECT pipeline_id, count(*) AS n, min(seq) AS lo, max(seq) AS hi,
                   count(DISTINCT seq) AS distinct_seqs
            FROM job_event WHERE pipeline_id = ANY($1) GROUP BY pipeline_id""",
        pks,
    ):
        if not (row["lo"] == 1 and row["hi"] == row["n"] == row["distinct_seqs"]):
            problems.append(f"pipeline {row['pipeline_id']} log has gaps or duplicates: {row}")
    return problems


def no_traceback(text: str) -> bool:
    lowered = text.lower()
    return "traceback" not in lowered and 'file "' not in lowered
