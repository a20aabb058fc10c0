"""Deadlines: one scheduler pass (workflow.deadlines.announce_due_deadlines, as
automations.scheduler runs it) over FUTURE jobs whose next crossing is still to come and DUE
jobs that crossed their due date, on PostgreSQL: its time, its statements, and those of a pass
with nothing due (what every idle second of every scheduler costs).

Seed: one firm, one pipeline; its jobs made by the domain (createJob), then copied by
INSERT ... SELECT with their due dates and schedules (the domain takes minutes for 100,000).
Statements are counted from tortoise's statement log (transaction control not included), in
this process: the pass is the scheduler's own code, not a server's.

    python -m bench.deadlines [--quick] [--database postgres://...]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from automations.scheduler import PASS_LIMIT
from bench.infra import BENCH_SECRET_KEY
from models import EventType, JobEvent, sql, writes
from models.db import close_database, open_database
from tests.databases import ADMIN_URL, scratch_database
from workflow import clients, clock, deadlines, jobs, pipelines
from workflow.firms import create_firm
from workflow.scope import Scope

FUTURE, DUE = 100_000, 1_000


class Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


COPY = (
    'INSERT INTO "job" ("firm_id", "client_id", "pipeline_id", "stage_id", "title", "rank", '
    '"version", "status", "priority", "due_date", "tags", "stage_entered_at", "created_at", '
    '"updated_at", "overdue_check_at", "stage_overdue_announced", "due_overdue_announced") '
    'SELECT "firm_id", "client_id", "pipeline_id", "stage_id", "title" || \' \' || n, '
    '"rank" || lpad((n + $5)::text, 7, \'0\'), 1, "status", "priority", $2::date, "tags", '
    '"stage_entered_at", "created_at", "updated_at", $3::timestamptz, false, false '
    'FROM "job", generate_series(1, $4) AS n WHERE "id" = $1'
)


async def run(database_url: str, future: int, due: int) -> None:
    await open_database(database_url, secret_key=BENCH_SECRET_KEY)
    try:
        firm = await create_firm("Deadlines Bench CPA", "owner@deadlines.test", "Pat Owner")
        scope = Scope(firm.firm.id, firm.owner.id)
        pipeline = await pipelines.create_pipeline(scope, "1040 Return", ["Docs", "Review"])
        avery = await clients.create_client(scope, "Avery Johnson")
        now = datetime.now(UTC)
        model = await jobs.create_job(scope, pipeline.id, avery.id, "1040")
        with writes.changing():  # seeding: no server caches this firm yet
            batches = ((future, now.date() + timedelta(days=30)), (due, now.date()))
            for offset, (count, due_date) in zip((0, future), batches, strict=True):
                passes = deadlines.due_date_passes(due_date)
                await sql.execute(COPY, [model.id, due_date, passes, count, offset])
        await sql.execute('ANALYZE "job"', [])
        counter = Statements()
        logger = logging.getLogger("tortoise.db_client")
        logger.addHandler(counter)
        logger.setLevel(logging.DEBUG)
        with clock.frozen(now + timedelta(days=1)):
            started = time.perf_counter()
            announced = await deadlines.announce_due_deadlines(PASS_LIMIT)
            busy_seconds, busy_statements = time.perf_counter() - started, counter.count
            counter.count = 0
            started = time.perf_counter()
            again = await deadlines.announce_due_deadlines(PASS_LIMIT)
            idle_seconds, idle_statements = time.perf_counter() - started, counter.count
        logger.removeHandler(counter)
        events = await JobEvent.filter(type=EventType.JOB_OVERDUE).count()
        assert announced == events == due and again == 0, (announced, events, again)
        print(f"jobs: {future:,} with a deadline to come, {due:,} past their due date")
        print(
            f"pass announcing {due:,}: {busy_seconds:.2f} s, {busy_statements:,} statements "
            f"({busy_statements / due:.1f} per job, {busy_seconds / due * 1000:.2f} ms per job)"
        )
        print(f"pass with none due: {idle_seconds * 1000:.1f} ms, {idle_statements} statement(s)")
    finally:
        await close_database()


async def main_async(args: argparse.Namespace) -> None:
    future, due = (FUTURE // 100, DUE // 10) if args.quick else (FUTURE, DUE)
    async with scratch_database("bench", args.database) as database_url:
        await run(database_url, future, due)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.deadlines")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=ADMIN_URL)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
