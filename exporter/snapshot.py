"""One pipeline's jobs as JSON Lines, read from one consistent snapshot of the database.

The snapshot is one read-only transaction on a connection of its own: REPEATABLE READ on
PostgreSQL (a pool connection), a plain BEGIN on SQLite (a second connection to the file: in
WAL mode its first read fixes what it sees, and the server's writers go on meanwhile). The
first statement reads the pipeline's event_seq, so every change with a seq up to it is in the
file and none after it: changes commit their events and rows together, under the pipeline's
lock, in seq order (workflow.unit).

Memory stays bounded: jobs, their tasks and their assignees are three cursors over the
snapshot, each in job id order, read PAGE rows at a time and merged page by page; each page is
written to the file before the next is read.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import IO, Any, Protocol

import aiosqlite
import orjson
from tortoise import connections

from models import ExportInclude, JobStatus, keys
from models.db import is_postgres
from models.sql import _in_dialect

PAGE = 2000  # rows per fetch of each cursor
Row = Sequence[Any]
_TAGS = {name: keys.type_tag(name) for name in ("Job", "Task", "Stage", "Client", "User")}


class Cursor(Protocol):
    async def fetch(self, count: int) -> Sequence[Row]: ...


class Snapshot(Protocol):
    async def fetch(self, sql: str, params: Sequence[Any]) -> Sequence[Row]: ...

    async def cursor(self, sql: str, params: Sequence[Any]) -> Cursor: ...


class _PostgresCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    async def fetch(self, count: int) -> Sequence[Row]:
        rows: Sequence[Row] = await self._cursor.fetch(count)
        return rows


class _PostgresSnapshot:
    def __init__(self, connection: Any) -> None:
        self._connection = connection

    async def fetch(self, sql: str, params: Sequence[Any]) -> Sequence[Row]:
        rows: Sequence[Row] = await self._connection.fetch(_in_dialect(sql, "postgres"), *params)
        return rows

    async def cursor(self, sql: str, params: Sequence[Any]) -> Cursor:
        # A server-side cursor (a portal): rows come PAGE at a time, however many match.
        portal = await self._connection.cursor(_in_dialect(sql, "postgres"), *params)
        return _PostgresCursor(portal)


class _SqliteCursor:
    def __init__(self, cursor: aiosqlite.Cursor) -> None:
        self._cursor = cursor

    async def fetch(self, count: int) -> Sequence[Row]:
        return list(await self._cursor.fetchmany(count))


class _SqliteSnapshot:
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, params: Sequence[Any]) -> Sequence[Row]:
        cursor = await self._connection.execute(sql, list(params))
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)

    async def cursor(self, sql: str, params: Sequence[Any]) -> Cursor:
        return _SqliteCursor(await self._connection.execute(sql, list(params)))


@contextlib.asynccontextmanager
async def snapshot() -> AsyncIterator[Snapshot]:
    """A read-only transaction that sees one moment of the database, on its own connection."""
    db: Any = connections.get("default")
    if is_postgres():
        async with db.acquire_connection() as connection:
            transaction = connection.transaction(isolation="repeatable_read", readonly=True)
            async with transaction:
                yield _PostgresSnapshot(connection)
        return
    connection = await aiosqlite.connect(db.filename, isolation_level=None)
    try:
        await connection.execute("PRAGMA busy_timeout = 5000")
        await connection.execute("BEGIN")  # deferred: the first read fixes the snapshot
        yield _SqliteSnapshot(connection)
    finally:
        with contextlib.suppress(Exception):
            await connection.execute("ROLLBACK")
        await connection.close()


def _json(value: Any) -> Any:
    """A JSON column: text on SQLite (and from a bare asyncpg connection), as its value."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _moment(value: Any) -> datetime | None:
    """A timestamp: a datetime from asyncpg, ISO text from SQLite."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _day(value: date | str | None) -> date | str | None:
    return value  # a date from asyncpg, "YYYY-MM-DD" from SQLite: the same JSON


class _Ids:
    """Global ids of the rows of one type, with a bounded memo for the ones that repeat
    (clients, users): ids are an AES block each (models.keys)."""

    def __init__(self, type_name: str, keep: int = 10_000) -> None:
        self.tag = _TAGS[type_name]
        self.memo: dict[int, str] = {}
        self.keep = keep

    def many(self, pks: list[int]) -> list[str]:
        return keys.encode_ids(self.tag, pks) if pks else []

    def one(self, pk: int | None) -> str | None:
        if pk is None:
            return None
        if (known := self.memo.get(pk)) is not None:
            return known
        if len(self.memo) >= self.keep:
            self.memo.clear()
        made = self.memo[pk] = keys.encode_ids(self.tag, [pk])[0]
        return made


JOB_COLUMNS = (
    'j."id", j."title", j."status", j."priority", j."rank", j."version", j."start_date", '
    'j."due_date", j."tags", j."custom_fields", j."stage_id", j."client_id", '
    'j."stage_entered_at", j."stage_due_at", j."created_at", j."updated_at"'
)
CLIENT_COLUMNS = ', c."name", c."email", c."tags", c."custom_fields"'
# The jobs of the export: the firm's, of the pipeline, in the statuses asked for.
JOBS_OF = 'j."firm_id" = ? AND j."pipeline_id" = ? AND j."status" IN ({statuses})'


class Written:
    def __init__(self, event_seq: int, job_count: int) -> None:
        self.event_seq = event_seq
        self.job_count = job_count


class PipelineGone(Exception):
    """The pipeline was deleted before the export read it."""


async def _merge_page(
    cursor: Cursor, pending: list[Row], last_job: int
) -> tuple[dict[int, list[Row]], list[Row]]:
    """The rows of `cursor` (job id first, in job order) up to job `last_job`, grouped by job,
    and the rows read past it (the next page's)."""
    grouped: dict[int, list[Row]] = defaultdict(list)
    rows: Sequence[Row] = pending
    while True:
        for index, row in enumerate(rows):
            if row[0] > last_job:
                return grouped, list(rows[index:])
            grouped[row[0]].append(row)
        rows = await cursor.fetch(PAGE)
        if not rows:
            return grouped, []


async def write_jobs(
    firm_id: int,
    pipeline_id: int,
    include: Sequence[str],
    out: IO[bytes],
    fixed: Callable[[], Awaitable[None]] | None = None,
) -> Written:
    """Write the pipeline's jobs to `out`, one JSON object a line in job id order, as of one
    snapshot; `fixed` runs once the snapshot is fixed (tests change the board there)."""
    parts = set(include)
    statuses = [JobStatus.ACTIVE.value, JobStatus.COMPLETED.value]
    if ExportInclude.ARCHIVED in parts:
        statuses.append(JobStatus.ARCHIVED.value)
    where = JOBS_OF.format(statuses=", ".join("?" * len(statuses)))
    scope = [firm_id, pipeline_id, *statuses]
    job_ids, task_ids, stage_ids = _Ids("Job"), _Ids("Task"), _Ids("Stage")
    client_ids, user_ids = _Ids("Client"), _Ids("User")
    async with snapshot() as db:
        seq_rows = await db.fetch(
            'SELECT "event_seq" FROM "pipeline" WHERE "id" = ? AND "firm_id" = ?',
            [pipeline_id, firm_id],
        )
        if not seq_rows:
            raise PipelineGone
        event_seq = int(seq_rows[0][0])
        stages = {
            row[0]: {"id": stage_ids.one(row[0]), "name": row[1], "position": row[2]}
            for row in await db.fetch(
                'SELECT "id", "name", "position" FROM "stage" WHERE "pipeline_id" = ? '
                'AND "firm_id" = ?',
                [pipeline_id, firm_id],
            )
        }
        with_client = ExportInclude.CLIENT in parts
        jobs = await db.cursor(
            f'SELECT {JOB_COLUMNS}{CLIENT_COLUMNS if with_client else ""} FROM "job" j '
            + ('JOIN "client" c ON c."id" = j."client_id" ' if with_client else "")
            + f'WHERE {where} ORDER BY j."id"',
            scope,
        )
        tasks = assignees = None
        if ExportInclude.TASKS in parts:
            tasks = await db.cursor(
                'SELECT t."job_id", t."id", t."title", t."done", t."due_date", t."done_at", '
                't."assignee_id" FROM "task" t JOIN "job" j ON j."id" = t."job_id" '
                f'WHERE {where} ORDER BY t."job_id", t."id"',
                scope,
            )
        if ExportInclude.ASSIGNEES in parts:
            assignees = await db.cursor(
                'SELECT ja."job_id", u."id", u."name", u."email" FROM "job_assignee" ja '
                'JOIN "job" j ON j."id" = ja."job_id" JOIN "app_user" u ON u."id" = ja."user_id" '
                f'WHERE {where} ORDER BY ja."job_id", u."name", u."id"',
                scope,
            )
        if fixed is not None:
            await fixed()
        count = 0
        task_rows: list[Row] = []
        assignee_rows: list[Row] = []
        dumps = orjson.dumps
        while page := await jobs.fetch(PAGE):
            last = page[-1][0]
            page_tasks: dict[int, list[Row]] = {}
            page_assignees: dict[int, list[Row]] = {}
            if tasks is not None:
                page_tasks, task_rows = await _merge_page(tasks, task_rows, last)
            if assignees is not None:
                page_assignees, assignee_rows = await _merge_page(assignees, assignee_rows, last)
            ids = job_ids.many([row[0] for row in page])
            task_gids = dict(
                zip(
                    (t[1] for rows in page_tasks.values() for t in rows),
                    task_ids.many([t[1] for rows in page_tasks.values() for t in rows]),
                    strict=True,
                )
            )
            chunk: list[bytes] = []
            for row, job_gid in zip(page, ids, strict=True):
                line: dict[str, Any] = {
                    "id": job_gid,
                    "title": row[1],
                    "status": row[2],
                    "priority": row[3],
                    "rank": row[4],
                    "version": row[5],
                    "startDate": _day(row[6]),
                    "dueDate": _day(row[7]),
                    "tags": _json(row[8]),
                    "customFields": _json(row[9]),
                    "stage": stages.get(row[10]),
                    "clientId": client_ids.one(row[11]),
                    "stageEnteredAt": _moment(row[12]),
                    "stageDueAt": _moment(row[13]),
                    "createdAt": _moment(row[14]),
                    "updatedAt": _moment(row[15]),
                }
                if with_client:
                    line["client"] = {
                        "id": line["clientId"],
                        "name": row[16],
                        "email": row[17],
                        "tags": _json(row[18]),
                        "customFields": _json(row[19]),
                    }
                if assignees is not None:
                    line["assignees"] = [
                        {"id": user_ids.one(a[1]), "name": a[2], "email": a[3]}
                        for a in page_assignees.get(row[0], ())
                    ]
                if tasks is not None:
                    line["tasks"] = [
                        {
                            "id": task_gids[t[1]],
                            "title": t[2],
                            "done": bool(t[3]),
                            "dueDate": _day(t[4]),
                            "doneAt": _moment(t[5]),
                            "assigneeId": user_ids.one(t[6]),
                        }
                        for t in page_tasks.get(row[0], ())
                    ]
                chunk.append(dumps(line))
            chunk.append(b"")
            out.write(b"\n".join(chunk))
            count += len(page)
    return Written(event_seq, count)
