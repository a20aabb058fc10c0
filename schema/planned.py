"""Planned reads: a query over the board graph answered from its plan (schema.plan, run by
schema.plan_run) instead of per-field resolvers.

Placed after the guard (authorization, cost and rate limits have run) and after the result
cache (whose miss it answers, and which keeps its answer). A query the plan does not cover, or
whose answer would hold an error, is left to the resolvers, as if this extension were not there.
The plan is made once per document, operation and value of the variables its @skip/@include
read.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutionResult,
    GraphQLSchema,
    Node,
    VariableNode,
    Visitor,
    get_operation_ast,
    visit,
)
from graphql.execution import Executor
from graphql.execution.values import VariableValues, get_variable_values
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from models.outage import database_unavailable
from schema.documents import DocumentCache, document_key
from schema.events import BoardEventType
from schema.plan import EventPlan, NotCovered, Plan, Planner
from schema.plan_run import Fallback, Run
from workflow.errors import DomainError

log = logging.getLogger(__name__)
P = TypeVar("P")  # a plan: of a query, or of a subscription's events

# False: every query runs its resolvers (the differential test's other side).
PLANNING: ContextVar[bool] = ContextVar("planning", default=True)
# What answered the queries the planner looked at: "planned" or "resolvers" (tests read it).
ANSWERED: ContextVar[list[str] | None] = ContextVar("answered", default=None)

DIRECTIVE_VARIABLES: DocumentCache[tuple[str, ...]] = DocumentCache(1000)
PLANS: DocumentCache[Plan | None] = DocumentCache(1000)  # None: not covered
EVENT_PLANS: DocumentCache[EventPlan | None] = DocumentCache(1000)  # None: not covered


def directive_variables(document: Node) -> tuple[str, ...]:
    """The variables that @skip and @include read, whose values shape the plan."""
    names: set[str] = set()

    class Find(Visitor):
        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            if node.name.value in ("skip", "include"):
                for argument in node.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)

    visit(document, Find())
    return tuple(sorted(names))


def plan_key(
    digest: bytes | None,
    operation_name: str | None,
    variables: VariableValues,
    nodes: Iterable[Node],
) -> Hashable | None:
    """What a plan is cached by: the document's digest, the operation and the values of the
    variables its @skip/@include read (`nodes`: the operation and its fragments). None without
    a digest (a long document: planned every time)."""
    if digest is None:
        return None
    # by operation too: the query path reads the whole document, the event path one operation
    names = DIRECTIVE_VARIABLES.get((digest, operation_name))
    if names is None:
        names = tuple(sorted({name for node in nodes for name in directive_variables(node)}))
        DIRECTIVE_VARIABLES.put((digest, operation_name), names, 0)
    return (digest, operation_name, tuple(bool(variables.coerced.get(name)) for name in names))


def cached_plan(
    cache: DocumentCache[P | None], key: Hashable | None, make: Callable[[], P]
) -> P | None:
    """The plan cached at `key`, else made (None: not covered) and cached when there is a key."""
    if key is not None and key in cache:
        return cache.get(key)
    plan: P | None = None
    try:
        plan = make()
    except NotCovered as reason:
        log.debug("not planned: %s", reason)
    if key is not None:
        cache.put(key, plan, 0)
    return plan


def plan_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    digest: bytes | None,
    operation_name: str | None,
    variables: VariableValues,
) -> Plan | None:
    """The operation's plan (None: not covered), cached by digest when there is one."""
    key = plan_key(digest, operation_name, variables, (document,))

    def make() -> Plan:
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise NotCovered("no such operation")
        return Planner(schema, document, operation, variables).plan()

    return cached_plan(PLANS, key, make)


async def answer(
    schema: GraphQLSchema,
    document: DocumentNode,
    text: str | None,
    operation_name: str | None,
    raw_variables: dict[str, Any] | None,
    firm_id: int,
) -> dict[str, Any] | None:
    """The operation's data by its plan; None: the resolvers must answer it."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    variables = get_variable_values(
        schema, operation.variable_definitions or (), raw_variables or {}
    )
    if not isinstance(variables, VariableValues):
        return None  # the executor reports the bad variables
    plan = plan_of(schema, document, document_key(text), operation_name, variables)
    if plan is None:
        return None
    try:
        return await Run(firm_id, variables).root(plan.root)
    except Fallback as reason:
        log.debug("answered by the resolvers: %s", reason)
        return None
    except Exception as error:  # the resolvers answer, and meet an outage themselves
        if not database_unavailable(error):
            log.exception("planned read failed: answered by the resolvers")
        return None


class PlannedReads(SchemaExtension):
    """Answers covered queries by their plan (see the module's docstring)."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if (
            execution.result is None
            and execution.operation_type == OperationType.QUERY
            and execution.graphql_document is not None
            and PLANNING.get()
        ):
            data = await answer(
                execution.schema._schema,  # noqa: SLF001 (graphql-core's schema)
                execution.graphql_document,
                execution.query,
                execution.operation_name,
                execution.variables,
                execution.context.scope.firm_id,
            )
            if data is not None:
                execution.result = ExecutionResult(data=data)
            if (answered := ANSWERED.get()) is not None:
                answered.append("planned" if data is not None else "resolvers")
        yield


def event_plan_of(executor: Executor[Any]) -> EventPlan | None:
    """A subscription's plan for its events (None: not covered), cached like plan_of: by
    digest, operation and the values of its @skip/@include variables."""
    operation = executor.operation
    digest = document_key(operation.loc.source.body) if operation.loc else None
    name = operation.name.value if operation.name else None
    nodes = (operation, *executor.fragment_definitions.values())
    key = plan_key(digest, name, executor.variable_values, nodes)
    return cached_plan(
        EVENT_PLANS,
        key,
        lambda: Planner(
            executor.schema, executor.fragments, operation, executor.variable_values
        ).event_plan(),
    )


async def answer_event(
    plan: EventPlan, event: BoardEventType, firm_id: int, variables: VariableValues
) -> dict[str, Any] | None:
    """The subscription's data on this event by its plan; None: the resolvers must answer
    it. The job is the row the delivery read (what `event.job` shows), not read again: only
    its relations are fetched, one batched statement per relation level."""
    job = event.job_row
    if event.job is not None and job is None:
        return None  # a job made without its row: only the resolvers know it
    answers: dict[str, Any] = {}
    run = Run(firm_id, variables)
    try:
        for key, job_plan in plan.jobs.items():
            if job is None:
                answers[key] = None
                continue
            row = {column: getattr(job, column) for column in job_plan.columns}
            [answers[key]] = await run.objects(job_plan, [row])
    except (Fallback, DomainError) as reason:
        log.debug("live event answered by the resolvers: %s", reason)
        return None
    except Exception as error:  # the resolvers answer, and meet an outage themselves
        if not database_unavailable(error):
            log.exception("planned live event failed: answered by the resolvers")
        return None
    data: dict[str, Any] = {}
    for key, attribute, serialize in plan.fields:
        if attribute == "job":
            data[key] = answers[key]
        elif attribute == "__typename":
            data[key] = plan.type_name
        else:
            value = getattr(event, attribute)
            data[key] = None if value is None or serialize is None else serialize(value)
    return {plan.key: data}
