"""Board load: a 500-job board (5 stages x 100 jobs, 2 tasks and an assignee each) over HTTP
against a real server process, beside a floor: the same rows fetched by hand-written SQL and
serialized with orjson, in this process.

    python -m bench.board                          # SQLite, in a temporary folder
    python -m bench.board --database postgres://postgres@127.0.0.1:5432/test
    python -m bench.board --requests 100

On PostgreSQL a scratch database is created beside the one named, and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import orjson

from models import Stage, User
from models.db import close_database, open_database
from workflow import clients, jobs, pipelines, tasks
from workflow.firms import create_firm
from workflow.scope import Scope

ROOT = Path(__file__).resolve().parent.parent
STAGES, PER_STAGE = 5, 100
BOARD = """query Board { pipelines { edges { node { name stages { name
  jobs(first: 100) { edges { node { id title version rank dueDate client { name }
    assignees { name } tasks { edges { node { title done } } } } } } } } } } }"""
FLOOR_SQL = """SELECT s.name AS stage, j.id, j.title, j.version, j.rank, j.due_date,
  c.name AS client, u.name AS assignee, t.title AS task, t.done
FROM stage s JOIN job j ON j.stage_id = s.id JOIN client c ON c.id = j.client_id
LEFT JOIN job_assignee ja ON ja.job_id = j.id LEFT JOIN app_user u ON u.id = ja.user_id
LEFT JOIN task t ON t.job_id = j.id
WHERE s.pipeline_id = {p} ORDER BY s.position, j.rank, t.id"""


async def seed(database_url: str) -> tuple[str, int]:
    await open_database(database_url)
    try:
        firm = await create_firm("Bench CPA", "owner@bench.test")
        scope = Scope(firm.firm.id, firm.owner.id)
        names = [f"Stage {n}" for n in range(STAGES)]
        pipeline = await pipelines.create_pipeline(scope, "1040 Return", names)
        stages = await Stage.filter(pipeline_id=pipeline.id).order_by("position")
        staff = [await User.create(firm_id=firm.firm.id, name=f"Staff {n}", email=f"s{n}@b.test")
                 for n in range(5)]
        people = [await clients.create_client(scope, f"Client {n}") for n in range(50)]
        for n in range(STAGES * PER_STAGE):
            job = await jobs.create_job(scope, pipeline.id, people[n % 50].id, f"Return {n}",
                                        assignee_ids=[staff[n % 5].id])
            for title in ("Request documents", "Review"):
                await tasks.create_task(scope, job.id, title, assignee_id=staff[n % 5].id)
            if (stage := stages[n % STAGES]).id != job.stage_id:
                await jobs.move_job(scope, job.id, stage.id)
        return firm.token, pipeline.id
    finally:
        await close_database()


async def floor(database_url: str, pipeline_id: int, runs: int) -> list[float]:
    """Milliseconds for the board's rows by one statement, serialized with orjson."""
    timings = []
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.split("://", 1)[1])
        for _ in range(runs):
            started = time.perf_counter()
            cursor = connection.execute(FLOOR_SQL.format(p=pipeline_id))
            columns = [c[0] for c in cursor.description]
            orjson.dumps([dict(zip(columns, row, strict=True)) for row in cursor.fetchall()])
            timings.append((time.perf_counter() - started) * 1000)
        return timings
    pg = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        for _ in range(runs):
            started = time.perf_counter()
            rows = await pg.fetch(FLOOR_SQL.format(p=pipeline_id))
            orjson.dumps([dict(row) for row in rows])
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await pg.close()
    return timings


def serve(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port)}
    process = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def report(name: str, timings: list[float], floor_p50: float | None = None) -> None:
    timings = sorted(timings)
    p50 = statistics.median(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    ratio = f"{p50 / floor_p50:6.1f}x" if floor_p50 else "   1.0x"
    print(f"{name:<34} p50 {p50:8.1f} ms   p99 {p99:8.1f} ms   vs floor {ratio}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    scratch = None
    if args.database == "sqlite":
        database_url = f"sqlite://{tempfile.mkdtemp()}/bench.sqlite3"
    else:
        admin_url = args.database.replace("postgres://", "postgresql://", 1)
        scratch = f"wf_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(admin_url)
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await admin.close()
        database_url = args.database.rsplit("/", 1)[0] + f"/{scratch}"
    try:
        started = time.perf_counter()
        token, pipeline_id = await seed(database_url)
        print(f"seeded {STAGES * PER_STAGE} jobs in {time.perf_counter() - started:.1f} s "
              f"on {database_url.split(':')[0]}")
        floor_timings = await floor(database_url, pipeline_id, args.requests)
        process, base = serve(database_url)
        try:
            async with httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as http:
                timings = []
                for n in range(args.requests + 3):
                    started = time.perf_counter()
                    response = await http.post("/graphql", json={"query": BOARD})
                    elapsed = (time.perf_counter() - started) * 1000
                    body = response.json()
                    assert "errors" not in body, body
                    stages = body["data"]["pipelines"]["edges"][0]["node"]["stages"]
                    assert sum(len(s["jobs"]["edges"]) for s in stages) == STAGES * PER_STAGE
                    if n >= 3:  # warm-up
                        timings.append(elapsed)
        finally:
            process.terminate()
            process.wait()
        report("floor: one SQL statement + orjson", floor_timings)
        report("board query over HTTP (500 jobs)", timings, statistics.median(floor_timings))
    finally:
        if scratch:
            admin = await asyncpg.connect(admin_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
