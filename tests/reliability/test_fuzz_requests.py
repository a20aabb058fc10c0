"""Bad requests, property-based: whatever arrives at /graphql (bytes that are not JSON, JSON of
any shape, documents of GraphQL-ish tokens nested thousands deep or aliased thousands wide,
odd content types, headers and query strings) is answered without a 5xx, without a traceback
and without an unexpected (INTERNAL_SERVER_ERROR) or unmasked error. The fixed abuses
(oversized bodies, batches, depth, aliases, tokens, malformed JSON) are in test_limits.py and
test_bad_input.py; this fuzzes around them. In-process (the `app_http` fixture)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.reliability.fuzzing import SPECIAL_STRINGS, answer_problems, body_of, strings
from tests.reliability.infra import LONG
from workflow.firms import NewFirm

EXAMPLES = 400 if LONG else 40
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
NAMES = [
    "viewer",
    "pipelines",
    "pipeline",
    "jobs",
    "job",
    "node",
    "nodes",
    "stages",
    "edges",
    "node",
    "id",
    "name",
    "title",
    "tasks",
    "history",
    "client",
    "__typename",
    "__schema",
    "types",
    "fields",
    "automationRuns",
    "webhookEndpoints",
    "deliveries",
    "moveJob",
]
TOKENS = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ":",
    "$x",
    "...",
    "...on Job",
    "@include(if: true)",
    "@skip(if: $x)",
    "fragment f on Job { id }",
    "...f",
    "query",
    "mutation",
    "subscription",
    "first: 100",
    "first: -1",
    'id: "x"',
    '"""',
    "#",
    "\\u0000",
    ",",
    "1e999",
    "null",
    "true",
    "a: viewer",
    "input: {}",
    "= 1",
]


def document() -> st.SearchStrategy[str]:
    """GraphQL-ish text: real field names and punctuation, sometimes valid, often not;
    sometimes nested or aliased far past any limit."""
    soup = st.lists(st.one_of(st.sampled_from(TOKENS), st.sampled_from(NAMES)), max_size=40)
    deep = st.builds(
        lambda n, name: "{ " + f"{name} {{ " * n + "id" + " }" * (n + 1),
        st.integers(1, 5000),
        st.sampled_from(NAMES),
    )
    wide = st.builds(
        lambda n, name: "{ " + " ".join(f"a{i}: {name}" for i in range(n)) + " }",
        st.integers(1, 3000),
        st.sampled_from(NAMES),
    )
    return st.one_of(soup.map(" ".join), deep, wide, strings())


def payloads() -> st.SearchStrategy[Any]:
    """The JSON body: the right shape with odd members, or any shape at all."""
    anything = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), strings()),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(strings(), inner, max_size=3)
        ),
        max_leaves=8,
    )
    request = st.fixed_dictionaries(
        {"query": st.one_of(document(), anything)},
        optional={
            "variables": anything,
            "operationName": st.one_of(strings(), anything),
            "extensions": anything,
        },
    )
    return st.one_of(request, request, anything)


@given(payload=payloads())
@FUZZ
async def test_any_json_body_is_answered_cleanly(
    app_http: httpx.AsyncClient, firm_a: NewFirm, payload: Any
) -> None:
    body = json.dumps(payload, ensure_ascii=True).encode()
    note(f"body: {body[:2000]!r}")
    response = await app_http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {firm_a.token}", "Content-Type": "application/json"},
    )
    note(f"answer: {response.status_code} {response.text[:500]}")
    assert answer_problems(response.status_code, response.text) == []


