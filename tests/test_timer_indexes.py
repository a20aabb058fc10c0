"""Timers are found by an index on their due column, so that a scheduler pass reads what is
due and not what exists (bench/timers.py measures it with 100,000 timers set for later): the
plans of the due queries of the reminders (organizer, invoice) and of the automation runner.
On PostgreSQL with sequential scans priced out: whether an index can serve the query at all,
whatever the (empty) tables' statistics."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from tortoise import connections

from automations import runner
from models import sql
from models.db import is_postgres
from workflow import reminders

NOW = datetime(2027, 1, 4, 9, tzinfo=UTC)
DUE_QUERIES = {
    "reminders": (reminders.DUE, [NOW, "SENT", NOW, "UNPAID", 0, 50], ["organizer", "invoice"]),
    "automation runs": (runner.DUE, ["PENDING", NOW, 0, 20], ["automation_run"]),
}


async def plan_lines(query: str, params: list[object]) -> list[str]:
    db = connections.get("default")
    text = sql._in_dialect(query, db.capabilities.dialect)
    if not is_postgres():
        rows = await db.execute_query_dict(f"EXPLAIN QUERY PLAN {text}", params)
        return [str(row["detail"]) for row in rows]
    async with db.acquire_connection() as connection, connection.transaction():
        await connection.execute("SET LOCAL enable_seqscan = off")
        return [str(row[0]) for row in await connection.fetch(f"EXPLAIN {text}", *params)]


@pytest.mark.parametrize("kind", list(DUE_QUERIES))
async def test_due_timers_are_read_by_an_index_on_their_due_column(db: str, kind: str) -> None:
    query, params, tables = DUE_QUERIES[kind]
    lines = await plan_lines(query, params)
    for table in tables:
        scans = rf"\bon {table}\b" if is_postgres() else rf"\b{table}\b"  # its scan nodes
        reading = [line for line in lines if re.search(scans, line)]
        assert reading, lines
        for line in reading:
            if is_postgres():
                # an Index Scan, or a Bitmap Heap Scan (fed by a Bitmap Index Scan)
                assert re.search(r"Index Scan|Index Only Scan|Bitmap Heap Scan", line), lines
            else:
                assert line.startswith("SEARCH") and "USING INDEX" in line, lines
