"""A realistic firm, bulk-loaded: the schema comes from the server's own migrations (run by
`server.py create-firm`), the rows from COPY, because creating 5,000 jobs through the domain
takes minutes.

Columns the seed does not name get the model's default (auto_now fields get now), so a new
column with a default does not break the seed; ranks come from workflow.ranking, as a
renumbered stage would have them.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

import asyncpg
import orjson
from tortoise.fields import JSONField
from tortoise.models import Model

from bench.infra import SERVER_ENV
from models import Client, Job, JobEvent, Pipeline, Stage, Task, User
from tests.databases import asyncpg_url
from tests.servers import ROOT
from workflow import ranking

PIPELINES = ("1040 Return", "Payroll", "Bookkeeping", "Advisory")
STAGES = (
    "Intake",
    "Documents requested",
    "Documents received",
    "Preparation",
    "Review",
    "Client questions",
    "Signature",
    "Filing",
    "Invoiced",
    "Closed",
)
TASKS = (
    "Request documents",
    "Check organizer",
    "Prepare return",
    "Partner review",
    "Send for e-signature",
)


@dataclass(frozen=True)
class Sizes:
    jobs: int = 5000  # in the benchmarked pipeline
    other_jobs: int = 300  # in each of the 3 other pipelines
    clients: int = 1000
    staff: int = 25
    tasks_per_job: int = 5
    assignees_per_job: int = 2


@dataclass
class Firm:
    """What the scenarios need to know about the seeded firm (row ids, not global ids)."""

    token: str
    firm_id: int
    owner_id: int
    pipeline_id: int  # the benchmarked one
    stage_ids: list[int]  # its stages, in order
    jobs_by_stage: dict[int, list[int]] = field(default_factory=dict)  # in rank order
    job_count: int = 0


def defaults(model: type[Model], now: datetime) -> dict[str, Any]:
    """Database values of the model's defaults, by column."""
    values: dict[str, Any] = {}
    for name, column in model._meta.fields_db_projection.items():
        spec = model._meta.fields_map[name]
        if getattr(spec, "auto_now", False) or getattr(spec, "auto_now_add", False):
            values[column] = now
        elif spec.default is not None:
            values[column] = db_value(
                spec, spec.default() if callable(spec.default) else spec.default
            )
    return values


def db_value(spec: Any, value: Any) -> Any:
    if isinstance(spec, JSONField):
        return orjson.dumps(value).decode()
    return value.value if isinstance(value, Enum) else value


class Loader:
    """Rows of one table, completed with the model's defaults, written by one COPY."""

    def __init__(self, model: type[Model], now: datetime) -> None:
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.defaults = defaults(model, now)
        self.json_columns = {
            self.model._meta.fields_db_projection[name]
            for name, spec in model._meta.fields_map.items()
            if isinstance(spec, JSONField) and name in model._meta.fields_db_projection
        }

    def add(self, **values: Any) -> None:
        for column in self.json_columns & values.keys():
            values[column] = orjson.dumps(values[column]).decode()
        self.rows.append(values)

    async def copy(self, connection: asyncpg.Connection) -> None:
        if not self.rows:
            return
        columns = list({**self.defaults, **self.rows[0]})
        records = [
            tuple({**self.defaults, **row}[column] for column in columns) for row in self.rows
        ]
        table = self.model._meta.db_table
        await connection.copy_records_to_table(table, records=records, columns=columns)
        await connection.execute(  # ids were given explicitly: move the sequence past them
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f'(SELECT max(id) FROM "{table}"))'
        )


def create_firm(database_url: str) -> str:
    """Migrate the scratch database and create the firm, as an operator would: its token."""
    done = subprocess.run(
        [
            sys.executable,
            "server.py",
            "create-firm",
            "Bench CPA",
            "--owner-email",
            "owner@bench.test",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **SERVER_ENV, "DATABASE_URL": database_url},
    )
    if done.returncode != 0:
        raise RuntimeError(f"server.py create-firm failed:\n{done.stderr[-3000:]}")
    return str(json.loads(done.stdout.strip().splitlines()[-1])["token"])