@given(
    raw=st.one_of(
        st.binary(max_size=2000).map(lambda b: b.decode("utf-8", "replace").encode()),
        st.text(max_size=500).map(str.encode),
        st.sampled_from(SPECIAL_STRINGS).map(lambda s: s.encode("utf-8", "surrogatepass")),
    ),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/graphql",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin-1",
            "",
            "*/*",
            "application/json\x00",
        ]
    ),
)
@FUZZ
async def test_any_bytes_are_answered_cleanly(
    app_http: httpx.AsyncClient, firm_a: NewFirm, raw: bytes, content_type: str
) -> None:
    headers = {"Authorization": f"Bearer {firm_a.token}"}
    if content_type:
        headers["Content-Type"] = content_type
    note(f"body: {raw[:2000]!r}")
    response = await app_http.post("/graphql", content=raw, headers=headers)
    note(f"answer: {response.status_code} {response.text[:500]}")
    assert answer_problems(response.status_code, response.text) == []


@given(
    query=st.one_of(document(), strings()),
    variables=st.one_of(strings(), st.just("{}")),
    authorization=st.one_of(st.just(None), strings().map(lambda s: "Bearer " + s[:300])),
    idempotency_key=st.one_of(st.none(), st.text(max_size=300)),
)
@FUZZ
async def test_any_get_or_header_is_answered_cleanly(
    app_http: httpx.AsyncClient,
    firm_a: NewFirm,
    query: str,
    variables: str,
    authorization: str | None,
    idempotency_key: str | None,
) -> None:
    headers = {"Authorization": authorization or f"Bearer {firm_a.token}"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    encoded = {k: v.encode("utf-8", "surrogatepass") for k, v in headers.items()}
    note(f"query: {query[:2000]!r}, variables: {variables[:200]!r}, headers: {encoded!r}")
    params = urlencode(
        {
            "query": query[:2000].encode("utf-8", "surrogatepass"),
            "variables": variables[:2000].encode("utf-8", "surrogatepass"),
        }
    )
    get = await app_http.get(f"/graphql?{params}", headers=encoded)
    post = await app_http.post(
        "/graphql",
        content=body_of(query, {}),
        headers={**encoded, "Content-Type": b"application/json"},
    )
    for response in (get, post):
        note(f"answer: {response.request.method} {response.status_code} {response.text[:500]}")
        assert answer_problems(response.status_code, response.text) == []


MALFORMED = [
    b"not json",
    b"null",
    b"[1]",
    b'{"query": 5}',
    b"{}",
    b'{"query": ""}',
    b'{"query": "{ viewer { id } }", "variables": [1]}',
    b'{"query": "{ viewer { id } }", "operationName": 5}',
]


async def test_malformed_requests_are_refused_with_a_json_graphql_error(
    app_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    answers = {}
    for raw in MALFORMED:
        response = await app_http.post(
            "/graphql",
            content=raw,
            headers={"Authorization": f"Bearer {firm_a.token}", "Content-Type": "application/json"},
        )
        answers[raw] = (
            response.status_code,
            response.headers.get("content-type"),
            response.text[:80],
        )
    shown = {raw: answer[1] for raw, answer in answers.items()}
    assert {status for status, _, _ in answers.values()} == {400}
    assert set(shown.values()) == {"application/json"}, answers


async def test_a_body_that_is_not_utf8_is_refused_400(
    app_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    for raw in (b"\x80", b'{"query": "{ viewer { id } }", "x": "\xff"}'):
        response = await app_http.post(
            "/graphql",
            content=raw,
            headers={"Authorization": f"Bearer {firm_a.token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 400, (raw, response.status_code, response.text[:100])


EMPTY_SELECTIONS = [
    "{}",
    "{ viewer {} }",
    "{ viewer { id } pipelines {} }",
    "query { viewer { ... on User {} } }",
    "{A{}}",
]


async def test_an_empty_selection_set_is_a_graphql_error(
    app_http: httpx.AsyncClient, firm_a: NewFirm
) -> None:
    problems = {}
    for query in EMPTY_SELECTIONS:
        response = await app_http.post(
            "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {firm_a.token}"}
        )
        if found := answer_problems(response.status_code, response.text):
            problems[query] = found
    assert problems == {}
