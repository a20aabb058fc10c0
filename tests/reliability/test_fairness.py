"""Fairness between firms under a flood, against real `python server.py` processes on
PostgreSQL. Firm A registers 20 endpoints on a loopback receiver that accepts connections and
never answers, with 1,000 deliveries due to them, and has 2,000 automation runs due; firm B,
with one healthy loopback endpoint, moves its job again and again. B's webhook latency (the
move sent to the message received) and run latency (the run recorded to the run finished) are
printed (-s) beside the same figures without A's flood, and must stay within a second or two.

The flood is recorded by a server that runs no automation and sends nothing (--no-runner), so
that it is all due at once when a server with the runner and the sender starts.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.hanging import HangingReceiver
from tests.receiver import Received, Receiver
from tests.reliability.board import CLIENT, CREATE_JOB, MOVE, Board, new_board
from tests.reliability.infra import LONG, fetch, gql, start_all
from tests.servers import ServerProcess

ENDPOINTS = 20  # firm A's, all on the hanging receiver
AUTOMATIONS = 20  # firm A's on one stage: each job entering it owes that many runs
FLOOD_JOBS = 150 if LONG else 100  # created into that stage: x AUTOMATIONS runs due
FLOOD_MOVES = 50  # of A's jobs: x ENDPOINTS deliveries due
SAMPLES = 30  # B's moves, one after the other, in each phase
WAIT = 20.0  # seconds a sample may wait for its message and its run
BOUND = 2.0  # seconds: B's p99 beside the flood

ENDPOINT = """mutation($url: String!) { createWebhookEndpoint(input: {url: $url,
  eventTypes: [JOB_MOVED]}) { webhookEndpoint { id } errors { code message } } }"""
CREATE_TASK = """mutation($s: ID!) { createAutomation(input: {stageId: $s, action: CREATE_TASK,
  settings: {title: "Check"}}) { automation { id } errors { code } } }"""
PRIVATE_OK = {"WEBHOOK_ALLOW_PRIVATE": "true"}  # the receivers are on 127.0.0.1


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    with HangingReceiver() as running:
        yield running


@dataclass
class Arrivals:
    """When each message reached B's receiver (wall clock, as the server's timestamps)."""

    times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, _: int, __: Received) -> tuple[int, float]:
        with self.lock:
            self.times.append(time.time())
        return 204, 0.0

    def count(self) -> int:
        with self.lock:
            return len(self.times)


@dataclass
class Figures:
    webhook: list[float]  # seconds, one per sample that arrived
    runs: list[float]  # seconds, one per run that finished
    missed: int  # samples whose message or run had not come within WAIT

    def line(self) -> str:
        return (
            f"webhook p50 {_p(self.webhook, 50):.3f} s p99 {_p(self.webhook, 99):.3f} s, "
            f"run p50 {_p(self.runs, 50):.3f} s p99 {_p(self.runs, 99):.3f} s"
        )


def _p(values: list[float], percent: int) -> float:
    """Nearest-rank percentile; infinite when there is nothing to rank."""
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


async def _eventually(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    """Whether `check` came true within `within` s (polled: nothing announces it)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def _firm_id(url: str, name: str) -> int:
    [row] = await fetch(url, "SELECT id FROM firm WHERE name = $1", name)
    return int(row["id"])


async def _runs_done(url: str, firm_id: int) -> int:
    [row] = await fetch(
        url,
        "SELECT count(*) AS n FROM automation_run WHERE firm_id = $1 AND status <> 'PENDING'",
        firm_id,
    )
    return int(row["n"])


async def _arrived(arrivals: Arrivals, before: int) -> bool:
    return arrivals.count() > before


async def _ran(url: str, firm_id: int, before: int) -> bool:
    return await _runs_done(url, firm_id) > before


async def _measure(
    server: ServerProcess, url: str, b: Board, firm_id: int, arrivals: Arrivals
) -> Figures:
    """B moves its job on SAMPLES times, each after the last one's message and run came; a
    sample that waits past WAIT ends the phase (the figures then say so)."""
    [first] = await fetch(
        url, "SELECT coalesce(max(id), 0) AS id FROM automation_run WHERE firm_id = $1", firm_id
    )
    webhook: list[float] = []
    missed = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for n in range(SAMPLES):
            received, done = arrivals.count(), await _runs_done(url, firm_id)
            sent = time.time()
            moved = await gql(http, server, b.token, MOVE, j=b.jobs[0], s=b.stages[(n + 1) % 3])
            assert moved["moveJob"]["errors"] == [], moved
            arrived = await _eventually(partial(_arrived, arrivals, received), WAIT)
            if arrived:
                webhook.append(arrivals.times[received] - sent)
            if not (await _eventually(partial(_ran, url, firm_id, done), WAIT) and arrived):
                missed += 1
                break
    rows = await fetch(
        url,
        """SELECT extract(epoch FROM finished_at - created_at) AS took
        FROM automation_run WHERE firm_id = $1 AND id > $2 AND finished_at IS NOT NULL""",
        firm_id,
        first["id"],
    )
    return Figures(webhook, [float(row["took"]) for row in rows], missed)


