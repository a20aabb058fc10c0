"""Scenario 3, moveJob: throughput and latency with 1, 10 and 50 concurrent clients, each
dragging its own cards between two stages and dropping each right after a random card that
never moves (as a person drops a card between two others), on 1 and 2 server processes.
"With automations": both stages have a CREATE_TASK automation, so every move records a run,
which the servers' runners then execute; the row notes how long they took to drain.

Floor: a raw asyncpg UPDATE of a job's stage and rank, autocommitted, by as many concurrent
connections (on jobs of other pipelines, so the board is not disturbed).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.http import GraphQL, GraphQLError, payload_errors
from bench.infra import PeakMemory
from bench.report import Row, per_second
from bench.suite import Suite, gid
from tests.databases import asyncpg_url
from tests.servers import ServerProcess

MOVE = """mutation Move($j: ID!, $s: ID!, $a: ID) {
  moveJob(input: {jobId: $j, stageId: $s, afterJobId: $a}) {
    job { id version stage { id } } errors { code message } } }"""
AUTOMATE = """mutation Automate($s: ID!, $settings: JSON!) {
  createAutomation(input: {stageId: $s, action: CREATE_TASK, settings: $settings}) {
    automation { id } errors { code message } } }"""
FLOOR_SQL = """UPDATE job SET stage_id = $2, rank = $3, version = version + 1,
  stage_entered_at = now(), updated_at = now() WHERE id = $1"""


@dataclass
class Mover:
    job: int
    stage: int


@dataclass
class Lane:
    """Two stages, the cards that move between them, and the cards they are dropped after."""

    stages: tuple[int, int]
    movers: list[Mover]
    anchors: dict[int, list[int]]
    rng: random.Random = field(default_factory=lambda: random.Random(3))

    @classmethod
    def of(cls, suite: Suite, first: int, second: int, movers: int) -> Lane:
        a, b = suite.firm.stage_ids[first], suite.firm.stage_ids[second]
        jobs = suite.firm.jobs_by_stage
        count = min(movers, len(jobs[a]) // 2)
        return cls(
            (a, b),
            [Mover(job, a) for job in jobs[a][:count]],
            {a: jobs[a][count:], b: list(jobs[b])},
        )

    def target(self, mover: Mover) -> int:
        return self.stages[1] if mover.stage == self.stages[0] else self.stages[0]

    def variables(self, mover: Mover, target: int) -> dict[str, str | None]:
        anchor = self.rng.choice(self.anchors[target]) if self.anchors[target] else None
        return {
            "j": gid("Job", mover.job),
            "s": gid("Stage", target),
            "a": gid("Job", anchor) if anchor else None,
        }

    def share(self, clients: int) -> list[list[Mover]]:
        """Each client's own cards (shared round-robin if there are fewer cards than
        clients)."""
        if len(self.movers) >= clients:
            return [self.movers[n::clients] for n in range(clients)]
        return [[self.movers[n % len(self.movers)]] for n in range(clients)]


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    moves: int = 0


async def move(http: GraphQL, lane: Lane, mover: Mover, outcome: Outcome) -> None:
    target = lane.target(mover)
    try:
        elapsed, data = await http.timed(MOVE, **lane.variables(mover, target))
    except GraphQLError as error:
        outcome.errors[str(error)[:60]] += 1
        return
    if errors := payload_errors(data):
        outcome.errors[errors[0]["code"]] += 1
        return
    mover.stage = target
    outcome.latencies.append(elapsed)


async def drive(
    servers: list[ServerProcess], suite: Suite, lane: Lane, clients: int, seconds: float
) -> tuple[Outcome, float]:
    """`clients` concurrent clients moving cards for `seconds`; the seconds it took."""
    outcome = Outcome()
    deadline = time.perf_counter() + seconds

    async def client(number: int, movers: list[Mover]) -> None:
        async with GraphQL(servers[number % len(servers)].url, suite.firm.token) as http:
            for mover in itertools.cycle(movers):
                if time.perf_counter() > deadline:
                    return
                await move(http, lane, mover, outcome)

    started = time.perf_counter()
    await asyncio.gather(*(client(n, movers) for n, movers in enumerate(lane.share(clients))))
    return outcome, time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used so far (Linux /proc)."""
    return sum(_cpu(pid) for pid in pids)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def database_cpu() -> dict[int, float]:
    """CPU used so far by each PostgreSQL process of this machine (the bench's database is
    local): two snapshots tell what the database spent between them."""
    used = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                used[int(entry.name)] = _cpu(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return used


@dataclass
class CpuSplit:
    """CPU seconds of the servers, the database and this load generator over a span."""

    servers: list[int]
    spent: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __enter__(self) -> CpuSplit:
        self._start = (cpu_seconds(self.servers), database_cpu(), time.process_time())
        return self

    def __exit__(self, *_: object) -> None:
        servers, database, own = self._start
        after = database_cpu()
        self.spent = (
            cpu_seconds(self.servers) - servers,
            sum(used - database.get(pid, 0.0) for pid, used in after.items()),
            time.process_time() - own,
        )

    def per(self, moves: int) -> str:
        servers, database, own = (1000 * part / moves for part in self.spent)
        return f"CPU/move: server {servers:.1f} ms, database {database:.1f}, bench {own:.1f}"


async def drained(suite: Suite) -> float:
    """Seconds until no automation run is pending (giving up after 5 minutes)."""
    started = time.perf_counter()
    pg = await asyncpg.connect(asyncpg_url(suite.database_url))
    try:
        while await pg.fetchval("SELECT count(*) FROM automation_run WHERE status = 'PENDING'"):
            if time.perf_counter() - started > 300:
                break
            await asyncio.sleep(0.05)
    finally:
        await pg.close()
    return time.perf_counter() - started


async def automate(server: ServerProcess, suite: Suite, lane: Lane) -> None:
    async with GraphQL(server.url, suite.firm.token) as http:
        for stage in lane.stages:
            _, data = await http.timed(
                AUTOMATE, s=gid("Stage", stage), settings={"title": "Check the documents"}
            )
            assert not payload_errors(data), data


async def count(suite: Suite, plain: Lane, automated: Lane) -> dict[bool, str]:
    """SQL statements per move, without and with automations. A move's own statements are
    counted exactly (no runner); its run's, as executed by a runner, less the runner's idle
    polling."""
    requests = max(suite.plan.count_requests, 4)

    async def moves(http: GraphQL, lane: Lane) -> None:
        for n in range(requests):
            await move(http, lane, lane.movers[-1 - n % 2], Outcome())

    counting = await suite.counting()
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await automate(counting.servers[0], suite, automated)
        await move(http, plain, plain.movers[-1], Outcome())  # warm-up
        alone = await counting.per_request(requests, lambda: moves(http, plain))
        recording = await counting.per_request(requests, lambda: moves(http, automated))
    async with (
        suite.counting_with_runner() as counting,
        GraphQL(counting.servers[0].url, suite.firm.token) as http,
    ):
        await drained(suite)  # the runs recorded above

        async def moves_and_runs() -> None:
            await moves(http, automated)
            await drained(suite)

        both = await counting.per_request(requests, moves_and_runs)
    return {False: str(alone), True: f"{recording} + {both.sql - recording.sql:.1f} by runner"}


async def floor(suite: Suite, clients: int, seconds: float) -> Row:
    pg = await asyncpg.create_pool(
        asyncpg_url(suite.database_url), min_size=clients, max_size=clients
    )
    try:
        jobs = await pg.fetch(
            "SELECT j.id, array_agg(s.id ORDER BY s.position) AS stages FROM job j "
            "JOIN stage s ON s.pipeline_id = j.pipeline_id WHERE j.pipeline_id <> $1 "
            "GROUP BY j.id ORDER BY j.id LIMIT $2",
            suite.firm.pipeline_id,
            clients,
        )
        latencies: list[float] = []
        ranks = itertools.count(1)
        deadline = time.perf_counter() + seconds

        async def worker(job: asyncpg.Record) -> None:
            for turn in itertools.count():
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                await pg.execute(
                    FLOOR_SQL, job["id"], job["stages"][turn % 2], f"y{next(ranks):x}1"
                )
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(job) for job in jobs))
        elapsed = time.perf_counter() - started
    finally:
        await pg.close()
    return Row(
        f"floor: asyncpg UPDATE, {clients} connection{'s' * (clients > 1)}",
        latencies,
        throughput=per_second(len(latencies), elapsed, "moves"),
        sql="1",
    )


