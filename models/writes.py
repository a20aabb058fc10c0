"""The guard on the tables the query result cache serves: they are written inside a change.

schema.result_cache answers a query from memory while its firm's data version is the one the
answer was computed at, and every change (workflow.unit) moves that version in its own
transaction. A write to one of CACHED_TABLES outside a change would leave the cache answering
with the old data, so the database clients (models.engines) refuse it: `check` runs before
every statement they send, and raises WriteOutsideChange for an INSERT, UPDATE or DELETE of a
cached table unless a change is open in the current task.

Checking is on everywhere unless turned off: the test suite turns it off for its own set-up
code (which writes rows directly) and `checked()` turns it back on where the server works
(each GraphQL request, each round of the runner), so what the server does is checked there too.
Its cost is one ContextVar read per statement inside a change, a failed regular-expression
match per read outside one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The tables behind schema.result_cache.CACHED_TYPES (tests/test_write_guard.py keeps the two
# lists in step), and the firm, whose row holds the catalog version itself.
CACHED_TABLES = frozenset(
    {
        "firm",
        "pipeline",
        "stage",
        "job",
        "job_assignee",
        "task",
        "client",
        "app_user",
        "job_event",
        "automation",
        "organizer",
        "message",
        "invoice",
        "contact",
        "job_template",
        "job_template_assignee",
        "custom_field",
    }
)

# The table a write statement names (tortoise writes `INSERT INTO "job"`, `UPDATE "job"`,
# `DELETE FROM "job"`; so do the hand-written statements of models.sql's callers).
_WRITE = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)

_in_change: ContextVar[bool] = ContextVar("in_change", default=False)
_checked: ContextVar[bool | None] = ContextVar("writes_checked", default=None)
_check_by_default = True


class WriteOutsideChange(RuntimeError):
    """A cached table was written outside a change (a bug: route the write through
    workflow.unit.change)."""


@contextmanager
def changing() -> Iterator[None]:
    """The current task is inside a change (workflow.unit.change): its writes are allowed."""
    token = _in_change.set(True)
    try:
        yield
    finally:
        _in_change.reset(token)


@contextmanager
def checked() -> Iterator[None]:
    """Check the writes made here even where checking is off by default."""
    token = _checked.set(True)
    try:
        yield
    finally:
        _checked.reset(token)


def check_by_default(on: bool) -> None:
    """Whether writes outside `checked()` are checked (on unless the test suite says not)."""
    global _check_by_default
    _check_by_default = on


def check(query: str) -> None:
    """Refuse `query` if it writes a cached table outside a change (see the module)."""
    if _in_change.get():
        return
    checking = _checked.get()
    if not (_check_by_default if checking is None else checking):
        return
    write = _WRITE.match(query)
    if write is not None and write.group(1).lower() in CACHED_TABLES:
        raise WriteOutsideChange(
            f"{query.split(None, 1)[0].upper()} on {write.group(1)!r} outside a change: the "
            "result cache would not see it (write it in workflow.unit.change)"
        )


class CheckedWrites:
    """Mixed into a tortoise client before the driver's class: `check` before each statement
    (execute_script is left alone: it runs migrations' DDL, never a change's writes)."""

    async def execute_insert(self, query: str, values: list[Any]) -> Any:
        check(query)
        return await super().execute_insert(query, values)  # type: ignore[misc]

    async def execute_many(self, query: str, values: list[list[Any]]) -> Any:
        check(query)
        return await super().execute_many(query, values)  # type: ignore[misc]

    async def execute_query(self, query: str, values: list[Any] | None = None) -> Any:
        check(query)
        return await super().execute_query(query, values)  # type: ignore[misc]

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> Any:
        check(query)
        return await super().execute_query_dict(query, values)  # type: ignore[misc]
