"""Introspection as GraphQL tools send it: graphql-core's standard introspection query, with the
option combinations that GraphiQL's Docs, Apollo and Relay codegen, GraphQL Code Generator and
gql's fetch_schema_from_transport use, POSTed to /graphql; the answer must rebuild the very
schema the server serves (build_client_schema, then print_schema on both sides).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLArgument,
    GraphQLInputField,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)
from graphql.utilities import get_default_value_ast

from schema import schema
from tests.conftest import graphql_client
from tests.servers import ServerProcess
from workflow.firms import NewFirm

# Option sets (keyword arguments of get_introspection_query) the common tools send.
TOOL_OPTIONS: dict[str, dict[str, bool]] = {
    "defaults (Apollo client:download-schema, Relay get-graphql-schema)": {},
    "GraphiQL Docs": {"input_value_deprecation": True, "schema_description": True},
    "GraphQL Code Generator": {
        "directive_is_repeatable": True, "input_value_deprecation": True,
        "specified_by_url": True,
    },
    "gql fetch_schema_from_transport": {"input_value_deprecation": True},
    "without descriptions": {"descriptions": False},
    "everything graphql-core can ask": {
        "specified_by_url": True, "directive_is_repeatable": True, "schema_description": True,
        "input_value_deprecation": True, "experimental_directive_deprecation": True,
        "one_of": True,
    },
}
FULL = TOOL_OPTIONS["everything graphql-core can ask"]


def printed(graphql_schema: GraphQLSchema) -> str:
    return print_schema(lexicographic_sort_schema(graphql_schema))


def shape(graphql_schema: GraphQLSchema) -> dict[str, set[str]]:
    """Every named type with its fields (and their arguments) or input fields or values."""
    found: dict[str, set[str]] = {}
    for name, named in graphql_schema.type_map.items():
        members: set[str] = set()
        for field_name, definition in getattr(named, "fields", {}).items():
            members.add(field_name)
            members |= {f"{field_name}({arg})" for arg in getattr(definition, "args", {})}
        members |= set(getattr(named, "values", {}))
        found[name] = members
    return found


def check_answer(body: dict[str, Any], options: dict[str, bool]) -> None:
    assert "errors" not in body, body["errors"]
    client_schema = build_client_schema(body["data"])
    served = schema._schema  # noqa: SLF001 (graphql-core's schema, as the server runs it)
    assert shape(client_schema) == shape(served)
    if options.get("descriptions", True) and options.get("specified_by_url"):
        assert printed(client_schema) == printed(served)


@pytest.mark.parametrize("tool", list(TOOL_OPTIONS))
async def test_the_standard_introspection_query_rebuilds_the_served_schema(
    http: httpx.AsyncClient, firm_a: NewFirm, tool: str
) -> None:
    options = TOOL_OPTIONS[tool]
    response = await http.post(
        "/graphql", json={"query": get_introspection_query(**options),
                          "operationName": "IntrospectionQuery"},
        headers={"Authorization": f"Bearer {firm_a.token}"},
    )
    assert response.status_code == 200, response.text
    check_answer(response.json(), options)


def test_every_default_value_is_printable() -> None:
    """What broke introspection: a default graphql-core cannot write as a literal (`{}` of
    a JSON scalar). Every argument and input field of the schema, introspection's included."""
    served = schema._schema  # noqa: SLF001
    values: dict[str, GraphQLArgument | GraphQLInputField] = {}
    for name, named in served.type_map.items():
        for field_name, definition in getattr(named, "fields", {}).items():
            if isinstance(definition, GraphQLInputField):
                values[f"{name}.{field_name}"] = definition
            for arg, argument in getattr(definition, "args", {}).items():
                values[f"{name}.{field_name}({arg})"] = argument
    for directive in served.directives:
        values |= {f"@{directive.name}({arg})": a for arg, a in directive.args.items()}
    assert "CreateAutomationInput.settings" in values
    unprintable = []
    for where, value in values.items():
        try:
            get_default_value_ast(value)
        except TypeError as error:
            unprintable.append(f"{where}: {error}")
    assert unprintable == []


PIPELINE = """mutation { createPipeline(input: {name: "P", stageNames: ["A", "B"]}) {
  pipeline { stages { id } } } }"""
CREATE = """mutation($input: CreateAutomationInput!) { createAutomation(input: $input) {
  automation { action settings } errors { code field } } }"""


async def test_create_automation_without_settings_still_means_empty_settings(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    gql = graphql_client(http, firm_a.token)
    pipeline = (await gql(PIPELINE))["createPipeline"]["pipeline"]
    for extra in ({}, {"settings": None}):
        data = await gql(CREATE, input={
            "stageId": pipeline["stages"][1]["id"], "action": "ARCHIVE_JOB", **extra})
        assert data["createAutomation"] == {
            "automation": {"action": "ARCHIVE_JOB", "settings": {}}, "errors": []}, extra


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path, DATABASE_URL=database_url).start()
    yield process
    process.stop()


def test_a_server_process_answers_the_full_introspection_query(server: ServerProcess) -> None:
    owner = json.loads(server.cli("create-firm", "Intro CPA", "--owner-email", "o@intro.test"))
    response = httpx.post(
        f"{server.url}/graphql", json={"query": get_introspection_query(**FULL)},
        headers={"Authorization": f"Bearer {owner['token']}"}, timeout=30,
    )
    assert response.status_code == 200, response.text
    check_answer(response.json(), FULL)
