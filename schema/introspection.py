"""Introspection queries: computed in small steps, and each document once.

An operation whose root fields are all introspection (`__schema`, `__type`, `__typename`;
the guard refuses `__schema`/`__type` beside other root fields) reads nothing but the schema,
so its answer is the same for every caller of this process. graphql-core computes it in one
synchronous run (a full introspection resolves about 8,000 fields, ~0.1 s), which would hold
the event loop, and every other firm's request, for that long. Here it is executed with a
middleware that lets the loop run others after each type's fields (< 1 ms steps), and its
answer is kept for the next request of the same document: the standard introspection query
of a tool costs one run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    execute,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from schema.documents import DocumentCache, document_key

INTROSPECTION_FIELDS = frozenset({"__schema", "__type", "__typename"})
MAX_ANSWERS = 8  # a full introspection's answer is ~0.7 MB of Python objects
STEP_FIELDS = frozenset({"fields", "inputFields"})  # of __Type: the bulk of an answer
# Every so many steps a short pause: the loop then waits in its selector without holding the
# interpreter, which another thread may need (SQLite's, for every query of every request):
# without it that thread waits out the switch interval (5 ms) at each of its turns.
PAUSE_EVERY, PAUSE_SECONDS = 16, 0.001

ANSWERS: DocumentCache[ExecutionResult] = DocumentCache(MAX_ANSWERS)  # by digest, name, variables


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def introspection_only(document: DocumentNode, operation_name: str | None) -> bool:
    """True when every root field of the operation that will run is introspection."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    seen: set[str] = set()

    def only(selection_set: SelectionSetNode) -> bool:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value not in INTROSPECTION_FIELDS:
                    return False
            elif isinstance(selection, InlineFragmentNode):
                if not only(selection.selection_set):
                    return False
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen:
                    seen.add(name)
                    if name not in fragments or not only(fragments[name].selection_set):
                        return False
        return True

    operation = _operation(document, operation_name)
    return operation is not None and only(operation.selection_set)


class _Steps:
    """graphql-core middleware of one execution: the fields of each type are completed in a
    turn of the event loop of their own, one type after the other (graphql-core starts every
    deferred value at once: without the chain they would all complete in the same turn)."""

    def __init__(self) -> None:
        self.last: asyncio.Future[None] | None = None
        self.steps = 0

    def resolve(
        self, next_: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], **args: Any
    ) -> Any:
        value = next_(root, info, **args)
        if info.field_name in STEP_FIELDS and info.parent_type.name == "__Type":
            previous, self.last = self.last, asyncio.get_running_loop().create_future()
            self.steps += 1
            return self._after(previous, self.last, value, self.steps % PAUSE_EVERY == 0)
        return value

    @staticmethod
    async def _after(
        previous: asyncio.Future[None] | None, done: asyncio.Future[None], value: Any, pause: bool
    ) -> Any:
        try:
            if previous is None:
                await asyncio.sleep(0)
            else:
                await previous  # set as the previous step returns: this one runs a turn later
            if pause:
                await asyncio.sleep(PAUSE_SECONDS)
        finally:
            if not done.done():
                done.set_result(None)
        return value


async def execute_in_steps(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> ExecutionResult:
    """Execute an introspection-only operation, one type's fields per turn of the loop."""
    result = execute(
        schema,
        document,
        variable_values=variables,
        operation_name=operation_name,
        middleware=[_Steps()],
    )
    return await result if inspect.isawaitable(result) else result


def _key(
    execution: ExecutionContext, text: str | None, operation_name: str | None, variables: object
) -> tuple[bytes, str | None, bytes, int] | None:
    """Each schema its own answers: the staff one's and the portal's."""
    digest = document_key(text)
    if digest is None:
        return None
    try:
        values = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return None
    return digest, operation_name, values, id(execution.schema)


class IntrospectionAnswers(SchemaExtension):
    """Answers introspection-only queries (see the module's docstring); after the guard, so
    they are limited, charged and given their firm's share like any other query."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if (
            document is None
            or execution.operation_type != OperationType.QUERY
            or not introspection_only(document, execution.operation_name)
        ):
            yield
            return
        key = _key(execution, execution.query, execution.operation_name, execution.variables)
        answer = ANSWERS.get(key) if key is not None else None
        if answer is None:
            answer = await execute_in_steps(
                execution.schema._schema,
                document,  # noqa: SLF001 (graphql-core's schema)
                execution.variables,
                execution.operation_name,
            )
            if key is not None and not answer.errors:
                ANSWERS.put(key, answer, len(execution.query or ""))
        execution.result = ExecutionResult(data=answer.data, errors=answer.errors)
        yield
