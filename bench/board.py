"""Scenario 1, board load: one pipeline, all its stages, the first 50 jobs of each with their
client, assignees and tasks, over HTTP from a server process; one client, then 10 at once.
Identical loads between two changes are answered from the server's result cache
(schema/result_cache.py); "after a change" times loads that each follow a move on the board
(a card reordered in its stage, not timed), so that every one executes the query.

Floor: the same rows by one hand-written SQL statement through asyncpg, shaped into the same
nesting and serialized with orjson, in the benchmark's process (no HTTP, no GraphQL).

    python -m bench.board        (the same as `python -m bench board`)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from bench.http import GraphQL
from bench.infra import PeakMemory
from bench.moves import MOVE
from bench.report import Row, per_second
from bench.sqlcount import PerRequest
from bench.suite import Suite, gid
from tests.databases import asyncpg_url

PER_STAGE = 50
CLIENTS = (1, 10)  # concurrent clients (the floor: as many connections)
# tasks(first: 10): without it the cost guard (schema/guard.py) counts a default page of 100
# tasks per job, and the board costs more than it allows.
BOARD = """query Board($p: ID!) { pipeline(id: $p) { id name stages { id name
  jobs(first: 50) { totalCount edges { node { id title version rank dueDate client { id name }
    assignees { id name } tasks(first: 10) { edges { node { id title done } } } } } } } } }"""

# Stage pages by the (stage_id, rank) index; children aggregated per job. task.job_id has no
# index, so tasks are one hash join over the task table (the server's loaders do the same).
FLOOR_SQL = """
WITH page AS (
  SELECT j.* FROM stage s CROSS JOIN LATERAL (
    SELECT * FROM job WHERE job.stage_id = s.id AND job.status = 'ACTIVE'
    ORDER BY rank LIMIT $2) j
  WHERE s.pipeline_id = $1),
tasks AS (
  SELECT t.job_id, array_agg((t.id, t.title, t.done) ORDER BY t.id) AS tasks
  FROM task t JOIN page ON page.id = t.job_id GROUP BY t.job_id),
people AS (
  SELECT ja.job_id, array_agg((u.id, u.name) ORDER BY u.id) AS people
  FROM job_assignee ja JOIN page ON page.id = ja.job_id JOIN app_user u ON u.id = ja.user_id
  GROUP BY ja.job_id),
totals AS (
  SELECT stage_id, count(*) AS total FROM job WHERE pipeline_id = $1 AND status = 'ACTIVE'
  GROUP BY stage_id)
SELECT s.id AS stage_id, s.name AS stage_name, totals.total, page.id, page.title, page.version,
  page.rank, page.due_date, c.id AS client_id, c.name AS client_name, tasks.tasks, people.people
FROM stage s LEFT JOIN totals ON totals.stage_id = s.id LEFT JOIN page ON page.stage_id = s.id
LEFT JOIN client c ON c.id = page.client_id LEFT JOIN tasks ON tasks.job_id = page.id
LEFT JOIN people ON people.job_id = page.id
WHERE s.pipeline_id = $1 ORDER BY s.position, page.rank"""


def shape(rows: list[asyncpg.Record]) -> dict[str, Any]:
    """The board's nesting, as the GraphQL answer has it."""
    stages: dict[int, dict[str, Any]] = {}
    for row in rows:
        stage = stages.setdefault(
            row["stage_id"],
            {
                "id": row["stage_id"],
                "name": row["stage_name"],
                "jobs": {"totalCount": row["total"] or 0, "edges": []},
            },
        )
        if row["id"] is None:
            continue
        stage["jobs"]["edges"].append(
            {
                "node": {
                    "id": row["id"],
                    "title": row["title"],
                    "version": row["version"],
                    "rank": row["rank"],
                    "dueDate": row["due_date"],
                    "client": {"id": row["client_id"], "name": row["client_name"]},
                    "assignees": [{"id": p[0], "name": p[1]} for p in row["people"] or ()],
                    "tasks": {
                        "edges": [
                            {"node": {"id": t[0], "title": t[1], "done": t[2]}}
                            for t in row["tasks"] or ()
                        ]
                    },
                }
            }
        )
    return {"pipeline": {"stages": list(stages.values())}}


