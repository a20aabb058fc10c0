"""One pipeline's jobs as JSON Lines, read from one consistent snapshot of the database.

The snapshot is one read-only transaction on a connection of its own: REPEATABLE READ on
PostgreSQL (a pool connection), a plain BEGIN on SQLite (a second connection to the file: in
WAL mode its first read fixes what it sees, and the server's writers go on meanwhile). The
first statement reads the pipeline's event_seq, so every change with a seq up to it is in the
file and none after it: changes commit their events and rows together, under the pipeline's
lock, in seq order (workflow.unit).

Memory stays bounded: jobs, their tasks and their assignees are three cursors over the
snapshot, each in job id order, read a page at a time (a server-side cursor on PostgreSQL) and
merged page by page, by a reader at most AHEAD pages ahead of the writing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import IO, Any, Protocol

import aiosqlite
import orjson
from tortoise import connections

from models import ExportInclude, JobStatus, keys
from models.db import is_postgres
from models.sql import _in_dialect

PAGE = 2000  # jobs per fetch
CHILD_PAGE = 8 * PAGE  # tasks or assignees per fetch: a job has several
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
    """A JSON column as it is: its text (SQLite, and a bare asyncpg connection) goes into
    the line unparsed."""
    return orjson.Fragment(value) if isinstance(value, str) else value


def _moment(column: str, postgres: bool) -> str:
    """A timestamp column: a datetime from asyncpg, which orjson writes as isoformat() does;
    on SQLite the text tortoise stored (isoformat(" ")) with its T back."""
    return column if postgres else f"replace({column}, ' ', 'T')"


class _Ids(dict[int | None, str | None]):
    """Global ids of the rows of one type by row id (None for None), made on first use and
    kept for the rows that repeat (stages, clients, people), at most `keep` of them: an id
    is an AES block (models.keys). `many` makes a page of ids that do not repeat at once."""

    def __init__(self, type_name: str, keep: int = 10_000) -> None:
        super().__init__({None: None})
        self.tag = _TAGS[type_name]
        self.keep = keep

    def __missing__(self, pk: int | None) -> str | None:
        if pk is None:
            return None
        if len(self) >= self.keep:
            self.clear()
            self[None] = None
        made = self[pk] = keys.encode_ids(self.tag, [pk])[0]
        return made

    def many(self, pks: list[int]) -> list[str]:
        return keys.encode_ids(self.tag, pks)


def _job_columns(postgres: bool) -> str:
    moments = ", ".join(
        _moment(f'j."{c}"', postgres)
        for c in ("stage_entered_at", "stage_due_at", "created_at", "updated_at")
    )
    return (
        'j."id", j."title", j."status", j."priority", j."rank", j."version", j."start_date", '
        f'j."due_date", j."tags", j."custom_fields", j."stage_id", j."client_id", {moments}'
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
        rows = await cursor.fetch(CHILD_PAGE)
        if not rows:
            return grouped, []


_Page = tuple[Sequence[Row], dict[int, list[Row]], dict[int, list[Row]]]
_Read = _Page | Exception | None
AHEAD = 2  # pages read and not yet written, at most


async def _read_pages(
    jobs: Cursor, tasks: Cursor | None, assignees: Cursor | None, pages: asyncio.Queue[_Read]
) -> None:
    """Each page of jobs with its jobs' tasks and assignees, then None (or what failed)."""
    try:
        await _read_all(jobs, tasks, assignees, pages)
    except Exception as error:  # the writer raises it
        await pages.put(error)
        return
    await pages.put(None)


async def _read_all(
    jobs: Cursor, tasks: Cursor | None, assignees: Cursor | None, pages: asyncio.Queue[_Read]
) -> None:
    task_rows: list[Row] = []
    assignee_rows: list[Row] = []
    while page := await jobs.fetch(PAGE):
        last = page[-1][0]
        page_tasks: dict[int, list[Row]] = {}
        page_assignees: dict[int, list[Row]] = {}
        if tasks is not None:
            page_tasks, task_rows = await _merge_page(tasks, task_rows, last)
        if assignees is not None:
            page_assignees, assignee_rows = await _merge_page(assignees, assignee_rows, last)
        await pages.put((page, page_tasks, page_assignees))


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
    clients, users = _Ids("Client"), _Ids("User", keep=1_000_000)
    postgres = is_postgres()
    async with snapshot() as db:
        seq_rows = await db.fetch(
            'SELECT "event_seq" FROM "pipeline" WHERE "id" = ? AND "firm_id" = ?',
            [pipeline_id, firm_id],
        )
        if not seq_rows:
            raise PipelineGone
        event_seq = int(seq_rows[0][0])
        stages = {
            row[0]: {"id": stage_ids[row[0]], "name": row[1], "position": row[2]}
            for row in await db.fetch(
                'SELECT "id", "name", "position" FROM "stage" WHERE "pipeline_id" = ? '
                'AND "firm_id" = ?',
                [pipeline_id, firm_id],
            )
        }
        # The firm's people, by global id (few: made at once).
        user_rows = await db.fetch('SELECT "id" FROM "app_user" WHERE "firm_id" = ?', [firm_id])
        user_pks = [row[0] for row in user_rows]
        users.update(zip(user_pks, users.many(user_pks), strict=True))
        with_client = ExportInclude.CLIENT in parts
        jobs = await db.cursor(
            f'SELECT {_job_columns(postgres)}{CLIENT_COLUMNS if with_client else ""} FROM "job" j '
            + ('JOIN "client" c ON c."id" = j."client_id" ' if with_client else "")
            + f'WHERE {where} ORDER BY j."id"',
            scope,
        )
        tasks = assignees = None
        if ExportInclude.TASKS in parts:
            done_at = _moment('t."done_at"', postgres)
            tasks = await db.cursor(
                'SELECT t."job_id", t."id", t."title", t."done", t."due_date", '
                f'{done_at}, t."assignee_id" FROM "task" t '
                'JOIN "job" j ON j."id" = t."job_id" '
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
        # The pages are read by a task of their own, at most AHEAD pages ahead of the writing:
        # the database makes the next page while this process writes the last one.
        pages: asyncio.Queue[_Read] = asyncio.Queue(maxsize=AHEAD)
        reader = asyncio.create_task(_read_pages(jobs, tasks, assignees, pages))
        count = 0
        dumps = orjson.dumps
        try:
            while (read := await pages.get()) is not None:
                if isinstance(read, Exception):
                    raise read
                page, page_tasks, page_assignees = read
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
                        "startDate": row[6],
                        "dueDate": row[7],
                        "tags": _json(row[8]),
                        "customFields": _json(row[9]),
                        "stage": stages.get(row[10]),
                        "clientId": clients[row[11]],
                        "stageEnteredAt": row[12],
                        "stageDueAt": row[13],
                        "createdAt": row[14],
                        "updatedAt": row[15],
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
                            {"id": users[a[1]], "name": a[2], "email": a[3]}
                            for a in page_assignees.get(row[0], ())
                        ]
                    if tasks is not None:
                        line["tasks"] = [
                            {
                                "id": task_gids[t[1]],
                                "title": t[2],
                                "done": bool(t[3]),
                                "dueDate": t[4],
                                "doneAt": t[5],
                                "assigneeId": users[t[6]],
                            }
                            for t in page_tasks.get(row[0], ())
                        ]
                    chunk.append(dumps(line))
                chunk.append(b"")
                out.write(b"\n".join(chunk))
                count += len(page)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    return Written(event_seq, count)
