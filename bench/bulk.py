"""Scenario 9, bulk moves: one `bulkMoveJobs` of 100 jobs against 100 single `moveJob`s of 100
other jobs, in the same run, on the same server, between the same two stages of the
benchmarked pipeline (each round moves every job to the other stage, so every move is a real
one). Timed: each round's one bulk call, and each round's 100 single moves made one after the
other by one client (the way a script moves 100 jobs without the bulk mutation). Statements:
per bulk call and per 100 single moves, on the counting server.

The single moves are the floor here: the row of the bulk call shows its p50 over theirs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import asyncpg

from bench.http import GraphQL, payload_errors
from bench.report import Row, per_second
from bench.suite import Suite, gid
from tests.databases import asyncpg_url

JOBS = 100
BULK = """mutation Bulk($input: BulkMoveJobsInput!) { bulkMoveJobs(input: $input) {
  results { jobId job { id version stage { id } } errors { code message } }
  errors { code message } } }"""
SINGLE = """mutation Move($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  job { id version stage { id } } errors { code message } } }"""
STAGES = (4, 5)  # the moves scenario uses 2, 3, 7 and 8


@dataclass
class Batch:
    """Jobs that move together, and the stage each round sends them to."""

    jobs: list[int]
    stages: tuple[int, int]
    rounds: int = 0

    def target(self) -> int:
        self.rounds += 1
        return self.stages[self.rounds % 2]


async def batches(suite: Suite) -> tuple[Batch, Batch]:
    """Two sets of active jobs of the benchmarked pipeline, in neither of the two stages."""
    stages = tuple(suite.firm.stage_ids[n] for n in STAGES)
    pg = await asyncpg.connect(asyncpg_url(suite.database_url))
    try:
        rows = await pg.fetch(
            "SELECT id FROM job WHERE pipeline_id = $1 AND status = 'ACTIVE' "
            "AND stage_id <> ALL($2::int[]) ORDER BY id LIMIT $3",
            suite.firm.pipeline_id,
            list(stages),
            2 * JOBS,
        )
    finally:
        await pg.close()
    ids = [row["id"] for row in rows]
    if len(ids) < 2 * JOBS:
        raise RuntimeError(f"the seed has {len(ids)} jobs to move, {2 * JOBS} needed")
    return Batch(ids[:JOBS], (stages[0], stages[1])), Batch(ids[JOBS:], (stages[0], stages[1]))


async def bulk_round(http: GraphQL, batch: Batch) -> float:
    """One bulkMoveJobs of the batch; its milliseconds."""
    target = gid("Stage", batch.target())
    elapsed, data = await http.timed(
        BULK, input={"jobIds": [gid("Job", job) for job in batch.jobs], "stageId": target}
    )
    results = data["bulkMoveJobs"]["results"]
    failed = [r["errors"] for r in results if r["errors"]]
    assert not payload_errors(data) and not failed and len(results) == JOBS, data
    assert {r["job"]["stage"]["id"] for r in results} == {target}
    return elapsed


async def single_round(http: GraphQL, batch: Batch) -> float:
    """The batch's jobs moved by one moveJob each, one after the other; the milliseconds of
    all of them."""
    target = gid("Stage", batch.target())
    started = time.perf_counter()
    for job in batch.jobs:
        _, data = await http.timed(SINGLE, j=gid("Job", job), s=target)
        assert not payload_errors(data), data
    return (time.perf_counter() - started) * 1000


async def run(suite: Suite) -> list[Row]:
    bulk, singles = await batches(suite)
    counting = await suite.counting()
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await single_round(http, singles)  # warm-up: documents parsed, token's last use written
        await bulk_round(http, bulk)
        per_bulk = await counting.per_request(1, lambda: bulk_round(http, bulk))
        per_single = await counting.per_request(JOBS, lambda: single_round(http, singles))
    bulk_times: list[float] = []
    single_times: list[float] = []
    async with (
        suite.servers(1, "bulk") as servers,
        GraphQL(servers[0].url, suite.firm.token) as http,
    ):
        await single_round(http, singles)  # warm-up of this server
        await bulk_round(http, bulk)
        for _ in range(suite.plan.bulk_rounds):  # alternated, so both see the same load
            single_times.append(await single_round(http, singles))
            bulk_times.append(await bulk_round(http, bulk))
    floor = Row(
        f"{JOBS} x moveJob, one after the other, 1 client",
        single_times,
        throughput=per_second(JOBS * len(single_times), sum(single_times) / 1000, "jobs"),
        sql=f"{per_single.number(per_single.sql * JOBS)} /{JOBS} jobs ({per_single} /move)",
        notes=f"{len(single_times)} rounds; latency: all {JOBS} moves",
    )
    return [
        floor,
        Row(
            f"bulkMoveJobs of {JOBS} jobs, 1 call",
            bulk_times,
            throughput=per_second(JOBS * len(bulk_times), sum(bulk_times) / 1000, "jobs"),
            sql=f"{per_bulk} /{JOBS} jobs",
            floor=floor,
            notes=f"{len(bulk_times)} rounds; vs floor: the {JOBS} single moves",
        ),
    ]
