"""Scenario 2, big export: every job of the pipeline with its client, stage and tasks, paged
through Pipeline.jobs(first: 100, after: cursor) as an API client would (100 is the largest
page the API will allow). One figure is the whole export, all pages in sequence.

Floor: the same rows, every job at once, by one SQL statement + orjson.

Each export follows a change to the firm's data, so that no page comes from the servers'
result cache (schema/result_cache.py): this is the cost of an export that executes.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import orjson

from bench.http import GraphQL
from bench.infra import PeakMemory
from bench.report import Row, per_second
from bench.suite import Suite
from tests.databases import asyncpg_url

PAGE = 100
EXPORT = """query Export($p: ID!, $after: String) { pipeline(id: $p) {
  jobs(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node {
    id title status version rank dueDate stage { id } client { id name }
    tasks { edges { node { id title done } } } } } } } }"""

FLOOR_SQL = """
WITH tasks AS (
  SELECT t.job_id, array_agg((t.id, t.title, t.done) ORDER BY t.id) AS tasks
  FROM task t JOIN job j ON j.id = t.job_id
  WHERE j.pipeline_id = $1 AND j.status = 'ACTIVE' GROUP BY t.job_id)
SELECT j.id, j.title, j.status, j.version, j.rank, j.due_date, j.stage_id, c.id AS client_id,
  c.name AS client_name, tasks.tasks
FROM job j JOIN client c ON c.id = j.client_id LEFT JOIN tasks ON tasks.job_id = j.id
WHERE j.pipeline_id = $1 AND j.status = 'ACTIVE' ORDER BY j.id"""


def shape(rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [
        {
            "node": {
                "id": row["id"],
                "title": row["title"],
                "status": row["status"],
                "version": row["version"],
                "rank": row["rank"],
                "dueDate": row["due_date"],
                "stage": {"id": row["stage_id"]},
                "client": {"id": row["client_id"], "name": row["client_name"]},
                "tasks": {
                    "edges": [
                        {"node": {"id": t[0], "title": t[1], "done": t[2]}}
                        for t in row["tasks"] or ()
                    ]
                },
            }
        }
        for row in rows
    ]


async def floor(suite: Suite, runs: int) -> Row:
    pg = await asyncpg.connect(asyncpg_url(suite.database_url))
    try:
        latencies = []
        for n in range(runs + 1):
            started = time.perf_counter()
            rows = await pg.fetch(FLOOR_SQL, suite.firm.pipeline_id)
            orjson.dumps(shape(rows))
            if n >= 1:
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await pg.close()
    return Row(
        "floor: export by 1 SQL statement + orjson",
        latencies,
        throughput=per_second(suite.firm.job_count * runs, sum(latencies) / 1000, "jobs"),
        sql="1",
    )


async def export(http: GraphQL, suite: Suite) -> tuple[float, int]:
    """Milliseconds for the whole export, and the pages it took."""
    after, pages, jobs, total = None, 0, 0, 0.0
    while True:
        elapsed, data = await http.timed(EXPORT, p=suite.pipeline, after=after)
        total += elapsed
        connection = data["pipeline"]["jobs"]
        pages, jobs = pages + 1, jobs + len(connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert jobs == suite.firm.job_count, f"exported {jobs} of {suite.firm.job_count} jobs"
    return total, pages


async def run(suite: Suite) -> list[Row]:
    runs = suite.plan.export_runs
    counting = await suite.counting()
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await http.timed(EXPORT, p=suite.pipeline)  # the first request of a process loads more
        await suite.change_catalog()
        sql = await counting.per_request(1, lambda: export(http, suite))
    floor_row = await floor(suite, runs)
    async with suite.servers(1, "export") as [server], PeakMemory([server.pid]) as memory:
        async with GraphQL(server.url, suite.firm.token) as http:
            await export(http, suite)  # warm-up
            latencies = []
            for _ in range(runs):
                await suite.change_catalog()
                elapsed, pages = await export(http, suite)
                latencies.append(elapsed)
    jobs = suite.firm.job_count
    row = Row(
        f"export {jobs:,} jobs ({pages} pages)",
        latencies,
        throughput=per_second(jobs * runs, sum(latencies) / 1000, "jobs"),
        sql=f"{sql} /export",
        peak_rss_mb=memory.peak_mb,
        floor=floor_row,
    )
    return [floor_row, row]
