"""A query's plan over the board graph: what each response key is, made once per document (and
per value of the variables its @skip/@include read), with graphql-core's own field collection,
so aliases, fragments, inline fragments and directives merge exactly as its executor merges
them.

A document with any field, argument or type the specs (schema.board_specs) do not cover has no
plan (NotCovered): the resolvers answer it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues
from tortoise.fields import BooleanField, CharField, IntField, TextField
from tortoise.fields.base import Field as ModelField

from schema.board_specs import (
    CONNECTION_TYPES,
    GRAPH,
    ById,
    Children,
    Computed,
    Leaf,
    NodeLookup,
    Ref,
    Row,
    Spec,
    TypeSpec,
)
from workflow.global_ids import global_ids


class NotCovered(Exception):
    """The document asks for something the plan does not know."""


Column = Callable[[list[Row]], list[Any]]  # a leaf's answers for many rows


@dataclass
class Planned:
    """One response key of an object: `value` for a leaf, else a relation with its spec."""

    key: str
    spec: Spec | None = None  # None: a leaf (value) or __typename
    value: Column | None = None
    columns: tuple[str, ...] = ()  # what it reads of the row
    node: FieldNode | None = None  # for the field's arguments
    definition: GraphQLField | None = None
    nullable: bool = True
    target: ObjectPlan | None = None  # Ref, ById, ChildList, Linked
    connection: ConnectionPlan | None = None  # Children
    by_type: dict[str, ObjectPlan] = field(default_factory=dict)  # NodeLookup


@dataclass
class ObjectPlan:
    type_name: str
    fields: list[Planned]

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The columns its rows need (its fields', and the id its relations go by)."""
        wanted = {"id"}
        for planned in self.fields:
            wanted.update(planned.columns)
        return tuple(sorted(wanted))


@dataclass
class EdgesPlan:
    """An `edges` key: per edge, (key, name) with name one of cursor, node, __typename, and
    each `node` key's plan."""

    type_name: str
    keys: list[tuple[str, str]]
    nodes: dict[str, ObjectPlan]


@dataclass
class ConnectionPlan:
    """Keys of a connection, in order: (key, name) with name one of totalCount, pageInfo,
    edges, __typename; each `edges` key's plan and each `pageInfo` key's (key, name)s."""

    type_name: str
    keys: list[tuple[str, str]]
    edges: dict[str, EdgesPlan]
    page_infos: dict[str, list[tuple[str, str]]]

    def node_plans(self) -> list[ObjectPlan]:
        return [node for edges in self.edges.values() for node in edges.nodes.values()]

    def counts(self) -> bool:
        return any(name == "totalCount" for _, name in self.keys)


@dataclass
class Plan:
    root: ObjectPlan


# A BoardEvent's own leaves, by GraphQL name: the attribute of schema.events.BoardEventType.
EVENT_FIELDS = ("boardUpdated", "jobUpdated")
EVENT_LEAVES = {
    "cursor": "cursor",
    "type": "type",
    "stageId": "stage_id",
    "fromStageId": "from_stage_id",
    "pipelineId": "pipeline_id",
    "occurredAt": "occurred_at",
}


@dataclass
class EventPlan:
    """A subscription document's answer on one board event: the root field's `key`, then per
    key of the event, in order, (key, attribute, serializer): an event leaf, "__typename", or
    "job" (its plan in `jobs`, by key)."""

    key: str
    type_name: str
    fields: list[tuple[str, str, Callable[[Any], Any] | None]]
    jobs: dict[str, ObjectPlan]


def _leaf_value(spec_type: str, spec: Leaf | Computed, definition: GraphQLField) -> Column:
    """How a leaf's answers are made from rows: the column as the model reads it, then the
    GraphQL type's own serializer, as the resolver path does it."""
    if isinstance(spec, Computed):
        compute = spec.compute
        return lambda rows: [compute(row) for row in rows]
    column = spec.column
    if column == "id":
        return lambda rows: global_ids(spec_type, [row["id"] for row in rows])
    model = GRAPH[spec_type].model
    assert model is not None
    model_field: ModelField[Any] = model._meta.fields_map[column]
    if isinstance(model_field, IntField | CharField | TextField) and not hasattr(
        model_field, "enum_type"
    ):
        return lambda rows: [row[column] for row in rows]
    if isinstance(model_field, BooleanField):
        return lambda rows: [None if (v := row[column]) is None else bool(v) for row in rows]
    leaf_type = get_named_type(definition.type)
    assert isinstance(leaf_type, GraphQLScalarType | GraphQLEnumType)
    to_python, serialize = model_field.to_python_value, leaf_type.serialize
    if is_list_type(get_nullable_type(definition.type)):
        return lambda rows: [
            None if (v := row[column]) is None else [serialize(item) for item in to_python(v)]
            for row in rows
        ]
    return lambda rows: [
        None if (v := row[column]) is None else serialize(to_python(v)) for row in rows
    ]


