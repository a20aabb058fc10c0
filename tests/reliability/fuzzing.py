"""Hypothesis strategies for the API's inputs, derived from the schema itself: for every
mutation, input objects of its input type whose strings, numbers, ids, dates, enums and JSON
are arbitrary (unicode, control characters, lone surrogates, 100,000-character strings, ints
at and past the 32-bit bounds, ids of the caller's firm, of another firm, of nothing, and no
ids at all). And the checks every answer must pass."""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from hypothesis import strategies as st
from tortoise import connections

from api import schema
from schema.node import encode_id
from tests.reliability.infra import no_traceback

GRAPHQL = schema._schema
MUTATIONS = sorted(GRAPHQL.mutation_type.fields) if GRAPHQL.mutation_type else []

SPECIAL_STRINGS = [
    "",
    " ",
    "\t\n",
    "\x00",
    "a\x00b",
    "\x07\x1b[31m",
    "\x7f",
    "\u200b",
    "\u202e",
    "\ud800",
    "a\udfffb",
    "\ufeff",
    "\U0001f4a9" * 3,
    "é" * 201,
    "x" * 100_000,
    "\U0001f600" * 50_000,
    "\x00" * 1000,
    "' OR 1=1 --",
    "%s%n%x",
    "{client.name}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "null",
    "NaN",
    "-0",
    "1e309",
    "http://127.0.0.1:9/x",
    "https://example.test/" + "a" * 2100,
    "owner@a.test",
    "a@b",
    "2026-02-30",
    "9999-12-31",
    "0000-01-01",
    "2026-01-01T25:00:00",
]
INT_EDGES = [0, 1, -1, 2, 50, 100, 101, 3650, 3651, 2**31 - 1, -(2**31), 2**31, 2**53, -(2**63)]
JSON_KEYS = [
    "title",
    "description",
    "assigneeId",
    "assignToJobAssignees",
    "dueInDays",
    "stageId",
    "pipelineId",
    "endpointId",
    "questions",
    "subject",
    "body",
    "currency",
    "lineItems",
    "quantity",
    "unitPriceCents",
    "target",
    "add",
    "remove",
    "clientTagsAll",
    "clientTagsNone",
    "jobTagsAll",
    "priorities",
    "taskIds",
]


def sane() -> st.SearchStrategy[str]:
    """What a person would type: letters, digits, a few signs, any script."""
    return st.text(
        st.characters(categories=["L", "N"], include_characters=" -'&.,"), min_size=1, max_size=30
    ).filter(str.strip)


def strings() -> st.SearchStrategy[str]:
    return st.one_of(
        sane(),
        sane(),
        sane(),
        st.text(max_size=40),
        st.text(st.characters(categories=["Cc", "Cf", "Zs", "Co"]), max_size=20),
        st.sampled_from(SPECIAL_STRINGS),
    )


def plausible(name: str) -> st.SearchStrategy[str] | None:
    """Strings shaped for the field they go in, often enough to get past validation."""
    if name in ("email",):
        return st.one_of(sane().map(lambda s: f"{zlib.crc32(s.encode())}@example.test"), strings())
    if name in ("url",):
        return st.one_of(
            sane().map(lambda s: f"https://hooks.example.test/{zlib.crc32(s.encode())}"),
            st.sampled_from(
                ["http://127.0.0.1:9/x", "ftp://x.test/", "https://", "javascript:alert(1)"]
            ),
            strings(),
        )
    return None


def ints() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-5, 200), st.sampled_from(INT_EDGES), st.integers())


@dataclass
class Ids:
    """Global ids to draw from, by type: the caller's firm's, another firm's."""

    own: dict[str, list[str]] = field(default_factory=dict)
    foreign: dict[str, list[str]] = field(default_factory=dict)

    def strategy(self, type_name: str | None) -> st.SearchStrategy[str]:
        everything = sorted({i for ids in self.own.values() for i in ids}) or ["x"]
        foreign = sorted({i for ids in self.foreign.values() for i in ids}) or ["x"]
        kinds = [type_name or "Job", "Job", "Nope"]
        malformed = st.one_of(
            strings(),
            st.builds(
                lambda t, k: base64.b64encode(f"{t}:{k}".encode()).decode(),
                st.sampled_from(kinds),
                st.one_of(st.text(max_size=12), ints()),
            ),
            st.builds(
                lambda t, k: str(encode_id(t, k)),
                st.sampled_from(kinds),
                st.sampled_from([0, 999_999, 2**31 - 1]),
            ),
        )
        mine = self.own.get(type_name or "", []) or everything
        theirs = self.foreign.get(type_name or "", []) or foreign
        return st.one_of(
            st.sampled_from(mine),
            st.sampled_from(mine),
            st.sampled_from(mine),
            st.sampled_from(everything),
            st.sampled_from(theirs),
            malformed,
        )


