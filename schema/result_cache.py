"""Identical board queries between two changes cost one execution.

A query whose every field reads board data (CACHED_TYPES: pipelines, stages, jobs and what
hangs off them, clients, people, automations) is answered from this process's cache while the
firm's data version is the one it was computed at. The version is read by one statement
before anything else: each pipeline's event_seq and the firm's catalog version, one of which
every change bumps in its own transaction (workflow.unit). So a change committed by any process
is seen by the next request here, and as the version is read before the query runs, an entry
may hold data newer than its version, never older.

Identical queries arriving while one executes wait for it rather than repeat it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from typing import Any

import orjson
from graphql import (
    BREAK,
    DocumentNode,
    ExecutionResult,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    is_leaf_type,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models import sql
from models.outage import database_unavailable
from schema.documents import DocumentCache, document_key

log = logging.getLogger(__name__)

# Types whose data only changes through a change that bumps the version (models.writes refuses
# a write to their tables outside one: keep its CACHED_TABLES in step). Not here: tokens and
# webhooks (written outside changes: last use, the sender's attempts), automation runs (written
# in changes only, but left out so far), `viewer` (differs per caller) and everything
# introspective.
# Pipeline.template, a leaf of Pipeline, is cached with it: besides the pipeline's stages and
# automations it reads people's emails, other pipelines' and stages' names and webhook
# endpoints' descriptions, and each of those changes only in a change (the sender writes an
# endpoint's failures and disabling outside one, which no template reads).
CACHED_TYPES = frozenset(
    {
        "Query",
        "Pipeline",
        "Stage",
        "Job",
        "Task",
        "Client",
        "User",
        "JobEvent",
        "Automation",
        "Organizer",
        "Message",
        "Invoice",
        "Contact",
        "JobTemplate",
        "TaskTemplate",
        "DueDateRule",
        "CustomField",
        "PageInfo",
        *(
            f"{name}{suffix}"
            for name in (
                "Pipeline",
                "Job",
                "Task",
                "Client",
                "JobEvent",
                "Organizer",
                "Message",
                "Invoice",
                "JobTemplate",
            )
            for suffix in ("Connection", "Edge")
        ),
    }
)
UNCACHED_ROOT_FIELDS = frozenset({"viewer"})
# Answers that change with the clock (workflow.clock), not with the data version: a query
# that reads them, or filters jobs by them (JobFilter.overdue, in the document or its
# variables), is answered uncached.
CLOCK_FIELDS = frozenset({("Job", "isOverdue")})
CLOCK_INPUT_FIELDS = frozenset({"overdue"})
MAX_BYTES = 32_000_000  # the JSON size of all entries of a process
MAX_ENTRY_BYTES = 4_000_000

Version = tuple[tuple[Any, ...], ...]


def reads_only_board_data(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """True when every field of every operation and fragment of `document` is cacheable."""
    info = TypeInfo(schema)
    cacheable = True

    class Check(Visitor):
        def enter_field(self, node: Any, *_: Any) -> Any:
            nonlocal cacheable
            parent, field_type = info.get_parent_type(), info.get_type()
            named = get_named_type(field_type) if field_type else None
            if (
                named is None
                or not (is_leaf_type(named) or named.name in CACHED_TYPES)
                or (parent is schema.query_type and node.name.value in UNCACHED_ROOT_FIELDS)
                or (parent is not None and (parent.name, node.name.value) in CLOCK_FIELDS)
            ):
                cacheable = False
                return BREAK
            return None

        def enter_object_field(self, node: Any, *_: Any) -> Any:
            nonlocal cacheable
            if node.name.value in CLOCK_INPUT_FIELDS:
                cacheable = False
                return BREAK
            return None

    visit(document, TypeInfoVisitor(info, Check()))
    return cacheable


async def data_version(firm_id: int) -> Version:
    """The firm's data version: its pipelines' event sequences and its catalog version (and
    its creation time, which tells two databases' firm 1 apart)."""
    rows = await sql.fetch(
        "SELECT id, event_seq, NULL AS created_at FROM pipeline WHERE firm_id = ? "
        "UNION ALL SELECT -1, catalog_version, created_at FROM firm WHERE id = ? ORDER BY 1",
        [firm_id, firm_id],
    )
    return tuple(tuple(row.values()) for row in rows)


class ResultStore:
    """The latest result of each query, with the version it was computed at, least recently
    used first; bounded by the JSON size of the results."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[Version, Any, int]] = OrderedDict()
        self._running: dict[tuple[Hashable, Version], asyncio.Future[Any]] = {}
        self._bytes = 0

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    async def get(self, key: Hashable, version: Version) -> Any:
        """The data cached for `key` at `version`, waiting for an identical query that is
        running; None if there is none (then the caller runs it: begin, then end)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            self._entries.move_to_end(key)
            return entry[1]
        running = self._running.get((key, version))
        if running is not None:
            return await asyncio.shield(running)
        return None

    def begin(self, key: Hashable, version: Version) -> None:
        self._running[(key, version)] = asyncio.get_running_loop().create_future()

    def end(self, key: Hashable, version: Version, data: Any) -> None:
        """Record a run's data (None: it failed, and waiters run the query themselves)."""
        running = self._running.pop((key, version), None)
        if running is not None and not running.done():
            running.set_result(data)
        if data is None:
            return
        try:
            size = len(orjson.dumps(data))
        except orjson.JSONEncodeError:  # nothing orjson cannot write is worth keeping
            return
        if size > MAX_ENTRY_BYTES:
            return
        self._forget(key)
        self._entries[key] = (version, data, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            self._forget(next(iter(self._entries)))

    def _forget(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]


STORE = ResultStore()
CACHEABLE: DocumentCache[bool] = DocumentCache(1000)  # by document digest


class ResultCache(SchemaExtension):
    """Answers cacheable queries from STORE (see the module's docstring)."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        key = self._key()
        version = await self._version() if key is not None else None
        if key is None or version is None:
            yield
            return
        data = await STORE.get(key, version)
        if data is not None:
            execution.result = ExecutionResult(data=data)
            yield
            return
        STORE.begin(key, version)
        data = None
        try:
            yield
            result = execution.result
            if isinstance(result, ExecutionResult) and not result.errors:
                data = result.data
        finally:
            STORE.end(key, version, data)

    def _key(self) -> Hashable | None:
        execution = self.execution_context
        digest, document = document_key(execution.query), execution.graphql_document
        if digest is None or document is None or (execution.operation_type != OperationType.QUERY):
            return None  # a long document is answered, not cached (schema.documents)
        if (cacheable := CACHEABLE.get(digest)) is None:
            schema = execution.schema._schema  # noqa: SLF001 (graphql-core's schema)
            cacheable = reads_only_board_data(schema, document)
            CACHEABLE.put(digest, cacheable, len(execution.query or ""))
        if not cacheable:
            return None
        scope = execution.context.scope
        try:
            variables = orjson.dumps(execution.variables or {}, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. a lone surrogate: answered, just not cached
            return None
        if any(f'"{name}":'.encode() in variables for name in CLOCK_INPUT_FIELDS):
            return None  # a JobFilter.overdue in the variables (or a look-alike: uncached)
        return (scope.firm_id, scope.permissions, digest, execution.operation_name, variables)

    async def _version(self) -> Version | None:
        try:
            return await data_version(self.execution_context.context.scope.firm_id)
        except Exception as error:  # answer uncached; the query meets an outage itself
            if not database_unavailable(error):
                log.exception("no data version: answering uncached")
            return None
