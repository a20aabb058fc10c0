"""What an operation may ask for, decided after validation and before any resolver runs.

One walk over the operation checks the caller's permissions (workflow.access), counts its root
fields and computes its cost: every object it could return, connection sizes (`first`, or the
default page) multiplied through the nesting, plain lists counted as LIST_ESTIMATE items.
Introspection is counted the same way, its lists sized from the schema itself (`__schema {
types }` is every type), and at most MAX_INTROSPECTION_ROOT_FIELDS `__schema`/`__type` may be
asked at once: a full introspection is as much work as a board. The cost is then charged to
the caller's rate limits. Anything refused is refused whole: nothing has run, so nothing has
changed.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    VariableNode,
    Visitor,
    get_named_type,
    is_leaf_type,
    visit,
)
from graphql.type.definition import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
)
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from models.firm import Permission
from schema.connection import DEFAULT_PAGE, MAX_PAGE
from schema.documents import DocumentCache, document_key
from schema.firm_slots import FirmSlots
from workflow.access import field_needs, root_field_needs, type_needs
from workflow.errors import ErrorCode

MAX_COST = 50_000
MAX_ROOT_FIELDS = 20
LIST_ESTIMATE = 10  # items assumed in a plain list (stages, assignees): they are short
MUTATION_COST = 10  # a write costs more than the objects it returns
MAX_INTROSPECTION_ROOT_FIELDS = 2  # __schema / __type per operation; tools send one
# Fields the walk may visit, fragments expanded at each spread: a chain of fragments that each
# spread the next twice doubles per link; real documents (a full introspection) visit < 2,000.
MAX_SELECTIONS = 10_000
INTROSPECTION_ROOTS = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}
# Leaves that are computed from rows (a leaf costs 0 otherwise): (type, field) -> cost each.
LEAF_COSTS = {
    ("Job", "autoMoveBlockers"): LIST_ESTIMATE,
    # the stages and their automations, as `stages { automations { ... } }` would count them
    ("Pipeline", "template"): LIST_ESTIMATE * (1 + LIST_ESTIMATE),
}
# Bulk mutations (workflow.bulk): the input list that holds their items. Such a mutation costs
# its write once per item, and its payload's results list holds as many items.
BULK_ITEMS = {
    "bulkMoveJobs": "jobIds",
    "bulkUpdateJobs": "jobIds",
    "bulkArchiveJobs": "jobIds",
    "createJobs": "clientIds",
}
BULK_RESULTS = ("BulkJobsPayload", "results")
# An item of a bulk payload: its fields are the payload's own, as to what a caller without
# READ may ask (see access): a bulk result's job is like a single mutation's job.
ITEM_TYPES = frozenset({"BulkJobResult"})


@dataclass
class Analysis:
    cost: int = 0
    root_fields: int = 0
    introspection_root_fields: int = 0  # __schema, __type
    data_root_fields: int = 0  # neither those nor __typename
    root_names: set[str] = field(default_factory=set)
    refused: list[GraphQLError] = field(default_factory=list)


def _error(message: str, code: ErrorCode, node: Any = None, **extra: Any) -> GraphQLError:
    return GraphQLError(message, nodes=node, extensions={"code": str(code), **extra})


class _TooLarge(Exception):
    """The walk went past MAX_SELECTIONS."""


class IntrospectionSizes(NamedTuple):
    lists: dict[tuple[str, str], int]  # (type, field) -> items
    wrapping: int  # most wrappers (list, non-null) of a type reference: deeper ofType is null


def _wrappers(type_: Any) -> int:
    return 1 + _wrappers(type_.of_type) if hasattr(type_, "of_type") else 0


@lru_cache(maxsize=8)
def introspection_sizes(schema: GraphQLSchema) -> IntrospectionSizes:
    """Items in each list of an introspection answer, from the schema: all its types and
    directives, and per type (or field, directive) the average of what they hold, so that
    `types { fields }` costs what the whole answer holds."""
    types = list(schema.type_map.values())
    fields = [
        f
        for t in types
        for f in getattr(t, "fields", {}).values()
        if not isinstance(t, GraphQLInputObjectType)
    ]
    values = [
        *(f for t in types for f in getattr(t, "fields", {}).values()),
        *(a for f in fields for a in f.args.values()),
        *(a for d in schema.directives for a in d.args.values()),
    ]

    def per(total: int, among: int) -> int:
        return max(1, math.ceil(total / max(among, 1)))

    return IntrospectionSizes(
        {
            ("__Schema", "types"): len(types),
            ("__Schema", "directives"): len(schema.directives),
            ("__Type", "fields"): per(len(fields), len(types)),
            ("__Type", "inputFields"): per(
                sum(len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)),
                len(types),
            ),
            ("__Type", "enumValues"): per(
                sum(len(t.values) for t in types if isinstance(t, GraphQLEnumType)), len(types)
            ),
            ("__Type", "interfaces"): per(
                sum(len(getattr(t, "interfaces", ())) for t in types), len(types)
            ),
            ("__Type", "possibleTypes"): per(
                sum(
                    len(schema.get_possible_types(t))
                    for t in types
                    if isinstance(t, GraphQLInterfaceType)
                ),
                len(types),
            ),
            ("__Field", "args"): per(sum(len(f.args) for f in fields), len(fields)),
            ("__Directive", "args"): per(
                sum(len(d.args) for d in schema.directives), len(schema.directives)
            ),
        },
        max(_wrappers(v.type) for v in values),
    )


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        permissions: frozenset[Permission],
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.permissions = permissions
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.analysis = Analysis()
        self.sizes = introspection_sizes(schema)
        self.selections = 0
        self.items = 1  # of the bulk mutation being walked (its results list)

    def refuse(self, node: FieldNode, needs: Permission) -> None:
        if any(node in (error.nodes or ()) for error in self.analysis.refused):
            return  # one refusal per field is enough
        self.analysis.refused.append(
            _error(
                f"{node.name.value} needs the {needs} permission, which this token lacks",
                ErrorCode.FORBIDDEN,
                node,
            )
        )

    def operation(self, operation: OperationDefinitionNode) -> None:
        kind = operation.operation.value
        root = self.schema.get_root_type(operation.operation)
        assert root is not None  # validation checked the operation type exists
        for node, _ in self.fields(operation.selection_set, root):
            self.analysis.root_fields += 1
            self.analysis.root_names.add(node.name.value)
            if node.name.value in INTROSPECTION_ROOTS:
                self.analysis.introspection_root_fields += 1
            elif node.name.value != "__typename":
                self.analysis.data_root_fields += 1
            needs = root_field_needs(kind, node.name.value)
            if needs not in self.permissions:
                self.refuse(node, needs)
            # Without READ, a mutation returns its object's own fields only (see access).
            payload_only = kind == "mutation" and Permission.READ not in self.permissions
            writes = 1
            if kind == "mutation" and node.name.value in BULK_ITEMS:
                self.items = writes = self.input_length(node, BULK_ITEMS[node.name.value])
            cost = self.field(node, root, depth=1, payload_only=payload_only)
            self.analysis.cost += cost + (
                MUTATION_COST * max(writes, 1) if kind == "mutation" else 0
            )

    def fields(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> list[tuple[FieldNode, GraphQLNamedType | None]]:
        """The field nodes of a selection set, fragments expanded, with their parent type."""
        found: list[tuple[FieldNode, GraphQLNamedType | None]] = []
        for selection in selection_set.selections if selection_set else ():
            self.selections += 1
            if self.selections > MAX_SELECTIONS:
                raise _TooLarge
            if isinstance(selection, FieldNode):
                found.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                found += self.fields(selection.selection_set, inner)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                inner = self.schema.get_type(fragment.type_condition.name.value)
                found += self.fields(fragment.selection_set, inner)
        return found

    def field(
        self, node: FieldNode, parent: Any, depth: int, payload_only: bool, of_types: int = 0
    ) -> int:
        """The cost of one field: the objects it may return, each with its own selection.
        `of_types`: the `ofType` fields this one is nested in, one in the other."""
        name = node.name.value
        if name == "__typename" or not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0
        if name == "ofType" and of_types >= self.sizes.wrapping:
            return 0  # no type reference of this schema nests so deep: null
        definition = INTROSPECTION_ROOTS.get(name) or parent.fields[name]
        named = get_named_type(definition.type)
        needs = type_needs(named.name)
        if needs and needs not in self.permissions:
            self.refuse(node, needs)
        for also in sorted(field_needs(parent.name, name) - self.permissions):
            self.refuse(node, also)
        if is_leaf_type(named):
            return LEAF_COSTS.get((parent.name, name), 0)
        if payload_only and depth >= 3 and parent.name != "UserError":
            self.refuse(node, Permission.READ)
            return 0
        children = self.fields(node.selection_set, named)
        of_types = of_types + 1 if name == "ofType" else 0
        below = depth if named.name in ITEM_TYPES else depth + 1
        inner = sum(
            self.field(child, child_parent, below, payload_only, of_types)
            for child, child_parent in children
        )
        if parent.name.endswith(("Connection", "Edge")):
            return inner  # edges, node, pageInfo: the connection's `first` counted them
        count = self.sizes.lists.get((parent.name, name)) or self.multiplier(
            node, definition, parent.name
        )
        if named.name.endswith("Connection") and not any(
            child.name.value == "edges" for child, _ in children
        ):
            count = 1  # totalCount or pageInfo alone: no items are loaded
        return count * (1 + inner)

    def multiplier(self, node: FieldNode, definition: Any, parent: str = "") -> int:
        if (parent, node.name.value) == BULK_RESULTS:
            return self.items
        if "first" in definition.args:
            first = self.argument(node, "first", DEFAULT_PAGE)
            if first > MAX_PAGE:  # refused before anything runs, even deep in a payload
                self.analysis.refused.append(
                    _error(
                        f"first must be between 0 and {MAX_PAGE}",
                        ErrorCode.INVALID_INPUT,
                        node,
                        field="first",
                    )
                )
            return first
        if "ids" in definition.args:
            return self.argument_length(node, "ids")
        field_type = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        return LIST_ESTIMATE if isinstance(field_type, GraphQLList) else 1

    def argument(self, node: FieldNode, name: str, default: int) -> int:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value: Any = argument.value
                if isinstance(value, VariableNode):
                    value = self.variables.get(value.name.value)
                elif isinstance(value, IntValueNode):
                    value = int(value.value)
                return value if isinstance(value, int) and value >= 0 else default
        return default

    def input_length(self, node: FieldNode, name: str) -> int:
        """How many values the list field `name` of the `input` argument holds, written in
        the document or given as variables (the input's or the list's)."""
        for argument in node.arguments or ():
            if argument.name.value != "input":
                continue
            value: Any = argument.value
            if isinstance(value, VariableNode):
                value = self.variables.get(value.name.value)
                listed = value.get(name) if isinstance(value, dict) else None
                return len(listed) if isinstance(listed, list) else 1
            for field_node in getattr(value, "fields", ()):
                if field_node.name.value == name:
                    listed = field_node.value
                    if isinstance(listed, VariableNode):
                        found = self.variables.get(listed.name.value)
                        return len(found) if isinstance(found, list) else 1
                    return len(getattr(listed, "values", ())) or 1  # one value: a list of one
        return 1

    def argument_length(self, node: FieldNode, name: str) -> int:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value: Any = argument.value
                if isinstance(value, VariableNode):
                    value = self.variables.get(value.name.value)
                    return len(value) if isinstance(value, list) else 1
                return len(getattr(value, "values", ())) or 1
        return 1


def analyze(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    permissions: frozenset[Permission],
) -> Analysis:
    """Permissions, root fields and cost of the operation that will run."""
    walk = _Walk(schema, document, variables, permissions)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name and operation.name.value == operation_name):
            try:
                walk.operation(operation)
            except _TooLarge:
                walk.analysis.refused.append(
                    _error(
                        f"the operation selects more than {MAX_SELECTIONS} fields once its "
                        "fragments are expanded",
                        ErrorCode.QUERY_TOO_COMPLEX,
                    )
                )
            break
    return walk.analysis


# Digests of the documents found valid, by schema (schema.documents). Not their errors: an
# error keeps its nodes, and through them the whole parse of an invalid document.
VALID: DocumentCache[bool] = DocumentCache(1000)


class _EmptySelections(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[SelectionSetNode] = []

    def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
        if not node.selections:
            self.found.append(node)


def _empty_selections(document: DocumentNode) -> list[GraphQLError]:
    """`{ viewer {} }` parses, but is invalid GraphQL (and trips the depth limiter)."""
    visitor = _EmptySelections()
    visit(document, visitor)
    return [GraphQLError("a selection set cannot be empty", nodes=node) for node in visitor.found]


def _validate(execution: ExecutionContext) -> list[GraphQLError]:
    """Validation errors of the document; a valid document validated once (its rules and
    the schema are fixed), so the clients' few recurring documents are not re-validated."""
    assert execution.graphql_document is not None
    digest = document_key(execution.query)
    # Valid for this schema: the staff schema and the portal's hold different fields.
    key = None if digest is None else (digest, id(execution.schema))
    if key is not None and VALID.get(key):
        return []
    errors = _empty_selections(execution.graphql_document) or validate_document(
        execution.schema._schema, execution.graphql_document, execution.validation_rules
    )
    if key is not None and not errors:
        VALID.put(key, True, len(execution.query or ""))
    return errors