def settings_for(ids: Ids) -> st.SearchStrategy[Any]:
    """Automation settings and conditions shaped like the documented ones, with fuzzed leaves."""
    tag = st.one_of(sane(), strings())
    line = st.fixed_dictionaries(
        {"description": sane(), "unitPriceCents": ints()}, optional={"quantity": ints()}
    )
    return st.one_of(
        st.fixed_dictionaries(
            {"title": sane()},
            optional={
                "description": strings(),
                "assigneeId": ids.strategy("User"),
                "assignToJobAssignees": st.booleans(),
                "dueInDays": ints(),
            },
        ),
        st.fixed_dictionaries({"title": sane(), "questions": st.lists(strings(), max_size=4)}),
        st.fixed_dictionaries({"subject": sane(), "body": strings()}),
        st.fixed_dictionaries(
            {
                "currency": st.sampled_from(["USD", "EUR", "usd", ""]),
                "lineItems": st.lists(line, max_size=3),
            }
        ),
        st.fixed_dictionaries({"stageId": ids.strategy("Stage")}),
        st.fixed_dictionaries(
            {"pipelineId": ids.strategy("Pipeline")}, optional={"stageId": ids.strategy("Stage")}
        ),
        st.just({}),
        st.fixed_dictionaries(
            {"target": st.sampled_from(["JOB", "CLIENT", "X"])},
            optional={"add": st.lists(tag, max_size=3), "remove": st.lists(tag, max_size=3)},
        ),
        st.fixed_dictionaries({"endpointId": ids.strategy("WebhookEndpoint")}),
        st.fixed_dictionaries(
            {},
            optional={
                "clientTagsAll": st.lists(tag, max_size=3),
                "clientTagsNone": st.lists(tag),
                "jobTagsAll": st.lists(tag, max_size=3),
                "priorities": st.lists(st.sampled_from(["LOW", "NORMAL", "HIGH", "URGENT", "x"])),
            },
        ),
        json_values(ids),
    )


def json_values(ids: Ids) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        ints(),
        st.floats(allow_nan=False, allow_infinity=False),
        strings(),
        ids.strategy(None),
        st.sampled_from(["LOW", "HIGH", "URGENT", "JOB", "CLIENT", "USD", "EUR"]),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(
                st.one_of(st.sampled_from(JSON_KEYS), st.text(max_size=8)), children, max_size=5
            ),
        ),
        max_leaves=12,
    )


ID_FIELDS = {
    "jobId": "Job",
    "beforeJobId": "Job",
    "afterJobId": "Job",
    "stageId": "Stage",
    "moveJobsToStageId": "Stage",
    "stageIds": "Stage",
    "pipelineId": "Pipeline",
    "clientId": "Client",
    "assigneeId": "User",
    "assigneeIds": "User",
    "skipAutomationIds": "Automation",
    "deliveryId": "WebhookDelivery",
    "templateId": "JobTemplate",
    "clientIds": "Client",
}
VERBS = (
    "create",
    "update",
    "delete",
    "archive",
    "complete",
    "reopen",
    "retry",
    "submit",
    "pay",
    "deactivate",
    "revoke",
    "redeliver",
    "reorder",
    "invite",
    "move",
    "transfer",
)


def id_type(mutation: str, field_name: str) -> str | None:
    if field_name in ID_FIELDS:
        return ID_FIELDS[field_name]
    if field_name == "id":
        for verb in VERBS:
            if mutation.startswith(verb):
                noun = mutation[len(verb) :]
                return {"Webhook": "WebhookDelivery"}.get(noun, noun)
    return None


def value(kind: GraphQLInputType, mutation: str, name: str, ids: Ids) -> st.SearchStrategy[Any]:
    """Values of a GraphQL input type: well-typed mostly, so they reach the resolvers."""
    if isinstance(kind, GraphQLNonNull):
        return value(kind.of_type, mutation, name, ids)
    if isinstance(kind, GraphQLList):
        item = value(kind.of_type, mutation, name, ids)
        return st.one_of(st.lists(item, max_size=6), item.map(lambda x: [x] * 100))
    if isinstance(kind, GraphQLInputObjectType):
        return input_object(kind, mutation, ids)
    if isinstance(kind, GraphQLEnumType):
        values = st.sampled_from(sorted(kind.values))
        return st.one_of(values, values, values, strings())
    assert isinstance(kind, GraphQLScalarType), kind
    shaped = plausible(name)
    scalars: Mapping[str, st.SearchStrategy[Any]] = {
        "String": shaped if shaped is not None else strings(),
        "Int": ints(),
        "Float": st.floats(),
        "Boolean": st.booleans(),
        "ID": ids.strategy(id_type(mutation, name)),
        "JSON": settings_for(ids),
        "Date": st.one_of(
            st.dates().map(lambda d: d.isoformat()),
            st.dates().map(lambda d: d.isoformat()),
            strings(),
        ),
        "DateTime": st.one_of(st.datetimes().map(lambda d: d.isoformat()), strings()),
    }
    return scalars.get(kind.name, strings())