async def _flood(server: ServerProcess, a: Board, hanging: HangingReceiver) -> None:
    """A's dead endpoints, its automations, FLOOD_JOBS jobs entering their stage, and
    FLOOD_MOVES moves that each owe every endpoint a message (the jobs go to the last stage
    and back to the first: stages without automations)."""
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(ENDPOINTS):
            made = await gql(http, server, a.token, ENDPOINT, url=hanging.url)
            assert made["createWebhookEndpoint"]["errors"] == [], made
        for _ in range(AUTOMATIONS):
            made = await gql(http, server, a.token, CREATE_TASK, s=a.stages[1])
            assert made["createAutomation"]["errors"] == [], made
        client = (await gql(http, server, a.token, CLIENT))["createClient"]["client"]["id"]

        async def create(n: int) -> None:
            made = await gql(
                http,
                server,
                a.token,
                CREATE_JOB,
                p=a.pipeline,
                c=client,
                s=a.stages[1],
                t=f"flood {n}",
            )
            assert made["createJob"]["errors"] == [], made

        for chunk in range(0, FLOOD_JOBS, 10):
            await asyncio.gather(*(create(n) for n in range(chunk, chunk + 10)))
        for n in range(FLOOD_MOVES):
            job, there = a.jobs[n % len(a.jobs)], (n // len(a.jobs)) % 2 == 0
            moved = await gql(
                http, server, a.token, MOVE, j=job, s=a.stages[2] if there else a.stages[0]
            )
            assert moved["moveJob"]["errors"] == [], moved


async def test_one_firms_flood_does_not_delay_another_firms_webhooks_and_runs(
    postgres_url: str,
    logs: Path,
    processes: list[ServerProcess],
    receiver: Receiver,
    hanging: HangingReceiver,
) -> None:
    arrivals = Arrivals()
    receiver.answer = arrivals.answer
    server = ServerProcess(logs, DATABASE_URL=postgres_url, **PRIVATE_OK)
    processes.append(server)
    await start_all([server])
    b = await new_board(server, jobs=1, firm="Quiet CPA")
    b_firm = await _firm_id(postgres_url, "Quiet CPA")
    async with httpx.AsyncClient(timeout=30) as http:
        made = await gql(http, server, b.token, ENDPOINT, url=receiver.url)
        assert made["createWebhookEndpoint"]["errors"] == [], made
        for stage in b.stages:  # a run at every move
            made = await gql(http, server, b.token, CREATE_TASK, s=stage)
            assert made["createAutomation"]["errors"] == [], made
    alone = await _measure(server, postgres_url, b, b_firm, arrivals)
    server.stop()

    recorder = ServerProcess(logs, "--no-runner", DATABASE_URL=postgres_url, **PRIVATE_OK)
    processes.append(recorder)
    await start_all([recorder])
    a = await new_board(recorder, jobs=10, firm="Flood CPA")
    a_firm = await _firm_id(postgres_url, "Flood CPA")
    await _flood(recorder, a, hanging)
    recorder.stop()
    [due] = await fetch(
        postgres_url,
        """SELECT
        (SELECT count(*) FROM automation_run WHERE firm_id = $1 AND status = 'PENDING') AS runs,
        (SELECT count(*) FROM webhook_delivery WHERE firm_id = $1 AND status = 'PENDING')
          AS deliveries""",
        a_firm,
    )
    assert (due["runs"], due["deliveries"]) == (FLOOD_JOBS * AUTOMATIONS, FLOOD_MOVES * ENDPOINTS)

    server = ServerProcess(logs, DATABASE_URL=postgres_url, **PRIVATE_OK)
    processes.append(server)
    await start_all([server])
    beside = await _measure(server, postgres_url, b, b_firm, arrivals)
    a_held = hanging.open_connections()
    a_runs = await _runs_done(postgres_url, a_firm)
    server.stop()

    print(
        f"\nfairness: firm B alone: {alone.line()}; beside firm A's flood ({due['deliveries']} "
        f"deliveries due to {ENDPOINTS} endpoints that never answer, {due['runs']} runs "
        f"due): {beside.line()}; {len(beside.webhook)} of {SAMPLES} samples, "
        f"{beside.missed} past {WAIT:.0f} s; meanwhile A ran {a_runs} runs and held "
        f"{a_held} connections ({hanging.accepted} opened)"
    )
    assert alone.missed == 0 and len(alone.webhook) == SAMPLES
    assert beside.missed == 0 and len(beside.webhook) == SAMPLES, beside.line()
    assert _p(beside.webhook, 99) < BOUND, beside.line()
    assert _p(beside.runs, 99) < BOUND, beside.line()
    assert statistics.median(beside.runs) < BOUND / 2