# What one firm's operations may hold executing at once in this process (schema.firm_slots):
# about one most expensive request, so one firm cannot fill the event loop.
FIRM_COST_IN_FLIGHT = MAX_COST
SLOTS = FirmSlots(FIRM_COST_IN_FLIGHT)
# Parsing and validating a new document is one uninterrupted run (~20 ms at 3,000 tokens):
# a firm's new documents take turns, so a flood of them holds the loop one run at a time.
PREPARING = FirmSlots(1)


class Guard(SchemaExtension):
    """Refuses, before execution, what the caller may not do or may not afford; then makes
    the operation wait for its firm's share of this process (SLOTS)."""

    cost: int | None = None  # of the operation, once allowed
    preparing: int | None = None  # the firm whose PREPARING turn this operation holds

    async def on_operation(self) -> AsyncIterator[None]:
        firm = self.execution_context.context.scope.firm_id
        await PREPARING.acquire(firm, 1)
        self.preparing = firm
        try:
            yield
        finally:
            self.prepared()

    def prepared(self) -> None:
        if self.preparing is not None:
            PREPARING.release(self.preparing, 1)
            self.preparing = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        if self.cost is None or execution.operation_type == OperationType.SUBSCRIPTION:
            yield  # a subscription lives long: its events are not held back here
            return
        firm, cost = execution.context.scope.firm_id, self.cost
        await SLOTS.acquire(firm, cost)
        try:
            yield
        finally:
            SLOTS.release(firm, cost)

    async def on_validate(self) -> AsyncIterator[None]:
        # Validate first (strawberry then skips its own run), so that the walk meets only
        # valid documents and its refusals are seen by the check that follows validation.
        execution = self.execution_context
        if execution.graphql_document is not None and execution.pre_execution_errors is None:
            execution.pre_execution_errors = _validate(execution)
            if not execution.pre_execution_errors:
                execution.pre_execution_errors = await self.refusals()
        self.prepared()
        yield

    async def refusals(self) -> list[GraphQLError]:
        execution = self.execution_context
        assert execution.graphql_document is not None
        context = execution.context
        analysis = analyze(
            execution.schema._schema,
            execution.graphql_document,
            execution.operation_name,
            execution.variables,
            self.permissions(),
        )
        if errors := self.refused(analysis):
            return errors
        errors = analysis.refused
        if (
            not errors
            and execution.operation_type == OperationType.SUBSCRIPTION
            and (not isinstance(context.request, WebSocket))
        ):
            errors.append(
                _error(
                    "subscriptions are served over a websocket at /graphql (graphql-transport-ws)",
                    ErrorCode.INVALID_INPUT,
                )
            )
        if analysis.root_fields > MAX_ROOT_FIELDS:
            errors.append(
                _error(
                    f"{analysis.root_fields} root fields; at most {MAX_ROOT_FIELDS} per operation",
                    ErrorCode.QUERY_TOO_COMPLEX,
                )
            )
        if analysis.introspection_root_fields > MAX_INTROSPECTION_ROOT_FIELDS:
            errors.append(
                _error(
                    f"{analysis.introspection_root_fields} introspection root fields (__schema, "
                    f"__type); at most {MAX_INTROSPECTION_ROOT_FIELDS} per operation",
                    ErrorCode.QUERY_TOO_COMPLEX,
                )
            )
        if analysis.introspection_root_fields and analysis.data_root_fields:
            errors.append(
                _error(  # introspection runs apart, in steps (schema.introspection)
                    "__schema and __type cannot be asked beside other root fields: send "
                    "introspection as an operation of its own",
                    ErrorCode.INVALID_INPUT,
                )
            )
        if analysis.cost > MAX_COST:
            errors.append(
                _error(
                    f"query cost {analysis.cost} is over the limit of {MAX_COST}: ask for fewer "
                    "items (first) or fewer nested connections",
                    ErrorCode.QUERY_TOO_COMPLEX,
                    cost=analysis.cost,
                    maxCost=MAX_COST,
                )
            )
        if not errors:
            wait = await self.spend(max(analysis.cost, 1))
            if wait:
                errors.append(
                    _error(
                        f"rate limit reached: retry in {math.ceil(wait)} s",
                        ErrorCode.RATE_LIMITED,
                        retryAfter=math.ceil(wait),
                    )
                )
            elif analysis.introspection_root_fields:
                # no I/O to wait for, only steps on the loop: one at a time per firm
                self.cost = FIRM_COST_IN_FLIGHT
            else:
                self.cost = max(analysis.cost, 1)
        return errors

    def permissions(self) -> frozenset[Permission]:
        """What the caller may do (workflow.access)."""
        permissions: frozenset[Permission] = self.execution_context.context.scope.permissions
        return permissions

    def refused(self, analysis: Analysis) -> list[GraphQLError]:
        """Refusals that come before any limit (none here: the caller is authenticated by
        web.middleware before the schema runs)."""
        return []

    async def spend(self, cost: int) -> float:
        """Charge the cost to the caller's rate limits; the seconds to wait, or 0."""
        wait: float = await self.execution_context.context.charge(cost)
        return wait