def input_object(kind: GraphQLInputObjectType, mutation: str, ids: Ids) -> st.SearchStrategy[Any]:
    required, optional = {}, {}
    for name, spec in kind.fields.items():
        strategy = value(spec.type, mutation, name, ids)
        if isinstance(spec.type, GraphQLNonNull):
            required[name] = strategy
        else:
            optional[name] = st.one_of(st.none(), strategy)
    return st.fixed_dictionaries(required, optional=optional)


def mutation_input(mutation: str, ids: Ids) -> st.SearchStrategy[Any]:
    assert GRAPHQL.mutation_type is not None
    kind = GRAPHQL.mutation_type.fields[mutation].args["input"].type
    return value(kind, mutation, "input", ids)


def document(mutation: str) -> str:
    """The mutation with its errors and the id of every object field of its payload."""
    assert GRAPHQL.mutation_type is not None
    spec = GRAPHQL.mutation_type.fields[mutation]
    input_type = spec.args["input"].type
    payload = spec.type.of_type if isinstance(spec.type, GraphQLNonNull) else spec.type
    selection = " ".join(
        f"{name} {{ id }}"
        if hasattr(_named(f.type), "fields") and "id" in _named(f.type).fields
        else name
        for name, f in payload.fields.items()
        if name != "errors"
    )
    return (
        f"mutation($input: {input_type}) {{ {mutation}(input: $input) {{ "
        f"errors {{ code field message }} {selection} }} }}"
    )


def _named(kind: Any) -> Any:
    while hasattr(kind, "of_type"):
        kind = kind.of_type
    return kind


def body_of(query: str, variables: dict[str, Any]) -> bytes:
    """JSON with every non-ASCII character escaped, so lone surrogates survive the trip."""
    return json.dumps({"query": query, "variables": variables}, ensure_ascii=True).encode()


def answer_problems(status: int, text: str) -> list[str]:
    """What is wrong with an answer to anything, however malformed: a 5xx, a traceback, a
    GraphQL answer that is not JSON, an INTERNAL_SERVER_ERROR (an unexpected exception,
    masked), or an error raised while executing that carries no code (an exception shown
    unmasked). (A 4xx refusal in plain text is tolerated here; see test_fuzz_requests.)"""
    problems = []
    if status >= 500:
        problems.append(f"HTTP {status}")
    if not no_traceback(text):
        problems.append("traceback in the response")
    try:
        body = json.loads(text)
    except ValueError:
        if 400 <= status < 500:
            return problems
        return [*problems, f"not JSON: {text[:200]!r}"]
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_SERVER_ERROR":
            problems.append(f"INTERNAL_SERVER_ERROR at {error.get('path')}")
        elif "path" in error and not code:
            problems.append(f"unmasked error at {error['path']}: {error['message'][:200]}")
    return problems


def refused(body: dict[str, Any], mutation: str) -> bool:
    """Whether the answer says the mutation did not happen."""
    payload = (body.get("data") or {}).get(mutation)
    return bool(body.get("errors")) or payload is None or bool(payload.get("errors"))


NOT_SNAPSHOT = {"tortoise_migrations", "idempotent_request", "sqlite_sequence"}


async def snapshot() -> dict[str, Any]:
    """Every row of every table (a token's last use aside: authentication writes it); on
    PostgreSQL as one digest per table, read in one query."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        names = [
            r["tablename"]
            for r in await connection.execute_query_dict(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        row = "(to_jsonb(x) - 'last_used_at')::text"
        digests = " UNION ALL ".join(
            f"SELECT '{name}' AS name, count(*) AS n, "
            f"md5(coalesce(string_agg({row}, '|' ORDER BY {row}), '')) AS digest "
            f'FROM "{name}" x'
            for name in sorted(set(names) - NOT_SNAPSHOT)
        )
        return {
            r["name"]: (r["n"], r["digest"]) for r in await connection.execute_query_dict(digests)
        }
    names = [
        r["name"]
        for r in await connection.execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    ]
    tables = {}
    for name in sorted(set(names) - NOT_SNAPSHOT):
        rows = await connection.execute_query_dict(f'SELECT * FROM "{name}"')
        tables[name] = sorted(
            repr(sorted((k, v) for k, v in row.items() if k != "last_used_at")) for row in rows
        )
    return tables
