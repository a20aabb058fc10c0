"""Scenario: startExport of a big pipeline (100,000 jobs, 5 tasks and 2 assignees each; the
quick plan: 5,000), as a client runs it: the mutation, then Query.export polled every 50 ms
until FINISHED. One figure per export, from the mutation sent to FINISHED seen, so it holds
the claim and the poll's granularity too; jobs/s is the pipeline's jobs over it. The server's
RSS is sampled every 50 ms from before the first export: its growth over that baseline is
what the exports cost in memory (the target: under 100 MB whatever the size).

The pipeline is bulk-loaded by COPY into the seeded firm (its clients and staff), beside the
other scenarios' pipelines, which it leaves alone.

Floor: the same rows (jobs with their client, tasks, assignees: the three statements the
export reads) by PostgreSQL's COPY ... TO STDOUT into a file, in PostgreSQL's text format:
what reading them and writing them out costs with no JSON made and no id encoded.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.http import GraphQL
from bench.infra import PeakMemory
from bench.report import Row, per_second
from bench.seed import STAGES, TASKS, Loader
from bench.suite import Suite, gid
from models import Job, Pipeline, Stage, Task
from tests.databases import asyncpg_url
from tests.servers import rss_kb
from workflow import ranking

START = """mutation Start($p: ID!) {
  startExport(input: {pipelineId: $p, include: [TASKS, ASSIGNEES, CLIENT]}) {
    export { id } errors { code message } } }"""
POLL = "query Poll($id: ID!) { export(id: $id) { status jobCount url } }"
BATCH = 10_000  # jobs per COPY while seeding (bounds the bench's own memory)
POLL_SECONDS = 0.05  # each poll is a request the server answers beside the export

FLOOR_SQL = (
    "SELECT j.id, j.title, j.status, j.priority, j.rank, j.version, j.start_date, j.due_date, "
    "j.tags, j.custom_fields, j.stage_id, j.client_id, j.stage_entered_at, j.stage_due_at, "
    "j.created_at, j.updated_at, c.name, c.email, c.tags, c.custom_fields FROM job j "
    "JOIN client c ON c.id = j.client_id WHERE j.pipeline_id = {p} "
    "AND j.status IN ('ACTIVE', 'COMPLETED') ORDER BY j.id",
    "SELECT t.job_id, t.id, t.title, t.done, t.due_date, t.done_at, t.assignee_id FROM task t "
    "JOIN job j ON j.id = t.job_id WHERE j.pipeline_id = {p} "
    "AND j.status IN ('ACTIVE', 'COMPLETED') ORDER BY t.job_id, t.id",
    "SELECT ja.job_id, u.id, u.name, u.email FROM job_assignee ja JOIN job j ON j.id = ja.job_id "
    "JOIN app_user u ON u.id = ja.user_id WHERE j.pipeline_id = {p} "
    "AND j.status IN ('ACTIVE', 'COMPLETED') ORDER BY ja.job_id, u.name, u.id",
)


async def seed_pipeline(suite: Suite, jobs: int) -> int:
    """A pipeline of `jobs` jobs in 10 stages, with tasks and assignees, in the seeded firm."""
    firm_id = suite.firm.firm_id
    connection = await asyncpg.connect(asyncpg_url(suite.database_url))
    try:
        clients = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM client WHERE firm_id = $1 ORDER BY id", firm_id
            )
        ]
        staff = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM app_user WHERE firm_id = $1 ORDER BY id", firm_id
            )
        ]
        next_id = {
            model: int(
                await connection.fetchval(
                    f'SELECT coalesce(max(id), 0) + 1000 FROM "{model._meta.db_table}"'
                )
            )
            for model in (Pipeline, Stage, Job, Task)
        }
        now = datetime.now(UTC)

        def add(loader: Loader, **values: object) -> int:
            model = loader.model
            next_id[model] += 1
            loader.add(id=next_id[model], firm_id=firm_id, **values)
            return next_id[model]

        head = {model: Loader(model, now) for model in (Pipeline, Stage)}
        pipeline_id = add(head[Pipeline], name="Export bench", event_seq=0)
        stage_ids = [
            add(head[Stage], pipeline_id=pipeline_id, name=name, position=position)
            for position, name in enumerate(STAGES)
        ]
        for loader in head.values():
            await loader.copy(connection)
        per_stage = jobs // len(stage_ids)
        ranks = ranking.spread(per_stage)
        for start in range(0, jobs, BATCH):
            job_rows, task_rows = Loader(Job, now), Loader(Task, now)
            assignees: list[tuple[int, int]] = []
            for n in range(start, min(start + BATCH, jobs)):
                stage = n % len(stage_ids)
                job_id = add(
                    job_rows,
                    client_id=clients[n % len(clients)],
                    pipeline_id=pipeline_id,
                    stage_id=stage_ids[stage],
                    rank=ranks[n // len(stage_ids)],
                    title=f"Export job #{n}",
                    tags=["bench"],
                    stage_entered_at=now,
                )
                people = (staff[n % len(staff)], staff[(n + 7) % len(staff)])
                assignees += [(job_id, user) for user in people]
                for t in range(5):
                    add(
                        task_rows,
                        job_id=job_id,
                        title=TASKS[t % len(TASKS)],
                        assignee_id=people[t % 2],
                        done=t < n % 6,
                    )
            await job_rows.copy(connection)
            await task_rows.copy(connection)
            await connection.copy_records_to_table(
                "job_assignee", records=assignees, columns=["job_id", "user_id"]
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    return pipeline_id


async def floor(suite: Suite, pipeline_id: int, jobs: int, runs: int) -> Row:
    connection = await asyncpg.connect(asyncpg_url(suite.database_url))
    latencies = []
    try:
        with tempfile.TemporaryDirectory(prefix="wf-export-floor-") as folder:
            for n in range(runs + 1):
                started = time.perf_counter()
                async with connection.transaction(isolation="repeatable_read", readonly=True):
                    for index, sql in enumerate(FLOOR_SQL):
                        await connection.copy_from_query(
                            sql.format(p=int(pipeline_id)), output=Path(folder) / f"{index}.txt"
                        )
                if n >= 1:  # the first warms the cache
                    latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await connection.close()
    return Row(
        f"floor: COPY of the same rows to files ({jobs:,} jobs)",
        latencies,
        throughput=per_second(jobs * runs, sum(latencies) / 1000, "jobs"),
        sql="3",
    )


async def export(http: GraphQL, pipeline: str) -> tuple[float, int]:
    """Milliseconds from the mutation to FINISHED, and the jobs exported."""
    started = time.perf_counter()
    _, data = await http.timed(START, p=pipeline)
    assert data["startExport"]["errors"] == [], data
    export_id = data["startExport"]["export"]["id"]
    while True:
        _, polled = await http.timed(POLL, id=export_id)
        if polled["export"]["status"] == "FINISHED":
            return (time.perf_counter() - started) * 1000, int(polled["export"]["jobCount"])
        assert polled["export"]["status"] in ("PENDING", "RUNNING"), polled
        await asyncio.sleep(POLL_SECONDS)


async def run(suite: Suite) -> list[Row]:
    jobs, runs = suite.plan.big_export_jobs, suite.plan.export_runs
    started = time.perf_counter()
    pipeline_id = await seed_pipeline(suite, jobs)
    print(f"startExport: seeded {jobs:,} jobs in {time.perf_counter() - started:.0f} s", flush=True)
    floor_row = await floor(suite, pipeline_id, jobs, runs)
    async with suite.servers(1, "start-export") as [server]:
        async with GraphQL(server.url, suite.firm.token) as http:
            await http.timed(POLL, id=gid("Export", 1))  # the first request loads more
            baseline_kb = rss_kb(server.pid)
            async with PeakMemory([server.pid]) as memory:
                latencies = []
                for _ in range(runs):
                    elapsed, exported = await export(http, gid("Pipeline", pipeline_id))
                    assert exported == jobs, f"exported {exported} of {jobs} jobs"
                    latencies.append(elapsed)
    growth_mb = (memory.peak_kb - baseline_kb) / 1024
    rate = jobs * runs / (sum(latencies) / 1000)
    return [
        floor_row,
        Row(
            f"startExport {jobs:,} jobs (tasks, assignees, client)",
            latencies,
            throughput=per_second(jobs * runs, sum(latencies) / 1000, "jobs"),
            peak_rss_mb=memory.peak_mb,
            floor=floor_row,
            notes=f"RSS +{growth_mb:.0f} MB over {baseline_kb / 1024:.0f} MB (target < 100); "
            f"{rate:,.0f} jobs/s (target >= 50,000)",
        ),
    ]
