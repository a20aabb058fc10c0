"""The schema keeps every name docs/api.md fixes, with its type; and docs/api.md lists every
name the schema has, so the page and the schema cannot drift apart.

The fixed names are the `graphql fixed` blocks of docs/api.md (SDL without descriptions or
defaults). Checked against the committed schema.graphql and the schema the code serves:
- every type listed exists, of the same kind, implementing the interfaces listed;
- every field listed exists with the same type, and each argument listed with its type; a
  required argument (or required input field) the page does not list breaks callers too;
- every enum value listed exists;
- every type, field, argument and enum value of the schema is listed (connection and edge types
  are fixed by the convention the page states, checked here for every connection);
- every mutation takes `input: <Input>!` and answers a payload with `errors: [UserError!]!`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeDefinitionNode,
    Undefined,
    UnionTypeDefinitionNode,
    build_schema,
    get_named_type,
    parse,
    print_ast,
)

from api import schema as code_schema
from tests.markdown import API_DOC, ROOT, fenced_blocks

KINDS: dict[type[TypeDefinitionNode], type[GraphQLNamedType]] = {
    ObjectTypeDefinitionNode: GraphQLObjectType,
    InterfaceTypeDefinitionNode: GraphQLInterfaceType,
    InputObjectTypeDefinitionNode: GraphQLInputObjectType,
    EnumTypeDefinitionNode: GraphQLEnumType,
    ScalarTypeDefinitionNode: GraphQLScalarType,
    UnionTypeDefinitionNode: GraphQLUnionType,
}
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def fixed_definitions(path: Path = API_DOC) -> dict[str, TypeDefinitionNode]:
    """The types the page fixes, by name. A type may be split over several blocks (the
    mutations by area): its fields are gathered."""
    definitions: dict[str, TypeDefinitionNode] = {}
    for block in fenced_blocks(path):
        if block.info.split() != ["graphql", "fixed"]:
            continue
        document: DocumentNode = parse(block.text, no_location=True)
        for node in document.definitions:
            assert isinstance(node, TypeDefinitionNode), f"{block.where}: not a type definition"
            name = node.name.value
            previous = definitions.get(name)
            if previous is None:
                definitions[name] = node
            else:
                assert type(previous) is type(node), f"{name}: two kinds in {block.where}"
                merged = list(getattr(previous, "fields", ())) + list(getattr(node, "fields", ()))
                # a new node: graphql-core's nodes may be frozen
                attributes = {key: getattr(previous, key) for key in previous.keys}
                definitions[name] = type(previous)(**(attributes | {"fields": tuple(merged)}))
    return definitions


def _connection_like(name: str) -> bool:
    return name.endswith(("Connection", "Edge"))


def _required(value: GraphQLArgument | GraphQLInputField) -> bool:
    return isinstance(value.type, GraphQLNonNull) and value.default_value is Undefined


def _check_fields(
    name: str,
    listed: tuple[FieldDefinitionNode, ...] | tuple[InputValueDefinitionNode, ...],
    actual: dict[str, GraphQLField] | dict[str, GraphQLInputField],
) -> list[str]:
    problems: list[str] = []
    names = {field.name.value for field in listed}
    for field in listed:
        key = f"{name}.{field.name.value}"
        found = actual.get(field.name.value)
        if found is None:
            problems.append(f"{key} is missing from the schema")
            continue
        if str(found.type) != print_ast(field.type):
            problems.append(f"{key} is {found.type} in the schema, {print_ast(field.type)} fixed")
        if isinstance(field, FieldDefinitionNode):
            assert isinstance(found, GraphQLField)
            fixed_args = {arg.name.value: print_ast(arg.type) for arg in field.arguments or ()}
            for arg, type_text in fixed_args.items():
                if arg not in found.args:
                    problems.append(f"{key}({arg}:) is missing from the schema")
                elif str(found.args[arg].type) != type_text:
                    problems.append(
                        f"{key}({arg}:) is {found.args[arg].type} in the schema, {type_text} fixed"
                    )
            for arg in found.args.keys() - fixed_args.keys():
                required = "required " if _required(found.args[arg]) else ""
                problems.append(f"{key}({arg}:) is a {required}argument docs/api.md does not list")
    for extra in actual.keys() - names:
        value = actual[extra]
        required = "required " if not isinstance(value, GraphQLField) and _required(value) else ""
        problems.append(f"{name}.{extra} is a {required}field docs/api.md does not list")
    return problems


def contract_problems(fixed: dict[str, TypeDefinitionNode], served: GraphQLSchema) -> list[str]:
    """What the schema breaks of the fixed names, and what it has that the page lacks."""
    problems: list[str] = []
    for name, node in fixed.items():
        actual = served.get_type(name)
        if actual is None:
            problems.append(f"type {name} is missing from the schema")
            continue
        kind = KINDS[type(node)]
        if not isinstance(actual, kind):
            problems.append(f"{name} is a {type(actual).__name__}, fixed as {kind.__name__}")
            continue
        if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            assert isinstance(actual, GraphQLObjectType | GraphQLInterfaceType)
            for interface in node.interfaces or ():
                if interface.name.value not in {i.name for i in actual.interfaces}:
                    problems.append(f"{name} no longer implements {interface.name.value}")
            problems += _check_fields(name, tuple(node.fields or ()), actual.fields)
        elif isinstance(node, InputObjectTypeDefinitionNode):
            assert isinstance(actual, GraphQLInputObjectType)
            problems += _check_fields(name, tuple(node.fields or ()), actual.fields)
        elif isinstance(node, EnumTypeDefinitionNode):
            assert isinstance(actual, GraphQLEnumType)
            values = {value.name.value for value in node.values or ()}
            problems += [
                f"{name}.{v} is missing from the schema" for v in values - actual.values.keys()
            ]
            problems += [
                f"{name}.{v} is a value docs/api.md does not list"
                for v in actual.values.keys() - values
            ]
    for name in served.type_map.keys() - fixed.keys():
        if not (name.startswith("__") or name in BUILT_IN or _connection_like(name)):
            problems.append(f"type {name} is in the schema, not in docs/api.md")
    return problems


def convention_problems(served: GraphQLSchema) -> list[str]:
    """Connections and mutations keep the shapes docs/api.md states for all of them."""
    problems: list[str] = []
    for type_ in served.type_map.values():
        if not isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in type_.fields.items():
            target = get_named_type(field.type)
            if not target.name.endswith("Connection") or target.name.startswith("__"):
                continue
            where = f"{type_.name}.{field_name}"
            args = {name: str(arg.type) for name, arg in field.args.items()}
            if args.get("first") != "Int" or args.get("after") != "String":
                problems.append(f"{where} lacks first: Int / after: String")
            item = target.name.removesuffix("Connection")
            shape = {name: str(f.type) for name, f in target.fields.items()}
            if shape != {"edges": f"[{item}Edge!]!", "pageInfo": "PageInfo!", "totalCount": "Int!"}:
                problems.append(f"{target.name} is not a connection of {item}: {shape}")
            edge = served.get_type(f"{item}Edge")
            edge_shape = {name: str(f.type) for name, f in getattr(edge, "fields", {}).items()}
            if edge_shape != {"cursor": "String!", "node": f"{item}!"}:
                problems.append(f"{item}Edge is not an edge of {item}: {edge_shape}")
    mutation = served.mutation_type
    assert mutation is not None
    for name, field in mutation.fields.items():
        argument = field.args.get("input")
        input_type = argument and argument.type
        if (
            list(field.args) != ["input"]
            or not isinstance(input_type, GraphQLNonNull)
            or not isinstance(input_type.of_type, GraphQLInputObjectType)
        ):
            problems.append(f"Mutation.{name} does not take one `input: <Input>!`")
        payload = field.type
        errors = getattr(get_named_type(payload), "fields", {}).get("errors")
        if not isinstance(payload, GraphQLNonNull) or str(getattr(errors, "type", "")) != (
            "[UserError!]!"
        ):
            problems.append(f"Mutation.{name} does not answer a payload with errors: [UserError!]!")
    return problems


SCHEMAS = {
    "schema.graphql": lambda: build_schema((ROOT / "schema.graphql").read_text()),
    "served": lambda: build_schema(code_schema.as_str()),
}


@pytest.mark.parametrize("which", SCHEMAS)
def test_the_schema_keeps_every_fixed_name_and_the_page_lists_every_name(which: str) -> None:
    problems = contract_problems(fixed_definitions(), SCHEMAS[which]())
    assert not problems, "docs/api.md and the schema disagree:\n" + "\n".join(problems)


@pytest.mark.parametrize("which", SCHEMAS)
def test_connections_and_mutations_keep_their_conventions(which: str) -> None:
    problems = convention_problems(SCHEMAS[which]())
    assert not problems, "\n".join(problems)


def _field_names(node: TypeDefinitionNode) -> set[str]:
    assert isinstance(node, ObjectTypeDefinitionNode)
    return {field.name.value for field in node.fields or ()}


def test_the_page_fixes_the_core_names() -> None:
    """The names clients were promised first are among the fixed ones (a page emptied of its
    blocks would otherwise pass against an empty schema)."""
    fixed = fixed_definitions()
    for name in ("Node", "Pipeline", "Stage", "Job", "Task", "Client", "User", "BoardEvent"):
        assert name in fixed
    mutations = _field_names(fixed["Mutation"])
    assert {"moveJob", "transferJob", "createJob", "createApiToken"} <= mutations
    subscriptions = _field_names(fixed["Subscription"])
    assert subscriptions == {"boardUpdated", "jobUpdated"}


def _altered(sdl: str, old: str, new: str) -> GraphQLSchema:
    assert old in sdl
    return build_schema(sdl.replace(old, new, 1))


def test_the_check_fails_when_a_fixed_name_disappears_or_changes_type() -> None:
    fixed = fixed_definitions()
    sdl = (ROOT / "schema.graphql").read_text()
    assert contract_problems(fixed, build_schema(sdl)) == []

    no_version = _altered(
        sdl, '  """Grows by one on every change to the job."""\n  version: Int!\n', ""
    )
    assert "Job.version is missing from the schema" in contract_problems(fixed, no_version)

    as_string = _altered(
        sdl, "  version: Int!\n  status: JobStatus!", "  version: String!\n  status: JobStatus!"
    )
    assert "Job.version is String! in the schema, Int! fixed" in contract_problems(fixed, as_string)

    nullable = _altered(
        sdl, "type UserError {\n  code: ErrorCode!", "type UserError {\n  code: ErrorCode"
    )
    assert "UserError.code is ErrorCode in the schema, ErrorCode! fixed" in contract_problems(
        fixed, nullable
    )

    renamed = _altered(sdl, "  moveJob(input: MoveJobInput!)", "  dragJob(input: MoveJobInput!)")
    problems = contract_problems(fixed, renamed)
    assert "Mutation.moveJob is missing from the schema" in problems
    assert "Mutation.dragJob is a field docs/api.md does not list" in problems

    no_value = _altered(sdl, "  VERSION_CONFLICT\n", "")
    assert "ErrorCode.VERSION_CONFLICT is missing from the schema" in contract_problems(
        fixed, no_value
    )

    required = _altered(sdl, "input MoveJobInput {\n", "input MoveJobInput {\n  reason: String!\n")
    assert "MoveJobInput.reason is a required field docs/api.md does not list" in contract_problems(
        fixed, required
    )

    argument = _altered(
        sdl,
        "boardUpdated(pipelineId: ID!, after: String = null)",
        "boardUpdated(pipelineId: ID, after: String = null)",
    )
    assert (
        "Subscription.boardUpdated(pipelineId:) is ID in the schema, ID! fixed"
        in contract_problems(fixed, argument)
    )


def test_the_conventions_check_fails_on_a_mutation_without_errors() -> None:
    sdl = (ROOT / "schema.graphql").read_text()
    assert convention_problems(build_schema(sdl)) == []
    broken = _altered(
        sdl,
        "type MoveJobPayload {\n  job: Job\n  errors: [UserError!]!",
        "type MoveJobPayload {\n  job: Job\n  errors: [UserError!]",
    )
    assert (
        "Mutation.moveJob does not answer a payload with errors: [UserError!]!"
        in convention_problems(broken)
    )
