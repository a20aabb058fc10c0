"""Introspection as GraphQL tools send it: graphql-core's standard introspection query, with the
option combinations that GraphiQL's Docs, Apollo and Relay codegen, GraphQL Code Generator and
gql's fetch_schema_from_transport use, POSTed to /graphql; the answer must rebuild the very
schema the server serves (build_client_schema, then print_schema on both sides).

And introspection limited like any other selection: counted in depth and cost, at most
MAX_INTROSPECTION_ROOT_FIELDS per operation, executed in steps that let other requests run.
"""

from __future__ import annotations

import asyncio
import hashlib
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
    execute_sync,
    get_introspection_query,
    graphql_sync,
    lexicographic_sort_schema,
    parse,
    print_schema,
)
from graphql.utilities import get_default_value_ast

from api import MAX_DEPTH, schema
from models.firm import Permission
from schema import introspection
from schema.guard import MAX_COST, MAX_INTROSPECTION_ROOT_FIELDS, MAX_SELECTIONS, analyze
from schema.introspection import execute_in_steps
from tests.conftest import StatementCounter, graphql_client
from tests.servers import ServerProcess
from workflow.firms import NewFirm

# Option sets (keyword arguments of get_introspection_query) the common tools send.
TOOL_OPTIONS: dict[str, dict[str, bool]] = {
    "defaults (Apollo client:download-schema, Relay get-graphql-schema)": {},
    "GraphiQL Docs": {"input_value_deprecation": True, "schema_description": True},
    "GraphQL Code Generator": {
        "directive_is_repeatable": True,
        "input_value_deprecation": True,
        "specified_by_url": True,
    },
    "gql fetch_schema_from_transport": {"input_value_deprecation": True},
    "without descriptions": {"descriptions": False},
    "everything graphql-core can ask": {
        "specified_by_url": True,
        "directive_is_repeatable": True,
        "schema_description": True,
        "input_value_deprecation": True,
        "experimental_directive_deprecation": True,
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
        "/graphql",
        json={"query": get_introspection_query(**options), "operationName": "IntrospectionQuery"},
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
        data = await gql(
            CREATE, input={"stageId": pipeline["stages"][1]["id"], "action": "ARCHIVE_JOB", **extra}
        )
        assert data["createAutomation"] == {
            "automation": {"action": "ARCHIVE_JOB", "settings": {}},
            "errors": [],
        }, extra


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path, DATABASE_URL=database_url).start()
    yield process
    process.stop()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the schema: one backend
def test_a_server_process_answers_the_full_introspection_query(server: ServerProcess) -> None:
    owner = json.loads(server.cli("create-firm", "Intro CPA", "--owner-email", "o@intro.test"))
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": get_introspection_query(**FULL)},
        headers={"Authorization": f"Bearer {owner['token']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    check_answer(response.json(), FULL)


# --- introspection is limited and costed like any other selection --------------------------

ALIASED_SCHEMAS = (
    "{ " + " ".join(f"s{n}: __schema {{ types {{ fields {{ name }} }} }}" for n in range(20)) + " }"
)


async def post(http: httpx.AsyncClient, firm: NewFirm, query: str) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {firm.token}"}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


async def test_twenty_aliased_schemas_are_refused_before_running(
    http: httpx.AsyncClient, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    """What stalled the loop for seconds: 20 `__schema` selections in one operation."""
    await post(http, firm_a, "{ viewer { id } }")  # the token's last use is written
    sql_statements.statements.clear()
    body = await post(http, firm_a, ALIASED_SCHEMAS)
    assert body["data"] is None and codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert body["errors"][0]["message"] == (
        f"20 introspection root fields (__schema, __type); at most "
        f"{MAX_INTROSPECTION_ROOT_FIELDS} per operation"
    )
    assert [s for s in sql_statements.statements if '"api_token"' not in s] == []
    two = "{ " + " ".join(f"s{n}: __schema {{ types {{ name }} }}" for n in range(2)) + " }"
    assert "errors" not in await post(http, firm_a, two)


def test_introspection_costs_what_its_answer_holds() -> None:
    """A full introspection is charged about the objects it returns (it cost 0)."""
    served = schema._schema  # noqa: SLF001
    full = analyze(
        served, parse(get_introspection_query(**FULL)), None, None, frozenset(Permission)
    )
    answer = graphql_sync(served, get_introspection_query(**FULL))

    def objects(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(objects(v) for v in value.values())
        return sum(objects(v) for v in value) if isinstance(value, list) else 0

    assert full.refused == [] and objects(answer.data) <= full.cost <= 5 * objects(answer.data)
    assert full.cost <= MAX_COST // MAX_INTROSPECTION_ROOT_FIELDS  # two full ones are allowed
    types_only = analyze(
        served, parse("{ __schema { types { name } } }"), None, None, frozenset(Permission)
    )
    assert types_only.cost == 1 + len(served.type_map)


async def test_introspection_counts_toward_the_depth_limit(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """`ofType` nested past MAX_DEPTH was never counted (fields starting with __ skipped)."""
    inner = "name"
    for _ in range(MAX_DEPTH + 2):
        inner = f"ofType {{ {inner} }}"
    body = await post(http, firm_a, f'query Deep {{ __type(name: "Job") {{ {inner} }} }}')
    assert body["data"] is None, body
    assert [e["message"] for e in body["errors"]] == [
        f"'Deep' exceeds maximum operation depth of {MAX_DEPTH}"
    ]
    assert codes(body) == ["QUERY_TOO_COMPLEX"]


async def test_introspection_is_not_mixed_with_other_root_fields(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    body = await post(http, firm_a, "{ __schema { types { name } } viewer { id } }")
    assert body["data"] is None and codes(body) == ["INVALID_INPUT"], body
    typename = await post(http, firm_a, "{ __typename viewer { id } }")  # cheap: allowed
    assert typename["data"]["__typename"] == "Query"


async def test_fragments_spread_again_and_again_are_refused_at_once(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """Each fragment spreads the next twice: 2^20 selections once expanded. Validation and
    the guard walked every expansion (seconds, doubling per link); now the fragments are
    measured once and the guard stops at MAX_SELECTIONS."""
    links = 20
    fragments = " ".join(
        f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(links)
    )
    body = await post(
        http,
        firm_a,
        f"query Bomb {{ ...F0 }} {fragments} fragment F{links} on Query {{ __typename }}",
    )
    assert body["data"] is None and codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert f"more than {MAX_SELECTIONS} fields" in body["errors"][0]["message"]


async def test_introspection_runs_in_steps_and_each_document_once(
    http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    """A full introspection leaves the event loop between types (other requests run in
    between), and the same document is answered from memory the next time."""
    served = schema._schema  # noqa: SLF001
    document = parse(get_introspection_query(**FULL))
    turns = 0
    running = True

    async def count_turns() -> None:
        nonlocal turns
        while running:
            await asyncio.sleep(0)
            turns += 1

    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    result = await execute_in_steps(served, document, None, None)
    running = False
    await counter
    assert result.errors is None and result.data == execute_sync(served, document).data
    assert turns >= len(served.type_map)  # at least a turn of the loop per type

    query = get_introspection_query(**FULL)
    introspection.ANSWERS.clear()
    first = await post(http, firm_a, query)
    assert len(introspection.ANSWERS) == 1
    (key,) = introspection.ANSWERS.entries
    assert key[0] == hashlib.sha256(query.encode()).digest()
    assert await post(http, firm_a, query) == first
