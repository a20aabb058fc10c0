"""Scenario: the job filter on custom fields (JobFilter.customFields), on the seeded firm's jobs
(5,000 in the benchmarked pipeline and 900 in the others at full size), over HTTP from a server
process: `jobs(filter: {customFields: [...]}, first: 50)` with totalCount, each request after a
change (not timed) so that it executes rather than being answered from the result cache.

Set-up, not timed: five JOB custom fields on the firm and values on each of its jobs, made from
the job's id (an EIN each, a filing status of four, a fee, a year end, an extension flag), and
as many other firms again as the table needs to hold ten times the firm's jobs, with the same
keys and values: the firm is a tenth of the table, as on a shared server.

Floor: the same filter as one hand-written statement (the page and its total by a window
count) through asyncpg, in the benchmark's process.

Index: the equality filters are containment (`custom_fields @> '{"key": value}'`), which the GIN
index of migration 0017 (jsonb_path_ops) answers. Its worth is measured here, before the servers
start: the server's statement under EXPLAIN ANALYZE with the index and, in a transaction rolled
back, without it (the firm_id index alone, then the filter on the firm's rows).

    python -m bench.custom_fields     (the same as `python -m bench fields`)
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from bench.http import GraphQL
from bench.infra import PeakMemory
from bench.report import Row, per_second
from bench.seed import Loader
from bench.sqlcount import PerRequest
from bench.suite import Suite
from models import Client, Firm, Job, Pipeline, Stage
from tests.databases import asyncpg_url
from workflow import ranking

FIELDS = (
    ("ein", "EIN", "TEXT", []),
    ("filing_status", "Filing status", "SELECT", ["MFJ", "single", "HOH", "MFS"]),
    ("fee", "Fee", "NUMBER", []),
    ("year_end", "Fiscal year end", "DATE", []),
    ("extension", "Extension filed", "BOOLEAN", []),
)
SHARE = 10  # the firm's jobs are one in SHARE of the table
PAGE = 50
INDEX_USED = r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)"
QUERY = """query($f: JobFilter) { jobs(filter: $f, first: 50) { totalCount
  edges { node { id title customFields } } } }"""
# Values by job id, in SQL (the set-up) and in Python (to check the answers).
VALUES_SQL = """jsonb_build_object(
  'ein', '12-' || lpad(id::text, 7, '0'),
  'filing_status', (ARRAY['MFJ', 'single', 'HOH', 'MFS'])[id % 4 + 1],
  'fee', (id * 37) % 2000,
  'year_end', to_char(DATE '2025-01-01' + (id % 365), 'YYYY-MM-DD'),
  'extension', id % 5 = 0)"""


def ein(job_id: int) -> str:
    return f"12-{job_id:07d}"


def fee(job_id: int) -> int:
    return (job_id * 37) % 2000


def cases(suite: Suite) -> list[tuple[str, list[dict[str, Any]], str, list[Any]]]:
    """(name, the GraphQL filter, the floor's condition, its parameters)."""
    one = suite.firm.jobs_by_stage[suite.firm.stage_ids[3]][7]
    return [
        (
            "equality, 1 job (TEXT)",
            [{"key": "ein", "equals": ein(one)}],
            "custom_fields @> $2::jsonb",
            [orjson.dumps({"ein": ein(one)}).decode()],
        ),
        (
            "equality, 1 in 4 (SELECT)",
            [{"key": "filing_status", "equals": "HOH"}],
            "custom_fields @> $2::jsonb",
            ['{"filing_status": "HOH"}'],
        ),
        (
            "range, 1 in 10 (NUMBER)",
            [{"key": "fee", "min": 100, "max": 299}],
            "jsonb_typeof(custom_fields->'fee') = 'number' "
            "AND (custom_fields->>'fee')::numeric BETWEEN $2 AND $3",
            [100, 299],
        ),
        (
            "range, 1 in 12 (DATE)",
            [{"key": "year_end", "min": "2025-03-01", "max": "2025-03-31"}],
            "jsonb_typeof(custom_fields->'year_end') = 'string' "
            "AND custom_fields->>'year_end' BETWEEN $2 AND $3",
            ["2025-03-01", "2025-03-31"],
        ),
        (
            "equality and range",
            [{"key": "extension", "equals": True}, {"key": "fee", "min": 1000}],
            "custom_fields @> $2::jsonb AND jsonb_typeof(custom_fields->'fee') = 'number' "
            "AND (custom_fields->>'fee')::numeric >= $3",
            ['{"extension": true}', 1000],
        ),
    ]


def floor_sql(condition: str) -> str:
    """The page and the total of the matching jobs in one statement (the matches read once)."""
    return (
        "WITH matched AS MATERIALIZED (SELECT id, title, custom_fields FROM job "
        f"WHERE firm_id = $1 AND status IN ('ACTIVE', 'COMPLETED') AND {condition}) "
        "SELECT *, (SELECT count(*) FROM matched) AS total FROM matched "
        f"ORDER BY id LIMIT {PAGE}"
    )


async def prepare(connection: asyncpg.Connection, suite: Suite) -> int:
    """The definitions, the firm's values and the other firms' jobs; the table's job count."""
    firm_id = suite.firm.firm_id
    now = datetime.now(UTC)
    async with connection.transaction():
        for position, (key, label, kind, options) in enumerate(FIELDS):
            await connection.execute(
                "INSERT INTO custom_field (firm_id, entity, key, label, type, options, required, "
                "position, created_at, updated_at) VALUES ($1, 'JOB', $2, $3, $4, $5, false, $6, "
                "$7, $7)",
                firm_id,
                key,
                label,
                kind,
                orjson.dumps(options).decode(),
                position,
                now,
            )
        await connection.execute(
            f"UPDATE job SET custom_fields = {VALUES_SQL} WHERE firm_id = $1", firm_id
        )
        own = await connection.fetchval("SELECT count(*) FROM job WHERE firm_id = $1", firm_id)
        loaders = {model: Loader(model, now) for model in (Firm, Client, Pipeline, Stage, Job)}
        base = await connection.fetchval("SELECT max(id) FROM job")
        next_id = dict.fromkeys(loaders, base + 1_000_000)

        def add(model: type[Any], **values: Any) -> int:
            next_id[model] += 1
            loaders[model].add(id=next_id[model], **values)
            return next_id[model]

        per_firm = 5000 if own >= 5000 else own
        for n in range((own * (SHARE - 1)) // per_firm):
            other = add(Firm, name=f"Neighbour {n}")
            client = add(Client, firm_id=other, name="Client", tags=[])
            pipeline = add(Pipeline, firm_id=other, name="1040", event_seq=0)
            stage = add(Stage, firm_id=other, pipeline_id=pipeline, name="Intake", position=0)
            for rank in ranking.spread(per_firm):
                add(
                    Job,
                    firm_id=other,
                    client_id=client,
                    pipeline_id=pipeline,
                    stage_id=stage,
                    rank=rank,
                    title="Neighbour job",
                    due_date=date(2026, 4, 15) + timedelta(days=n),
                    tags=[],
                    stage_entered_at=now,
                )
        for loader in loaders.values():
            await loader.copy(connection)
        await connection.execute(
            f"UPDATE job SET custom_fields = {VALUES_SQL} WHERE firm_id <> $1", firm_id
        )
    # As autovacuum would soon on a live database: until a vacuum, the GIN index keeps the
    # entries of rows just written in its pending list, which every search reads in full (on
    # this table: 8 ms a statement instead of 0.03 ms for a one-job equality).
    await connection.execute("VACUUM ANALYZE job")
    return int(await connection.fetchval("SELECT count(*) FROM job"))


async def explained(connection: asyncpg.Connection, sql: str, args: list[Any]) -> tuple[float, str]:
    """The median execution time (ms) of five EXPLAIN ANALYZE runs, and the indexes the plan
    reads the job table by (or "seq scan")."""
    times, plan = [], ""
    for _ in range(6):
        lines = [r[0] for r in await connection.fetch("EXPLAIN ANALYZE " + sql, *args)]
        times.append(float(re.findall(r"Execution Time: ([\d.]+)", lines[-1])[0]))
        used = re.findall(
            r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)", "\n".join(lines)
        )
        plan = " & ".join(dict.fromkeys(used)) or "seq scan"
    return statistics.median(times[1:]), plan


async def index_worth(
    connection: asyncpg.Connection, suite: Suite
) -> dict[str, tuple[float, str, float, str]]:
    """Per case: the floor statement's execution time and plan with the GIN index, then
    without it (dropped in a transaction, rolled back)."""
    worth: dict[str, tuple[float, str, float, str]] = {}
    for name, _, condition, params in cases(suite):
        args = [suite.firm.firm_id, *params]
        with_index = await explained(connection, floor_sql(condition), args)
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute('DROP INDEX "idx_job_custom_fields"')
            without = await explained(connection, floor_sql(condition), args)
        finally:
            await transaction.rollback()
        worth[name] = (*with_index, *without)
    return worth


async def floor(
    connection: asyncpg.Connection, suite: Suite, condition: str, params: list[Any], n: int
) -> list[float]:
    latencies = []
    for round_ in range(n + 1):
        started = time.perf_counter()
        rows = await connection.fetch(floor_sql(condition), suite.firm.firm_id, *params)
        orjson.dumps([{**dict(row), "custom_fields": row["custom_fields"]} for row in rows])
        if round_:
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def bump(connection: asyncpg.Connection, suite: Suite) -> None:
    """A catalog change, straight to the database: the servers' cached answers are stale."""
    await connection.execute(
        "UPDATE firm SET catalog_version = catalog_version + 1 WHERE id = $1", suite.firm.firm_id
    )


async def count(connection: asyncpg.Connection, suite: Suite) -> dict[str, PerRequest]:
    """SQL statements per filtered jobs query, on a counting server (the bumps bypass it)."""
    counting = await suite.counting()
    counts: dict[str, PerRequest] = {}
    async with GraphQL(counting.servers[0].url, suite.firm.token) as http:
        await http.timed(QUERY, f={})  # a process's first request loads more
        for name, filters, _, _ in cases(suite):

            async def queries(filters: list[dict[str, Any]] = filters) -> None:
                for _ in range(suite.plan.count_requests):
                    await bump(connection, suite)
                    await http.timed(QUERY, f={"customFields": filters})

            counts[name] = await counting.per_request(suite.plan.count_requests, queries)
    return counts


async def run(suite: Suite) -> list[Row]:
    requests = suite.plan.board_requests
    connection = await asyncpg.connect(asyncpg_url(suite.database_url))
    rows: list[Row] = []
    try:
        table_jobs = await prepare(connection, suite)
        worth = await index_worth(connection, suite)
        sql = await count(connection, suite)
        expected = {}
        for name, _, condition, params in cases(suite):
            found = await connection.fetch(floor_sql(condition), suite.firm.firm_id, *params)
            expected[name] = found[0]["total"] if found else 0
        async with suite.servers(1, "fields") as [server], PeakMemory([server.pid]) as memory:
            async with GraphQL(server.url, suite.firm.token) as http:
                await http.timed(QUERY, f={})  # warm-up: a process's first requests load more
                for name, filters, condition, params in cases(suite):
                    latencies = []
                    started = time.perf_counter()
                    for _ in range(requests):
                        await bump(connection, suite)  # the cached answer is stale: it executes
                        elapsed, data = await http.timed(QUERY, f={"customFields": filters})
                        assert data["jobs"]["totalCount"] == expected[name], name
                        latencies.append(elapsed)
                    seconds = time.perf_counter() - started
                    base = Row(
                        f"  floor: 1 SQL statement ({name})",
                        await floor(connection, suite, condition, params, requests),
                        sql="1",
                    )
                    with_index, plan, without, plan_without = worth[name]
                    rows += [
                        Row(
                            f"custom-field filter: {name}",
                            latencies,
                            throughput=per_second(len(latencies), seconds),
                            sql=str(sql[name]),
                            peak_rss_mb=memory.peak_mb,
                            floor=base,
                            notes=f"{expected[name]:,} of {suite.firm.job_count:,}+ jobs; "
                            f"SQL {with_index:.2f} ms by {plan}; without the GIN index "
                            f"{without:.2f} ms by {plan_without}; table {table_jobs:,} jobs",
                        ),
                        base,
                    ]
    finally:
        await connection.close()
    return rows


if __name__ == "__main__":
    import sys

    from bench.__main__ import main

    main(["fields", *sys.argv[1:]])