class Planner:
    """Builds one operation's plan."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode | dict[str, FragmentDetails],
        operation: OperationDefinitionNode,
        variables: VariableValues,
    ) -> None:
        """`document`: the document, or its fragments as an executor holds them."""
        self.schema, self.operation, self.variables = schema, operation, variables
        self.fragments = (
            document
            if isinstance(document, dict)
            else {
                d.name.value: FragmentDetails(d)
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
        )

    def plan(self) -> Plan:
        query = self.schema.query_type
        if self.operation.operation != OperationType.QUERY or query is None:
            raise NotCovered("not a query")
        collected = collect_fields(
            self.schema, self.fragments, self.variables, query, self.operation
        )
        return Plan(self._object(query, collected))

    def event_plan(self) -> EventPlan:
        """A subscription to board events: the event's leaves come from the event, its job
        by the query plan of Job (from the job row the delivery read)."""
        root = self.schema.subscription_type
        if self.operation.operation != OperationType.SUBSCRIPTION or root is None:
            raise NotCovered("not a subscription")
        collected = collect_fields(
            self.schema, self.fragments, self.variables, root, self.operation
        )
        if collected.new_defer_usages or len(collected.grouped_field_set) != 1:
            raise NotCovered("one root field, no @defer")
        [(key, details)] = collected.grouped_field_set.items()
        name = details[0].node.name.value
        if name not in EVENT_FIELDS:
            raise NotCovered(f"Subscription.{name}")
        event = get_named_type(root.fields[name].type)
        assert isinstance(event, GraphQLObjectType)
        plan = EventPlan(key, event.name, [], {})
        for event_key, group in self._sub(event, details).grouped_field_set.items():
            field_name = group[0].node.name.value
            if field_name == "job":
                job = get_named_type(event.fields["job"].type)
                assert isinstance(job, GraphQLObjectType)
                plan.jobs[event_key] = self._object(job, self._sub(job, group))
                plan.fields.append((event_key, "job", None))
            elif field_name == "__typename":
                plan.fields.append((event_key, "__typename", None))
            elif field_name in EVENT_LEAVES:
                leaf = get_named_type(event.fields[field_name].type)
                assert isinstance(leaf, GraphQLScalarType | GraphQLEnumType)
                plan.fields.append((event_key, EVENT_LEAVES[field_name], leaf.serialize))
            else:
                raise NotCovered(f"{event.name}.{field_name}")
        return plan

    def _object(self, type_: GraphQLObjectType, collected: Any) -> ObjectPlan:
        if collected.new_defer_usages:
            raise NotCovered("@defer")
        spec = GRAPH.get(type_.name)
        if spec is None:
            raise NotCovered(type_.name)
        return ObjectPlan(
            type_.name,
            [
                self._field(type_, spec, key, details)
                for key, details in collected.grouped_field_set.items()
            ],
        )

    def _sub(self, type_: GraphQLObjectType, details: list[FieldDetails]) -> Any:
        if any(d.fragment_variable_values for d in details):
            raise NotCovered("fragment variables")
        collected = collect_subfields(
            self.schema, self.fragments, self.variables, self.operation, type_, details
        )
        if collected.new_defer_usages:
            raise NotCovered("@defer")
        return collected

    def _field(
        self, type_: GraphQLObjectType, spec: TypeSpec, key: str, details: list[FieldDetails]
    ) -> Planned:
        name = details[0].node.name.value
        if name == "__typename":
            type_name = type_.name
            return Planned(key, value=lambda rows: [type_name] * len(rows))
        field_spec = spec.fields.get(name)
        definition = type_.fields.get(name)
        if field_spec is None or definition is None:
            raise NotCovered(f"{type_.name}.{name}")
        if isinstance(field_spec, Leaf | Computed):
            return Planned(
                key,
                value=_leaf_value(type_.name, field_spec, definition),
                columns=field_spec.columns,
            )
        planned = Planned(
            key,
            spec=field_spec,
            node=details[0].node,
            definition=definition,
            nullable=not is_non_null_type(definition.type),
            columns=(field_spec.column,) if isinstance(field_spec, Ref) else (),
        )
        named = get_named_type(definition.type)
        if isinstance(field_spec, Children):
            planned.connection = self._connection(named, details)
        elif isinstance(field_spec, NodeLookup):
            for type_name in GRAPH:
                possible = self.schema.get_type(type_name)
                if type_name != "Query" and is_object_type(possible):
                    assert isinstance(possible, GraphQLObjectType)
                    planned.by_type[type_name] = self._object(
                        possible, self._sub(possible, details)
                    )
        else:
            assert isinstance(named, GraphQLObjectType)
            target = field_spec.target
            if named.name != target:
                raise NotCovered(f"{named.name} is not {target}")
            planned.target = self._object(named, self._sub(named, details))
        if isinstance(field_spec, ById | NodeLookup) and type_.name != "Query":
            raise NotCovered("root lookups at the root only")
        return planned

    def _connection(self, named: Any, details: list[FieldDetails]) -> ConnectionPlan:
        if named.name not in CONNECTION_TYPES:
            raise NotCovered(named.name)
        plan = ConnectionPlan(named.name, [], {}, {})
        for key, group in self._sub(named, details).grouped_field_set.items():
            name = group[0].node.name.value
            plan.keys.append((key, name))
            if name == "edges":
                edge = get_named_type(named.fields["edges"].type)
                assert isinstance(edge, GraphQLObjectType)
                edges = plan.edges[key] = EdgesPlan(edge.name, [], {})
                for edge_key, edge_group in self._sub(edge, group).grouped_field_set.items():
                    edge_name = edge_group[0].node.name.value
                    edges.keys.append((edge_key, edge_name))
                    if edge_name == "node":
                        node = get_named_type(edge.fields["node"].type)
                        assert isinstance(node, GraphQLObjectType)
                        edges.nodes[edge_key] = self._object(node, self._sub(node, edge_group))
            elif name == "pageInfo":
                info = get_named_type(named.fields["pageInfo"].type)
                assert isinstance(info, GraphQLObjectType)
                plan.page_infos[key] = [
                    (info_key, info_group[0].node.name.value)
                    for info_key, info_group in self._sub(info, group).grouped_field_set.items()
                ]
        return plan
