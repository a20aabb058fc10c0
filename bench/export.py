"""Scenario 2, big export: every job of the pipeline with its client, stage and tasks, paged
through Pipeline.jobs(first: 100, after: cursor) as an API client would (100 is the largest
page the API will allow). One figure is the whole export, all pages in sequence.

Floor: the same rows, every job at once, by one SQL statement + orjson. Peer: PostGraphile 5
paging the same way (bench/peer.py), if it can be installed. The floor, our server and the
peer export in turn after the same change; every export's job ids must be the floor's, in the
same order (the peer's: else its row fails).

Each export follows a change to the firm's data, so that no page comes from the servers'
result cache (schema/result_cache.py): this is the cost of an export that executes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import asyncpg
import orjson

from bench import peer
from bench.http import GraphQL
from bench.infra import PeakMemory
from bench.report import Row, per_second
from bench.suite import Suite, gid
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


async def floor_once(pg: asyncpg.Connection, suite: Suite) -> tuple[float, list[str]]:
    """Milliseconds for the floor's export, and its job ids (as our global ids)."""
    started = time.perf_counter()
    rows = await pg.fetch(FLOOR_SQL, suite.firm.pipeline_id)
    orjson.dumps(shape(rows))
    return (time.perf_counter() - started) * 1000, [gid("Job", row["id"]) for row in rows]


async def export(http: GraphQL, suite: Suite, of_peer: bool = False) -> tuple[float, list[str]]:
    """Milliseconds for the whole export (its pages' requests, one after the other), and the
    job ids in order (the peer's rowIds spelled as our ids)."""
    after, ids, total = None, [], 0.0
    while True:
        if of_peer:
            elapsed, data = await http.timed(peer.EXPORT, p=suite.firm.pipeline_id, after=after)
        else:
            elapsed, data = await http.timed(EXPORT, p=suite.pipeline, after=after)
        total += elapsed
        connection = data["pipeline"]["jobs"]
        ids += [
            gid("Job", edge["node"]["rowId"]) if of_peer else edge["node"]["id"]
            for edge in connection["edges"]
        ]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(ids) == suite.firm.job_count, f"exported {len(ids)} of {suite.firm.job_count} jobs"
    return total, ids


async def run(suite: Suite) -> list[Row]:
    """The floor, our server and the peer (if it runs) in turn, each export after a change."""
    runs = suite.plan.export_runs
    counting = await suite.counting()
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await http.timed(EXPORT, p=suite.pipeline)  # the first request of a process loads more
        await suite.change_catalog()
        sql = await counting.per_request(1, lambda: export(http, suite))
    skipped: Row | None = None
    mismatch = ""
    async with AsyncExitStack() as stack:
        [server] = await stack.enter_async_context(suite.servers(1, "export"))
        memory = await stack.enter_async_context(PeakMemory([server.pid]))
        pg = await asyncpg.connect(asyncpg_url(suite.database_url))
        stack.push_async_callback(pg.close)
        ours = await stack.enter_async_context(GraphQL(server.url, suite.firm.token))
        sides: dict[str, Callable[[], Awaitable[tuple[float, list[str]]]]] = {
            "floor": partial(floor_once, pg, suite),
            "ours": partial(export, ours, suite),
        }
        served: peer.PeerServer | None = None
        try:
            served = await stack.enter_async_context(
                peer.started(suite.database_url, suite.firm.firm_id, suite.log_dir)
            )
        except peer.Unavailable as error:
            skipped = Row(f"peer ({peer.NAME}) skipped: {error}")
        if served is not None:
            theirs = await stack.enter_async_context(GraphQL(served.url, served.token))
            sides["peer"] = partial(export, theirs, suite, True)
        peer_memory = await stack.enter_async_context(PeakMemory([served.pid] if served else []))
        latencies: dict[str, list[float]] = {side: [] for side in sides}
        for n in range(runs + 1):  # run 0: warm-up
            await suite.change_catalog()
            answers = {}
            names = list(sides)
            for side in names[n % len(names) :] + names[: n % len(names)]:
                elapsed, answers[side] = await sides[side]()
                if n:
                    latencies[side].append(elapsed)
            assert answers["ours"] == answers["floor"], "our export is not the floor's jobs"
            if "peer" in answers and answers["peer"] != answers["ours"]:
                mismatch = "its jobs are not ours, in the same order"
                sides.pop("peer")
                latencies["peer"] = []
    jobs = suite.firm.job_count

    def row(side: str, label: str, **extra: Any) -> Row:
        return Row(
            label,
            latencies[side],
            throughput=per_second(jobs * len(latencies[side]), sum(latencies[side]) / 1000, "jobs"),
            **extra,
        )

    floor_row = row("floor", "floor: export by 1 SQL statement + orjson", sql="1")
    peer_row = None
    if served is not None:
        peer_row = row(
            "peer",
            f"peer: {peer.NAME}, export {jobs:,} jobs ({jobs // PAGE + bool(jobs % PAGE)} pages)",
            floor=floor_row,
            peak_rss_mb=peer_memory.peak_mb,
            notes=f"FAILED: not our export: {mismatch}" if mismatch else "",
        )
    ours_row = row(
        "ours",
        f"export {jobs:,} jobs ({jobs // PAGE + bool(jobs % PAGE)} pages)",
        sql=f"{sql} /export",
        peak_rss_mb=memory.peak_mb,
        floor=floor_row,
        peer=peer_row if peer_row is not None and peer_row.latencies else None,
    )
    middle = skipped or peer_row
    return [floor_row, ours_row] if middle is None else [floor_row, middle, ours_row]
