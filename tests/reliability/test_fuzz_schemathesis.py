"""Schemathesis GraphQL fuzzing of a running server with a valid token: queries and mutations
generated from the schema the server introspects (valid ones, and invalid ones), sent over
HTTP. No answer may be a 5xx, carry a traceback, or an unexpected (INTERNAL_SERVER_ERROR) or
unmasked error. Every distinct problem is collected with the request that caused it.

400 examples by default (on a server seeded with a board), 3,000 with RELIABILITY_LONG=1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import make_board
from tests.reliability.fuzzing import JSON_KEYS, answer_problems
from tests.reliability.infra import IN_CI, LONG, bearer
from tests.servers import ServerProcess

EXAMPLES = 3000 if LONG else 400


@pytest.fixture
def seeded(postgres_url: str, logs: Path) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(
        logs,
        DATABASE_URL=postgres_url,
        RATE_LIMIT_COST_PER_MINUTE="0",
        FIRM_RATE_LIMIT_COST_PER_MINUTE="0",
    ).start()
    try:
        board = make_board(server, jobs=5)
        yield server, board.token
    finally:
        server.stop()


def _schemathesis() -> Any:
    try:
        import schemathesis
    except ImportError:
        if IN_CI:
            pytest.fail("schemathesis is required under CI=true (pip install schemathesis)")
        pytest.skip("schemathesis is not installed (pip install schemathesis)")
    _register_json(schemathesis)
    return schemathesis


def _register_json(schemathesis: Any) -> None:
    """Our JSON scalar (automation settings and conditions): any JSON literal, with the keys
    the actions know."""
    import graphql
    from hypothesis import strategies as st

    nodes = schemathesis.graphql.nodes

    def field(pair: tuple[str, Any]) -> graphql.ObjectFieldNode:
        return graphql.ObjectFieldNode(name=graphql.NameNode(value=pair[0]), value=pair[1])

    leaves = st.one_of(
        st.text(max_size=20).map(nodes.String),
        st.integers().map(nodes.Int),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    )

    def nested(inner: Any) -> Any:  # a def: hypothesis cannot read a multi-line lambda's body
        return st.one_of(
            st.lists(inner, max_size=3).map(nodes.List),
            st.lists(
                st.tuples(st.sampled_from(JSON_KEYS), inner).map(field),
                max_size=4,
                unique_by=lambda f: f.name.value,
            ).map(nodes.Object),
        )

    values = st.recursive(leaves, nested, max_leaves=8)
    schemathesis.graphql.scalar("JSON", values)


def test_schemathesis_graphql_fuzzing_finds_no_500_and_no_unmasked_error(
    seeded: tuple[ServerProcess, str],
) -> None:
    schemathesis = _schemathesis()
    import requests
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.core.result import Ok
    from schemathesis.generation import GenerationMode

    server, token = seeded
    url = f"{server.url}/graphql"
    schema = schemathesis.graphql.from_url(url, headers=bearer(token), timeout=30)
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    strategy = st.one_of(
        [
            operation.as_strategy(generation_mode=mode)
            for operation in operations
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
    )
    session = requests.Session()
    found: dict[tuple[str, str], str] = {}  # (operation, problem) -> the request body
    statuses: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not LONG,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        response = case.call(
            base_url=server.url, session=session, headers=bearer(token), timeout=30
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        for problem in answer_problems(response.status_code, response.text):
            found.setdefault(
                (case.operation.label, problem), f"{str(case.body)[:500]} -> {response.text[:300]}"
            )

    fuzz()
    print(
        f"\nschemathesis: {sum(statuses.values())} requests over {len(operations)} "
        f"operations (valid and invalid), statuses {dict(sorted(statuses.items()))}, "
        f"{len(found)} distinct problems"
    )
    for (operation, problem), reproducer in sorted(found.items()):
        print(f"  {operation}: {problem}\n    {reproducer}")
    assert found == {}
    assert server.alive()
