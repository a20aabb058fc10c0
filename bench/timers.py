"""Scenario 8, timers: what one pass of the background loops costs when 100,000 timers are set
for later and 1,000 are due, on SQLite and on PostgreSQL. A pass should cost what is due, not
what exists: each kind's due rows are read by an index on its due column (the EXPLAIN of the
pass's own due query is shown beside its figures, for a custom plan and, on PostgreSQL, for
the generic plan a prepared statement settles on after five runs).

The timers are the rows of KINDS, each a table, its due column, a seed and a pass:
- reminders: organizers (next_reminder_at) of SENT organizers; the pass is the scheduler's
  kind for them (workflow.reminders.send_due_reminders);
- automation runs dated later (automation_run.run_after, PENDING), of a DAYS_IN_STAGE
  automation; the pass is the runner's (automations.runner.run_due: its due-run query in firm
  turns, then each run claimed by id, its automation and conditions checked again, executed:
  here a CREATE_TASK);
- deadlines: jobs (overdue_check_at) past their due date; the pass is the scheduler's kind for
  them (workflow.deadlines.announce_due_deadlines: a JOB_OVERDUE event each). A job per timer:
  seeded as jobs of their own with a due date and overdue_check_at set (not the World's);
- recurring schedules (recurring_schedule.next_run_at), monthly, of one shared template, each
  listing the one client: a due one makes one job; the pass is the scheduler's kind for them
  (workflow.occurrences.create_due_jobs).

Seed: a firm, a client with one contact, a job template, 1,000 jobs by bulk SQL (executemany),
then per kind 100,000 rows due later (spread over the next 100 days) and, before each timed
pass, 1,000 due (spread over the hour before now), one per job (deadlines: a job each). The
clock is held (workflow.clock.frozen) at NOW, so every pass sees the same time.

Rows: the idle tick (automations.scheduler.run_due, every kind of dated work, and the
runner's automations.runner.run_due, with nothing due and 100,000 future rows of each kind
here: the cost of a tick that finds nothing), 30 times; then each kind's pass over 1,000 due rows, 3
times (each with 1,000 new due rows: the pass moves reminders to later, and runs finish).
SQL: statements per pass by tortoise's statement log, in this process (BEGIN, COMMIT and
SAVEPOINTs not counted). Floor: the same due rows read by one hand-written SELECT per kind,
with no work done.

    python -m bench.timers [--quick] [--markdown]   this scenario alone (python -m bench timers
                                                     runs it after seeding the suite's firm)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise import connections

from automations import manage, runner, scheduler
from bench.infra import BENCH_SECRET_KEY
from bench.report import Row, per_second, table
from bench.suite import Suite
from models import (
    ActionType,
    AutomationRun,
    AutomationTrigger,
    Job,
    JobEvent,
    RecurringSchedule,
    Stage,
    sql,
    writes,
)
from models.db import close_database, is_postgres, open_database
from tests.databases import scratch_database, sqlite_folder
from workflow import (
    clients,
    clock,
    contacts,
    deadlines,
    jobs,
    occurrences,
    pipelines,
    reminders,
    templates,
)
from workflow.dated import Progress
from workflow.firms import create_firm
from workflow.scope import Scope

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
JOBS = 1000
IDLE_PASSES = 30
TRIGGER_DAYS = 3
DUE_PASSES = 3


@dataclass(frozen=True)
class Sizes:
    future: int  # rows due later, per kind
    due: int  # rows due at each timed pass, per kind (one per job: at most JOBS)


FULL, QUICK = Sizes(100_000, 1000), Sizes(10_000, 100)
FULL_PLAN_EMAILS = 2000  # bench.suite.FULL's: the suite runs full-size


@dataclass(frozen=True)
class World:
    scope: Scope
    client_id: int
    pipeline_id: int
    stage_id: int
    template_id: int  # the job template every recurring schedule runs
    job_ids: list[int]
    entry_id: int  # an event for runs to hang from (automation_run.entry_id)
    automation_id: int  # a DAYS_IN_STAGE automation of the stage, which the runs are of


@dataclass(frozen=True)
class TimerKind:
    """One kind of timer: its table and due column, how its rows are seeded, the pass that
    does what is due, the pass's own due query (for EXPLAIN) and the floor's SELECT."""

    name: str
    table: str
    due_column: str
    seed: Callable[[World, Sequence[datetime]], Awaitable[None]]
    tick: Callable[[], Awaitable[int]]
    query: str  # with ? placeholders, as models.sql runs it
    params: Callable[[datetime], list[Any]]
    floor: str  # the due rows by hand, `now` its one parameter
    # why the items a pass did were not done as meant (skipped, failed), None when they were
    wrong: Callable[[], Awaitable[str | None]]


async def insert(
    table: str, columns: Sequence[str], literals: dict[str, str], rows: list[Any]
) -> None:
    """Rows by executemany, in batches; `literals`: constant values written in the SQL (JSON
    columns: one text for both databases' JSON types)."""
    db = connections.get("default")
    names = ", ".join(f'"{c}"' for c in [*columns, *literals])
    values = ", ".join(["?"] * len(columns) + list(literals.values()))
    text = sql._in_dialect(
        f'INSERT INTO "{table}" ({names}) VALUES ({values})', db.capabilities.dialect
    )
    if not is_postgres():  # sqlite3's date adapters are deprecated: the text tortoise writes
        rows = [tuple(str(v) if isinstance(v, date) else v for v in row) for row in rows]
    for start in range(0, len(rows), 10_000):
        await db.execute_many(text, rows[start : start + 10_000])


async def seed_organizers(world: World, due_at: Sequence[datetime]) -> None:
    rows = [
        (world.scope.firm_id, world.job_ids[n % len(world.job_ids)], world.client_id,
         world.stage_id, f"2026 organizer #{n}", "SENT", NOW - timedelta(days=30), 7, 3, 0, at)
        for n, at in enumerate(due_at)
    ]  # fmt: skip
    await insert(
        "organizer",
        ["firm_id", "job_id", "client_id", "stage_id", "title", "status", "created_at",
         "remind_every_days", "max_reminders", "reminders_sent", "next_reminder_at"],
        {"questions": "'[\"Income?\"]'", "answers": "'[]'"},
        rows,
    )  # fmt: skip


async def seed_runs(world: World, due_at: Sequence[datetime]) -> None:
    rows = [
        (world.scope.firm_id, world.automation_id, world.job_ids[n % len(world.job_ids)],
         world.entry_id, world.stage_id, "CREATE_TASK", "PENDING", 0, 0, at,
         NOW - timedelta(days=1), "DAYS_IN_STAGE", TRIGGER_DAYS)
        for n, at in enumerate(due_at)
    ]  # fmt: skip
    await insert(
        "automation_run",
        ["firm_id", "automation_id", "job_id", "entry_id", "stage_id", "action", "status",
         "depth", "attempts", "run_after", "created_at", "trigger", "trigger_days"],
        {"settings": "'{\"title\": \"Review the documents\"}'", "result": "'{}'"},
        rows,
    )  # fmt: skip


_ranks = itertools.count()  # the deadline jobs' ranks, unique in their stage across seeds


async def seed_deadlines(world: World, due_at: Sequence[datetime]) -> None:
    """A job per timer, its next crossing its due date's: a due one due yesterday (checked at
    `at`), the others due the day `at` falls on (checked at that day's end)."""
    made = NOW - timedelta(days=30)
    rows = []
    for at in due_at:
        n = next(_ranks)
        due_date = (NOW - timedelta(days=1)).date() if at <= NOW else at.date()
        check = at if at <= NOW else deadlines.due_date_passes(due_date)
        rows.append(
            (world.scope.firm_id, world.client_id, world.pipeline_id, world.stage_id,
             f"Avery 1040 deadline #{n}", f"dl{n:07d}", 1, "ACTIVE", "NORMAL", made, made,
             made, due_date, check, False, False)
        )  # fmt: skip
    await insert(
        "job",
        ["firm_id", "client_id", "pipeline_id", "stage_id", "title", "rank", "version",
         "status", "priority", "stage_entered_at", "created_at", "updated_at", "due_date",
         "overdue_check_at", "stage_overdue_announced", "due_overdue_announced"],
        {"tags": "'[]'"},
        rows,
    )  # fmt: skip


async def seed_schedules(world: World, due_at: Sequence[datetime]) -> None:
    """Monthly schedules of the one template for the one client, from January 2026 (UTC, no
    lead days): a due one's next occurrence is January 2027's (due since its first day, its
    next_run_at set within the hour before NOW), the others' the month `at` falls in."""
    made = NOW - timedelta(days=30)
    rows = [
        (world.scope.firm_id, world.template_id, "MONTHLY", 1, "UTC", 0, False,
         "2027-01" if at <= NOW else f"{at.year}-{at.month:02d}", at, made, made)
        for at in due_at
    ]  # fmt: skip
    await insert(
        "recurring_schedule",
        ["firm_id", "template_id", "frequency", "interval", "timezone", "lead_days", "paused",
         "next_period", "next_run_at", "created_at", "updated_at"],
        {"client_ids": f"'[{world.client_id}]'", "skipped_while_paused": "'[]'",
         "starts_on": "'2026-01-01'"},
        rows,
    )  # fmt: skip


async def deadlines_left() -> str | None:
    left = await Job.filter(overdue_check_at__lte=NOW).count()
    return f"{left} deadline(s) still due" if left else None


async def schedules_left() -> str | None:
    left = await RecurringSchedule.filter(next_run_at__lte=NOW).count()
    return f"{left} schedule(s) still due" if left else None


async def runs_not_succeeded() -> str | None:
    runs = await AutomationRun.exclude(status__in=["PENDING", "SUCCEEDED"]).first()
    return f"a run {runs.status}: {runs.error}" if runs else None


async def reminders_not_sent() -> str | None:
    return None  # counted: send_due_reminders returns the reminders sent, not stopped


async def reminders_pass() -> int:
    return await reminders.send_due_reminders(scheduler.PASS_LIMIT, Progress())


async def runs_pass() -> int:
    return await runner.run_due(limit=scheduler.PASS_LIMIT)


async def deadlines_pass() -> int:
    return await deadlines.announce_due_deadlines(scheduler.PASS_LIMIT, Progress())


async def schedules_pass() -> int:
    return await occurrences.create_due_jobs(scheduler.PASS_LIMIT, Progress())


KINDS: list[TimerKind] = [
    TimerKind(
        "reminders",
        "organizer",
        "next_reminder_at",
        seed_organizers,
        reminders_pass,
        reminders.DUE,  # organizers and invoices (none here), in firm turns
        lambda now: [now, "SENT", now, "UNPAID", 0, reminders.ROUND],
        'SELECT "id" FROM "organizer" WHERE "next_reminder_at" <= ? AND "status" = \'SENT\'',
        reminders_not_sent,
    ),
    TimerKind(
        "automation runs",
        "automation_run",
        "run_after",
        seed_runs,
        runs_pass,
        runner.DUE,
        lambda now: ["PENDING", now, 0, runner.ROUND],
        'SELECT "id" FROM "automation_run" WHERE "status" = \'PENDING\' AND "run_after" <= ?',
        runs_not_succeeded,
    ),
    TimerKind(
        "deadlines",
        "job",
        "overdue_check_at",
        seed_deadlines,
        deadlines_pass,
        deadlines.DUE,
        lambda now: [now, 0, deadlines.ROUND],
        'SELECT "id" FROM "job" WHERE "overdue_check_at" <= ?',
        deadlines_left,
    ),
    TimerKind(
        "recurring schedules",
        "recurring_schedule",
        "next_run_at",
        seed_schedules,
        schedules_pass,
        occurrences.DUE,
        lambda now: [now, 0, occurrences.ROUND],
        'SELECT "id" FROM "recurring_schedule" WHERE "next_run_at" <= ?',
        schedules_left,
    ),
]


def future_times(count: int) -> list[datetime]:
    """Spread over the 100 days after NOW (never due during the run)."""
    step = timedelta(days=100) / count
    return [NOW + timedelta(minutes=1) + step * n for n in range(count)]


def due_times(count: int) -> list[datetime]:
    """Spread over the hour before NOW."""
    return [NOW - timedelta(hours=1) + timedelta(hours=1) * n / count for n in range(count)]


async def make_world() -> World:
    firm = await create_firm("Timers Bench CPA", "owner@timers-bench.test", "Pat Owner")
    scope = Scope(firm.firm.id, firm.owner.id)
    pipeline = await pipelines.create_pipeline(scope, "1040 Return", ["Collect", "Review"])
    stage = await Stage.filter(pipeline_id=pipeline.id).order_by("position").first()
    assert stage is not None
    client = await clients.create_client(scope, "Avery Household")
    await contacts.create_contact(scope, client.id, "Avery", "avery@client.example.test")
    first = await jobs.create_job(scope, pipeline.id, client.id, "Avery 1040 #0")
    event = await JobEvent.filter(job_id=first.id).first()
    assert event is not None
    automation = await manage.create_automation(
        scope,
        stage.id,
        ActionType.CREATE_TASK,
        {"title": "Review the documents"},
        trigger=AutomationTrigger.DAYS_IN_STAGE,
        trigger_days=TRIGGER_DAYS,
    )
    await AutomationRun.all().delete()  # any the domain scheduled: the seed makes them
    template = await templates.create_job_template(
        scope, "Monthly bookkeeping", pipeline.id, "{client.name} bookkeeping {period}"
    )
    made = NOW - timedelta(days=30)
    await insert(
        "job",
        ["firm_id", "client_id", "pipeline_id", "stage_id", "title", "rank", "version",
         "status", "priority", "stage_entered_at", "created_at", "updated_at"],
        {"tags": "'[]'"},
        [(scope.firm_id, client.id, pipeline.id, stage.id, f"Avery 1040 #{n}", f"zz{n:06d}",
          1, "ACTIVE", "NORMAL", made, made, made) for n in range(1, JOBS)],
    )  # fmt: skip
    ids = await Job.filter(pipeline_id=pipeline.id).order_by("id").values_list("id", flat=True)
    job_ids = [int(job_id) for job_id in ids]  # type: ignore[call-overload]
    return World(
        scope, client.id, pipeline.id, stage.id, template.id, job_ids, event.id, automation.id
    )


# --- Measuring --------------------------------------------------------------------------------


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def counted(work: Callable[[], Awaitable[Any]]) -> tuple[float, int, Any]:
    """(milliseconds, statements, result) of one call, the statements by tortoise's log
    (its handler costs the timing a little: ~1 us a statement)."""
    logger = logging.getLogger("tortoise.db_client")
    statements, level = _Statements(), logger.level
    logger.addHandler(statements)
    logger.setLevel(logging.DEBUG)
    try:
        started = time.perf_counter()
        result = await work()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        logger.removeHandler(statements)
        logger.setLevel(level)
    return elapsed, statements.count, result


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return (time.perf_counter() - started) * 1000, result


async def plan(kind: TimerKind, generic: bool = False) -> str:
    """How the pass's due query reaches `kind`'s table: the index it uses, or SCAN."""
    db = connections.get("default")
    text = sql._in_dialect(kind.query, db.capabilities.dialect)
    params = kind.params(NOW)
    if not is_postgres():
        rows = await db.execute_query_dict(f"EXPLAIN QUERY PLAN {text}", params)
        lines = [row["detail"] for row in rows if re.search(rf"\b{kind.table}\b", row["detail"])]
    else:
        async with db.acquire_connection() as connection:
            async with connection.transaction():
                mode = "force_generic_plan" if generic else "force_custom_plan"
                await connection.execute(f"SET LOCAL plan_cache_mode = {mode}")
                rows = await connection.fetch(f"EXPLAIN {text}", *params)
        explained = [row[0] for row in rows]
        lines = [
            re.sub(r"\s*\(cost=[^)]*\)", "", line).strip().removeprefix("->").strip()
            for line in explained
            if re.search(rf"\bon {kind.table}\b", line)
        ]
    return "; ".join(sorted(set(lines))) or "?"


async def backend(label: str, database_url: str, sizes: Sizes) -> list[Row]:
    await open_database(database_url, secret_key=BENCH_SECRET_KEY)
    rows: list[Row] = []
    try:
        writes.check_by_default(False)  # the seed writes rows directly, as the test suite does
        started = time.perf_counter()
        try:
            world = await make_world()
            for kind in KINDS:
                await kind.seed(world, future_times(sizes.future))
        finally:
            writes.check_by_default(True)
        await connections.get("default").execute_script("ANALYZE")  # as autovacuum would
        print(
            f"timers, {label}: seeded {JOBS} jobs and {sizes.future:,} future rows per kind in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        plans = {}
        for kind in KINDS:
            plans[kind.name] = await plan(kind)
            if is_postgres() and (generic := await plan(kind, True)) != plans[kind.name]:
                plans[kind.name] = f"custom: {plans[kind.name]}; generic: {generic}"
            elif is_postgres():
                plans[kind.name] += " (custom and generic plans)"
            print(f"timers, {label}, {kind.name}: {plans[kind.name]}", flush=True)
        with clock.frozen(NOW):
            rows += await idle(label, sizes)
            for kind in KINDS:
                rows += await due_pass(label, kind, sizes, plans[kind.name], world)
    finally:
        await close_database()
    return rows


async def floor_select(kinds: Sequence[TimerKind]) -> int:
    found = 0
    for kind in kinds:
        found += len(await sql.fetch(kind.floor, [clock.now()]))
    return found


async def idle(label: str, sizes: Sizes) -> list[Row]:
    """Every kind's pass with nothing due."""

    async def tick() -> int:  # the scheduler's every kind of dated work, and the runner's
        return await scheduler.run_due() + await runs_pass()

    floor = Row(f"floor: the due SELECTs (none due), {label}")
    for _ in range(IDLE_PASSES):
        elapsed, found = await timed(lambda: floor_select(KINDS))
        assert found == 0
        floor.latencies.append(elapsed)
    row = Row(
        f"idle tick (scheduler.run_due, runner.run_due), {label}: 0 due, "
        f"{sizes.future:,} later of each kind",
        floor=floor,
    )
    _, statements, done = await counted(tick)  # the first pass prepares its statements
    assert done == 0
    for _ in range(IDLE_PASSES):
        elapsed, done = await timed(tick)
        assert done == 0
        row.latencies.append(elapsed)
    _, statements, _ = await counted(tick)
    row.sql = str(statements)
    return [floor, row]


async def due_pass(
    label: str, kind: TimerKind, sizes: Sizes, plan_text: str, world: World
) -> list[Row]:
    floor = Row(f"floor: {kind.name} due SELECT ({sizes.due:,} due), {label}")
    row = Row(
        f"{kind.name} pass, {label}: {sizes.due:,} due of {sizes.future + sizes.due:,}",
        floor=floor,
        notes=f"plan: {plan_text}",
    )
    statements: list[int] = []
    done_total, seconds = 0, 0.0
    for _ in range(DUE_PASSES):
        writes.check_by_default(False)
        try:
            await kind.seed(world, due_times(sizes.due))
        finally:
            writes.check_by_default(True)
        for _ in range(10):
            elapsed, found = await timed(lambda: floor_select([kind]))
            assert found == sizes.due, (found, sizes.due)
            floor.latencies.append(elapsed)
        elapsed, count, done = await counted(kind.tick)
        assert done == sizes.due, (kind.name, done)
        assert (wrong := await kind.wrong()) is None, wrong
        row.latencies.append(elapsed)
        statements.append(count)
        done_total, seconds = done_total + done, seconds + elapsed / 1000
    row.throughput = per_second(done_total, seconds, "items")
    per_item = statistics.median(statements) / sizes.due
    row.sql = f"{statistics.median(statements):.0f} ({per_item:.1f}/item)"
    return [floor, row]


async def scenario(admin_url: str, work_dir: Path, sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    with sqlite_folder(work_dir) as folder:
        rows += await backend("SQLite", f"sqlite://{folder / 'timers.sqlite3'}", sizes)
    async with scratch_database("timers", admin_url) as database_url:
        rows += await backend("PostgreSQL", database_url, sizes)
    return rows


async def run(suite: Suite) -> list[Row]:
    return await scenario(
        suite.database_url, suite.log_dir, QUICK if suite.plan.emails < 1000 else FULL
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.timers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="10,000 future rows, 100 due")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wf-bench-") as work:
        rows = asyncio.run(scenario(args.database, Path(work), QUICK if args.quick else FULL))
    print("\n" + table(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
