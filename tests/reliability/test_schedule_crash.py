"""Crash: a worker (`python server.py worker`, which runs the scheduler) SIGKILLed in the middle
of a recurring schedule's occurrence, on PostgreSQL with two workers on one clock that the test
moves (tests.servers ServerClock): each (schedule, client, period) still gets exactly one job,
with one JOB_CREATED event, and no period is lost.

A MONTHLY schedule, created over GraphQL, for every client tagged "monthly" (10 of them; 2
others are not). The kills are deterministic, at a lock the test holds (tests.reliability.
workers): an occurrence makes its jobs in client id order in one change, so
- February: the test holds the 5th client's row (FOR UPDATE). The worker that claimed the
  schedule has inserted 4 jobs and waits in the 5th insert (its foreign key check needs a share
  lock on that client), uncommitted; it is SIGKILLed there.
- March: the test holds the pipeline's row (FOR UPDATE); the worker that claimed the schedule
  waits in its first insert (a change takes the pipeline's lock only at its end, but the job's
  foreign key needs a share lock on that row), its claim and the schedule's row lock held; it
  is SIGKILLed there.
Each time the lock is then let go (the dead worker's transaction aborts when PostgreSQL finds
its client gone), the other worker alone must make that month's jobs, and the killed one is
started again. Then the clock jumps four months: the missed occurrences are caught up, late.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.reliability.infra import board_problems, fetch, gql, no_traceback, start_all
from tests.reliability.workers import hold_lock, hold_pipeline_lock, release
from tests.servers import ServerClock, ServerProcess

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

T0 = datetime(2027, 1, 20, 12, 0, tzinfo=UTC)  # before the first period: nothing due at once
TAGGED, UNTAGGED = 10, 2
MONTHS = 6  # February to July 2027
HELD = 4  # February's kill: the index of the client whose row the test holds (the 5th)
ZONE = "America/New_York"

SETUP = """mutation {
  createPipeline(input: {name: "Bookkeeping", stageNames: ["Collect", "Reconcile", "Review"]}) {
    pipeline { id } errors { code message } } }"""
CLIENT = """mutation($name: String!, $tags: [String!]) {
  createClient(input: {name: $name, tags: $tags}) { client { id } errors { code message } } }"""
TEMPLATE = """mutation($p: ID!) {
  createJobTemplate(input: {name: "Monthly books", pipelineId: $p,
    titleTemplate: "{client.name} – {period.monthName} {period.year}"}) {
    jobTemplate { id } errors { code message } } }"""
SCHEDULE = """mutation($t: ID!, $zone: String!) {
  createRecurringSchedule(input: {templateId: $t, clientTag: "monthly", frequency: MONTHLY,
    startsOn: "2027-02-01", timezone: $zone}) {
    recurringSchedule { id nextRunAt nextOccurrences(first: 6) { period createsAt } }
    errors { code field message } } }"""

# The sessions a lock the test holds keeps waiting, with what they run and from which port.
BLOCKED = """SELECT pid, client_port, query FROM pg_stat_activity
WHERE datname = current_database() AND $1::int = ANY(pg_blocking_pids(pid))"""


async def setup(server: ServerProcess) -> dict[str, Any]:
    """A firm (the command line), its board, clients, template and schedule (GraphQL)."""
    firm = json.loads(
        await asyncio.to_thread(
            server.cli, "create-firm", "Acme CPA", "--owner-email", "owner@acme.test"
        )
    )
    token = firm["token"]
    async with httpx.AsyncClient(timeout=30) as http:
        made = await gql(http, server, token, SETUP)
        assert made["createPipeline"]["errors"] == []
        pipeline = made["createPipeline"]["pipeline"]["id"]
        for n in range(TAGGED + UNTAGGED):
            tags = ["monthly", "business"] if n < TAGGED else ["yearly"]
            answer = await gql(http, server, token, CLIENT, name=f"Client {n:02d}", tags=tags)
            assert answer["createClient"]["errors"] == []
        template = (await gql(http, server, token, TEMPLATE, p=pipeline))["createJobTemplate"]
        assert template["errors"] == []
        schedule = (
            await gql(http, server, token, SCHEDULE, t=template["jobTemplate"]["id"], zone=ZONE)
        )["createRecurringSchedule"]
        assert schedule["errors"] == []
    return dict(schedule["recurringSchedule"])


def owner_of_port(port: int, candidates: list[ServerProcess]) -> ServerProcess:
    """Which of our processes has the TCP socket bound to this local port (a database
    session's client_port): the socket's inode in /proc/net/tcp, then the process's fds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for process in candidates:
        fds = Path(f"/proc/{process.pid}/fd")
        for fd in fds.iterdir():
            try:
                if str(fd.readlink()) in inodes:
                    return process
            except FileNotFoundError:  # closed meanwhile
                continue
    raise AssertionError(f"no worker of ours holds local port {port}")


async def blocked_by(url: str, lock: asyncpg.Connection, within: float = 30) -> asyncpg.Record:
    """The one session waiting for the lock `lock` holds, once there is one (polled: no event
    says a session started waiting)."""
    holder = await lock.fetchval("SELECT pg_backend_pid()")
    async with asyncio.timeout(within):
        while True:
            if rows := await fetch(url, BLOCKED, holder):
                break
            await asyncio.sleep(0.05)
    assert len(rows) == 1, [dict(row) for row in rows]  # one claim: the other worker passed
    return rows[0]


async def jobs_of(url: str, period: str) -> int:
    [row] = await fetch(url, "SELECT count(*) AS n FROM job WHERE period = $1", period)
    return int(row["n"])


async def until_jobs(url: str, period: str, count: int, within: float = 30) -> None:
    async with asyncio.timeout(within):
        while True:
            if await jobs_of(url, period) >= count:
                return
            await asyncio.sleep(0.05)


async def job_ids_taken(url: str) -> int:
    """Job ids handed out so far, committed or not (a sequence is not transactional)."""
    [row] = await fetch(
        url,
        "SELECT COALESCE(last_value, 0) AS n FROM pg_sequences WHERE schemaname = 'public' "
        "AND sequencename = pg_get_serial_sequence('job', 'id')::regclass::name",
    )
    return int(row["n"])


async def kill_the_blocked_worker(
    url: str,
    lock: asyncpg.Connection,
    clock: ServerClock,
    at: datetime,
    workers: list[ServerProcess],
    logs: Path,
    processes: list[ServerProcess],
) -> tuple[str, int, ServerProcess]:
    """Move the clock to `at` (an occurrence falls due) while `lock` is held; SIGKILL the worker
    whose occurrence waits for it, let the lock go. (What its session ran, job ids it had
    taken uncommitted, and a new worker in its place in `workers`, not started yet: the other
    one alone must make the occurrence's jobs.)"""
    ids_before = await job_ids_taken(url)
    clock.set(at)
    try:
        session = await blocked_by(url, lock)
        taken = await job_ids_taken(url) - ids_before
        victim = owner_of_port(session["client_port"], workers)
        victim.kill()
        [survivor] = [w for w in workers if w is not victim]
        assert survivor.alive()
    finally:
        await release(lock)
    replacement = ServerProcess(logs, "worker", DATABASE_URL=url).with_clock(clock)
    processes.append(replacement)
    workers[workers.index(victim)] = replacement
    return str(session["query"]), taken, replacement


async def test_a_worker_killed_mid_occurrence_leaves_each_job_made_once(
    postgres_url: str, logs: Path, processes: list[ServerProcess]
) -> None:
    url = postgres_url
    started = time.monotonic()
    clock = ServerClock(logs / "clock", T0)
    server = ServerProcess(logs, "--no-runner", DATABASE_URL=url).with_clock(clock)
    processes.append(server)
    await start_all([server])
    schedule = await setup(server)
    occurrences = schedule["nextOccurrences"]
    periods = [o["period"] for o in occurrences]
    assert periods == [f"2027-{month:02d}" for month in range(2, 2 + MONTHS)]
    creates_at = [datetime.fromisoformat(o["createsAt"]) for o in occurrences]
    assert creates_at[0] == datetime(2027, 2, 1, 5, tzinfo=UTC)  # midnight in New York
    [pipeline] = await fetch(url, "SELECT id FROM pipeline")
    clients = [r["id"] for r in await fetch(url, "SELECT id FROM client ORDER BY id")]
    tagged = clients[:TAGGED]
    workers = [ServerProcess(logs, "worker", DATABASE_URL=url).with_clock(clock) for _ in "ab"]
    processes.extend(workers)
    for worker in workers:
        worker.start()

    # February: caught after 4 of its 10 inserts, waiting for the 5th client's row.
    lock = await hold_lock(url, "SELECT id FROM client WHERE id = $1 FOR UPDATE", tagged[HELD])
    query, taken, replacement = await kill_the_blocked_worker(
        url, lock, clock, creates_at[0], workers, logs, processes
    )
    assert query.startswith('INSERT INTO "job"'), query
    assert taken == HELD + 1  # 4 jobs inserted and the 5th waiting, none committed ...
    await until_jobs(url, periods[0], TAGGED)  # ... then all 10 by the other worker alone
    killed_mid_insert = taken
    replacement.start()

    # March: caught in its first insert, waiting for the pipeline's row.
    lock = await hold_pipeline_lock(url, pipeline["id"])
    query, taken, replacement = await kill_the_blocked_worker(
        url, lock, clock, creates_at[1], workers, logs, processes
    )
    assert query.startswith('INSERT INTO "job"'), query
    assert taken == 1  # its id taken, the row not written
    await until_jobs(url, periods[1], TAGGED)
    replacement.start()

    # Four months of downtime at once: April to July caught up, oldest first.
    clock.set(creates_at[-1])
    await until_jobs(url, periods[-1], TAGGED)
    for worker in workers:  # nothing in flight while the database is read
        await asyncio.to_thread(worker.stop)
        assert no_traceback(worker.log.read_text()), worker.log.read_text()[-3000:]
    took = time.monotonic() - started

    jobs = await fetch(url, "SELECT id, client_id, period, recurring_schedule_id FROM job")
    duplicates = await fetch(
        url,
        "SELECT recurring_schedule_id, client_id, period, count(*) AS n FROM job "
        "GROUP BY recurring_schedule_id, client_id, period HAVING count(*) > 1",
    )
    assert duplicates == []
    by_client: dict[int, list[str]] = defaultdict(list)
    for job in jobs:
        by_client[job["client_id"]].append(job["period"])
    assert {c: sorted(p) for c, p in by_client.items()} == {c: periods for c in tagged}
    [state] = await fetch(url, "SELECT id, next_period FROM recurring_schedule")
    assert {job["recurring_schedule_id"] for job in jobs} == {state["id"]}
    assert state["next_period"] == "2027-08"  # and nothing more is due
    created = await fetch(
        url,
        "SELECT job_id, changes FROM job_event WHERE type = 'JOB_CREATED' ORDER BY id",
    )
    assert Counter(e["job_id"] for e in created) == Counter({job["id"]: 1 for job in jobs})
    late: dict[str, set[bool]] = defaultdict(set)
    for event in created:
        changes = json.loads(event["changes"])
        late[changes["period"]].add(changes["late"])
    # Made at their time (the clock stands still while the kills play out), bar the three
    # months the jump passed over.
    assert late == {p: {p in periods[2:-1]} for p in periods}
    assert await board_problems(url, [pipeline["id"]]) == []  # no seq gap from the aborts
    print(
        f"\nschedule crash: {TAGGED} clients x {MONTHS} months over 2 workers, one SIGKILLed "
        f"after {killed_mid_insert - 1} uncommitted inserts and one waiting for the pipeline: "
        f"{len(jobs)} jobs, each once; {took:.1f} s"
    )