def notes(outcome: Outcome, drain: float | None) -> str:
    parts = []
    if outcome.errors:
        parts.append(
            f"{sum(outcome.errors.values())} errors: "
            + ", ".join(f"{code} x{n}" for code, n in outcome.errors.most_common(3))
        )
    if drain is not None:
        parts.append(f"runs drained {drain:.1f} s after")
    return "; ".join(parts)


async def run(suite: Suite) -> list[Row]:
    plan = suite.plan
    most = max(plan.concurrency) * 2
    plain, automated = Lane.of(suite, 2, 3, most), Lane.of(suite, 7, 8, most)
    sql = await count(suite, plain, automated)
    floors = {
        clients: await floor(suite, clients, plan.move_seconds / 2) for clients in plan.concurrency
    }
    rows = list(floors.values())
    for processes in (1, 2):
        async with suite.servers(processes, f"moves-{processes}p") as servers:
            for automations, lane in ((False, plain), (True, automated)):
                for clients in plan.concurrency:
                    async with PeakMemory(s.pid for s in servers) as memory:
                        with CpuSplit([s.pid for s in servers]) as cpu:
                            outcome, seconds = await drive(
                                servers, suite, lane, clients, plan.move_seconds
                            )
                        drain = await drained(suite) if automations else None
                    moved = max(len(outcome.latencies), 1)
                    rows.append(
                        Row(
                            f"moveJob, {clients} client{'s' * (clients > 1)}, {processes} "
                            f"process{'es' * (processes > 1)}"
                            f"{', automations' if automations else ''}",
                            outcome.latencies,
                            throughput=per_second(len(outcome.latencies), seconds, "moves"),
                            sql=sql[automations],
                            peak_rss_mb=memory.peak_mb,
                            floor=floors[clients],
                            notes=cpu.per(moved)
                            + (f"; {extra}" if (extra := notes(outcome, drain)) else ""),
                        )
                    )
    return rows
