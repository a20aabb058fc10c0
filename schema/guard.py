"""What an operation may ask for, decided after validation and before any resolver runs.

One walk over the operation checks the caller's permissions (workflow.access), counts its root
fields and computes its cost: every object it could return, connection sizes (`first`, or the
default page) multiplied through the nesting, plain lists counted as LIST_ESTIMATE items. The
cost is then charged to the caller's rate limits. Anything refused is refused whole: nothing
has run, so nothing has changed.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

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
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    is_leaf_type,
    visit,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLOutputType
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from models.firm import Permission
from schema.connection import DEFAULT_PAGE, MAX_PAGE
from workflow.access import field_needs, root_field_needs, type_needs
from workflow.errors import ErrorCode

MAX_COST = 50_000
MAX_ROOT_FIELDS = 20
LIST_ESTIMATE = 10  # items assumed in a plain list (stages, assignees): they are short
MUTATION_COST = 10  # a write costs more than the objects it returns
# Leaves that are computed from rows (a leaf costs 0 otherwise): (type, field) -> cost each.
LEAF_COSTS = {("Job", "autoMoveBlockers"): LIST_ESTIMATE}


@dataclass
class Analysis:
    cost: int = 0
    root_fields: int = 0
    refused: list[GraphQLError] = field(default_factory=list)


def _error(message: str, code: ErrorCode, node: Any = None, **extra: Any) -> GraphQLError:
    return GraphQLError(message, nodes=node, extensions={"code": str(code), **extra})


class _Walk:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any] | None,
        permissions: frozenset[Permission],
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.permissions = permissions
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.analysis = Analysis()

    def refuse(self, node: FieldNode, needs: Permission) -> None:
        if any(node in (error.nodes or ()) for error in self.analysis.refused):
            return  # one refusal per field is enough
        self.analysis.refused.append(_error(
            f"{node.name.value} needs the {needs} permission, which this token lacks",
            ErrorCode.FORBIDDEN, node,
        ))

    def operation(self, operation: OperationDefinitionNode) -> None:
        kind = operation.operation.value
        root = self.schema.get_root_type(operation.operation)
        assert root is not None  # validation checked the operation type exists
        for node, _ in self.fields(operation.selection_set, root):
            self.analysis.root_fields += 1
            needs = root_field_needs(kind, node.name.value)
            if needs not in self.permissions:
                self.refuse(node, needs)
            # Without READ, a mutation returns its object's own fields only (see access).
            payload_only = kind == "mutation" and Permission.READ not in self.permissions
            cost = self.field(node, root, depth=1, payload_only=payload_only)
            self.analysis.cost += cost + (MUTATION_COST if kind == "mutation" else 0)

    def fields(
        self, selection_set: SelectionSetNode | None, parent: GraphQLOutputType
    ) -> list[tuple[FieldNode, GraphQLOutputType]]:
        """The field nodes of a selection set, fragments expanded, with their parent type."""
        found: list[tuple[FieldNode, GraphQLOutputType]] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                found.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                found += self.fields(selection.selection_set, inner)  # type: ignore[arg-type]
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                inner = self.schema.get_type(fragment.type_condition.name.value)
                found += self.fields(fragment.selection_set, inner)  # type: ignore[arg-type]
        return found

    def field(self, node: FieldNode, parent: Any, depth: int, payload_only: bool) -> int:
        """The cost of one field: the objects it may return, each with its own selection."""
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0  # introspection: authenticated callers only, and cheap
        definition = parent.fields[name]
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
        inner = sum(
            self.field(child, child_parent, depth + 1, payload_only)
            for child, child_parent in children
        )
        if parent.name.endswith(("Connection", "Edge")):
            return inner  # edges, node, pageInfo: the connection's `first` counted them
        count = self.multiplier(node, definition)
        if named.name.endswith("Connection") and not any(
            child.name.value == "edges" for child, _ in children
        ):
            count = 1  # totalCount or pageInfo alone: no items are loaded
        return count * (1 + inner)

    def multiplier(self, node: FieldNode, definition: Any) -> int:
        if "first" in definition.args:
            first = self.argument(node, "first", DEFAULT_PAGE)
            if first > MAX_PAGE:  # refused before anything runs, even deep in a payload
                self.analysis.refused.append(_error(
                    f"first must be between 0 and {MAX_PAGE}", ErrorCode.INVALID_INPUT, node,
                    field="first",
                ))
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
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
    variables: dict[str, Any] | None, permissions: frozenset[Permission],
) -> Analysis:
    """Permissions, root fields and cost of the operation that will run."""
    walk = _Walk(schema, document, variables, permissions)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name and operation.name.value == operation_name):
            walk.operation(operation)
            break
    return walk.analysis


_validated: OrderedDict[str, list[GraphQLError]] = OrderedDict()  # by document text
VALIDATED_MAX = 1000


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
    """Validation errors of the document; a document's text validated once (its rules and
    the schema are fixed), so the clients' few recurring documents are not re-validated."""
    assert execution.graphql_document is not None
    text = execution.query
    if text is not None and text in _validated:
        _validated.move_to_end(text)
        return list(_validated[text])
    errors = _empty_selections(execution.graphql_document) or validate_document(
        execution.schema._schema, execution.graphql_document, execution.validation_rules
    )
    if text is not None:
        _validated[text] = list(errors)
        if len(_validated) > VALIDATED_MAX:
            _validated.popitem(last=False)
    return errors


class Guard(SchemaExtension):
    """Refuses, before execution, what the caller may not do or may not afford."""

    async def on_validate(self) -> AsyncIterator[None]:  # type: ignore[override]
        # Validate first (strawberry then skips its own run), so that the walk meets only
        # valid documents and its refusals are seen by the check that follows validation.
        execution = self.execution_context
        if execution.graphql_document is not None and execution.pre_execution_errors is None:
            execution.pre_execution_errors = _validate(execution)
            if not execution.pre_execution_errors:
                execution.pre_execution_errors = await self.refusals()
        yield

    async def refusals(self) -> list[GraphQLError]:
        execution = self.execution_context
        assert execution.graphql_document is not None
        context = execution.context
        analysis = analyze(
            execution.schema._schema, execution.graphql_document, execution.operation_name,
            execution.variables, context.scope.permissions,
        )
        errors = analysis.refused
        if not errors and execution.operation_type == OperationType.SUBSCRIPTION and (
            not isinstance(context.request, WebSocket)
        ):
            errors.append(_error("subscriptions are served over a websocket at /graphql "
                                 "(graphql-transport-ws)", ErrorCode.INVALID_INPUT))
        if analysis.root_fields > MAX_ROOT_FIELDS:
            errors.append(_error(
                f"{analysis.root_fields} root fields; at most {MAX_ROOT_FIELDS} per operation",
                ErrorCode.QUERY_TOO_COMPLEX,
            ))
        if analysis.cost > MAX_COST:
            errors.append(_error(
                f"query cost {analysis.cost} is over the limit of {MAX_COST}: ask for fewer "
                "items (first) or fewer nested connections", ErrorCode.QUERY_TOO_COMPLEX,
                cost=analysis.cost, maxCost=MAX_COST,
            ))
        if not errors:
            wait = await context.charge(max(analysis.cost, 1))
            if wait:
                errors.append(_error(
                    f"rate limit reached: retry in {math.ceil(wait)} s", ErrorCode.RATE_LIMITED,
                    retryAfter=math.ceil(wait),
                ))
        return errors