async def seed(database_url: str, sizes: Sizes) -> Firm:
    token = create_firm(database_url)
    connection = await asyncpg.connect(asyncpg_url(database_url))
    try:
        async with connection.transaction():
            firm = await _load(connection, token, sizes)
        await connection.execute("ANALYZE")  # plans as on a live database, not an empty one
    finally:
        await connection.close()
    return firm


async def _load(connection: asyncpg.Connection, token: str, sizes: Sizes) -> Firm:
    rng = random.Random(6)  # the same firm every run
    now = datetime.now(UTC)
    firm_id, owner_id = await connection.fetchrow(
        "SELECT firm_id, id FROM app_user WHERE email = 'owner@bench.test'"
    )
    tables = {
        model: Loader(model, now) for model in (User, Client, Pipeline, Stage, Job, Task, JobEvent)
    }
    next_id = {model: 1000 for model in tables}  # clear of the rows create-firm made

    def add(model: type[Model], **values: Any) -> int:
        next_id[model] += 1
        tables[model].add(id=next_id[model], firm_id=firm_id, **values)
        return next_id[model]

    staff = [add(User, email=f"staff{n}@bench.test", name=f"Staff {n}") for n in range(sizes.staff)]
    clients = [
        add(
            Client,
            name=f"Client {n}",
            email=f"client{n}@example.test",
            tags=rng.sample(["individual", "business", "vip", "new", "late"], 2),
        )
        for n in range(sizes.clients)
    ]
    assignees: list[tuple[int, int]] = []
    result: Firm | None = None
    for index, name in enumerate(PIPELINES):
        count = sizes.jobs if index == 0 else sizes.other_jobs
        # Events are written below, one JOB_CREATED per job, so the pipeline's seq is known.
        pipeline_id = add(Pipeline, name=name, event_seq=count)
        stage_ids = [
            add(Stage, pipeline_id=pipeline_id, name=stage, position=position)
            for position, stage in enumerate(STAGES)
        ]
        jobs_by_stage: dict[int, list[int]] = {stage: [] for stage in stage_ids}
        for n in range(count):
            jobs_by_stage[stage_ids[n % len(stage_ids)]].append(n)
        seq = 0
        for stage_id, numbers in jobs_by_stage.items():
            ids = []
            for number, rank in zip(numbers, ranking.spread(len(numbers)), strict=True):
                seq += 1
                job_id = add(
                    Job,
                    client_id=clients[number % len(clients)],
                    pipeline_id=pipeline_id,
                    stage_id=stage_id,
                    rank=rank,
                    title=f"{name} {2025 - number % 3} #{number}",
                    due_date=date(2026, 4, 15) + timedelta(days=number % 90),
                    tags=["bench"],
                    stage_entered_at=now,
                )
                ids.append(job_id)
                add(
                    JobEvent,
                    pipeline_id=pipeline_id,
                    seq=seq,
                    job_id=job_id,
                    type="JOB_CREATED",
                    actor_id=owner_id,
                    to_stage_id=stage_id,
                    job_version=1,
                )
                people = rng.sample(staff, sizes.assignees_per_job)
                assignees += [(job_id, user) for user in people]
                for t in range(sizes.tasks_per_job):
                    done = t < rng.randrange(sizes.tasks_per_job + 1)
                    add(
                        Task,
                        job_id=job_id,
                        title=TASKS[t % len(TASKS)],
                        assignee_id=people[t % len(people)],
                        stage_id=stage_id,
                        done=done,
                        done_at=now if done else None,
                    )
            jobs_by_stage[stage_id] = ids
        if result is None:
            result = Firm(token, firm_id, owner_id, pipeline_id, stage_ids, jobs_by_stage, count)
    for loader in tables.values():
        await loader.copy(connection)
    await connection.copy_records_to_table(
        "job_assignee", records=assignees, columns=["job_id", "user_id"]
    )
    assert result is not None
    return result