async def floor(suite: Suite, clients: int, requests: int) -> Row:
    """The floor with as many concurrent connections as the clients it is compared to."""
    pg = await asyncpg.create_pool(
        asyncpg_url(suite.database_url), min_size=clients, max_size=clients
    )
    latencies: list[float] = []

    async def client(count: int) -> None:
        async with pg.acquire() as connection:
            for n in range(count + 1):
                started = time.perf_counter()
                rows = await connection.fetch(FLOOR_SQL, suite.firm.pipeline_id, PER_STAGE)
                orjson.dumps(shape(rows))
                if n:  # warm-up: plan cache, buffers
                    latencies.append((time.perf_counter() - started) * 1000)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
        seconds = time.perf_counter() - started
    finally:
        await pg.close()
    return Row(
        f"floor: board by 1 SQL statement + orjson, {clients} conn.",
        latencies,
        throughput=per_second(len(latencies), seconds),
        sql="1",
    )


def check(data: dict[str, Any], suite: Suite) -> None:
    stages = data["pipeline"]["stages"]
    expected = min(PER_STAGE, suite.firm.job_count // len(stages))
    assert all(len(s["jobs"]["edges"]) == expected for s in stages), "board is incomplete"


async def load(url: str, suite: Suite, clients: int, requests: int) -> tuple[list[float], float]:
    """Latencies of `requests` board loads by `clients` concurrent clients, and the seconds
    the lot took."""
    latencies: list[float] = []

    async def client(count: int) -> None:
        async with GraphQL(url, suite.firm.token) as http:
            for _ in range(count):
                elapsed, data = await http.timed(BOARD, p=suite.pipeline)
                check(data, suite)
                latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    return latencies, time.perf_counter() - started


async def load_after_changes(url: str, suite: Suite, requests: int) -> list[float]:
    """Latencies of board loads that each follow a move on the board."""
    stage = suite.firm.stage_ids[0]
    card, *anchors = suite.firm.jobs_by_stage[stage][:3]
    latencies: list[float] = []
    async with GraphQL(url, suite.firm.token) as http:
        for n in range(requests):
            await http.timed(
                MOVE, j=gid("Job", card), s=gid("Stage", stage), a=gid("Job", anchors[n % 2])
            )
            elapsed, data = await http.timed(BOARD, p=suite.pipeline)
            check(data, suite)
            latencies.append(elapsed)
    return latencies


@dataclass
class Counts:
    cached: PerRequest  # a load like the one before it
    executed: PerRequest  # a load after a change


async def count(suite: Suite) -> Counts:
    """SQL statements per board load, on a counting server: repeated, and after a change (made
    without a request, so that only the load is counted)."""
    counting = await suite.counting()
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await http.timed(BOARD, p=suite.pipeline)  # a process's first request loads more

        async def loads(changed: bool) -> None:
            for _ in range(suite.plan.count_requests):
                if changed:
                    await suite.change_catalog()
                await http.timed(BOARD, p=suite.pipeline)

        cached = await counting.per_request(suite.plan.count_requests, lambda: loads(False))
        executed = await counting.per_request(suite.plan.count_requests, lambda: loads(True))
        return Counts(cached, executed)


async def run(suite: Suite) -> list[Row]:
    requests = suite.plan.board_requests
    sql = await count(suite)
    floors = {clients: await floor(suite, clients, requests) for clients in CLIENTS}
    rows = list(floors.values())
    async with suite.servers(1, "board") as [server], PeakMemory([server.pid]) as memory:
        await load(server.url, suite, 1, 3)  # warm-up: a process's first requests load more
        for clients in CLIENTS:
            latencies, seconds = await load(server.url, suite, clients, requests)
            rows.append(
                Row(
                    f"board load, {clients} client{'s' * (clients > 1)}",
                    latencies,
                    throughput=per_second(len(latencies), seconds),
                    sql=str(sql.cached),
                    floor=floors[clients],
                )
            )
        latencies = await load_after_changes(server.url, suite, requests)
        rows.append(
            Row(
                "board load after a change, 1 client",
                latencies,
                sql=str(sql.executed),
                floor=floors[1],
            )
        )
    for row in rows[len(floors) :]:
        row.peak_rss_mb = memory.peak_mb
    return rows


if __name__ == "__main__":
    import sys

    from bench.__main__ import main

    main(["board", *sys.argv[1:]])
