"""One firm floods a real `python server.py` with the most expensive documents it is allowed
(full introspections, as many as one operation may hold; or board reads near MAX_COST that
the result cache cannot answer), from several concurrent clients; another firm's simple query,
sent at a steady rate, keeps answering. Its p50/p99 latency is printed (-s) beside the same
figures without the flood.

The rate limits are off here: the loop must stay responsive because of what one request and
one firm may hold, not because a budget ran out.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import (
    FieldNode,
    NameNode,
    OperationDefinitionNode,
    get_introspection_query,
    parse,
    print_ast,
)

from api import schema
from models.firm import Permission
from schema.guard import MAX_COST, MAX_INTROSPECTION_ROOT_FIELDS, analyze
from tests.databases import ADMIN_URL, create_migrated_database, drop_database
from tests.live import make_board
from tests.reliability.infra import LONG, bearer, unavailable
from tests.servers import ROOT, ServerProcess, migrate_in_a_process

FLOODERS = 8  # concurrent clients of the flooding firm
# 8 s: a loaded machine answers ~2 of these documents per flooding client (asserted: more
# than one request per client)
SECONDS = 30 if LONG else 8
VICTIM = "{ viewer { id name } }"
# s between two requests of the other firm: 175 samples under the flood, as many as 10 s at
# 0.05 s gave (its p99 is not simply the slowest one)
INTERVAL = 0.05 if LONG else 0.04
JOBS = 100  # in the flooding firm's first stage: every page of `first: 100` is full

# Everything a board shows, one page of 100 jobs per stage; viewer makes it uncacheable.
HEAVY_BOARD = """query Heavy($n: Int!) { viewer { id } pipelines(first: 1) { edges { node {
  name stages { name jobs(first: $n) { totalCount edges { node {
    id title version rank dueDate priority tags createdAt
    client { name email tags } assignees { name email }
    history(first: 10) { edges { node { type occurredAt } } }
    tasks(first: 10) { edges { node { title done } } }
    automationRuns(first: 10) { edges { node { status } } }
    invoices(first: 7) { edges { node { id } } }
  } } } } } } } }"""


def introspections(count: int, vary: bool = False) -> str:
    """The standard full introspection query with its __schema selection `count` times
    (aliased `s<VARY>_<i>` if `vary`: the flood makes each of its documents new)."""
    document = parse(
        get_introspection_query(
            descriptions=True,
            specified_by_url=True,
            directive_is_repeatable=True,
            schema_description=True,
            input_value_deprecation=True,
        )
    )
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    field = operation.selection_set.selections[0]
    assert isinstance(field, FieldNode)
    prefix = "sVARY_" if vary else "s"
    copies = [
        print_ast(
            FieldNode(
                alias=NameNode(value=f"{prefix}{i}"),
                name=field.name,
                arguments=(),
                directives=(),
                selection_set=field.selection_set,
            )
        )
        for i in range(count)
    ]
    fragments = "\n".join(print_ast(d) for d in document.definitions[1:])
    return f"query Flood {{ {' '.join(copies)} }}\n{fragments}"


def cost(query: str, **variables: Any) -> int:
    analysis = analyze(
        schema._schema,
        parse(query),
        None,
        variables,  # noqa: SLF001
        frozenset(Permission),
    )
    assert analysis.refused == [], analysis.refused
    return analysis.cost


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Target:
    server: ServerProcess
    backend: str
    flooder: str
    victim: str


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One server per backend. On SQLite the database runs in a thread of the server, which
    waits for the interpreter while the loop is busy: its figures are the higher ones."""
    folder = tmp_path_factory.mktemp("expensive")
    if request.param == "sqlite":
        url, drop = f"sqlite://{folder / 'db.sqlite3'}", False
    else:
        try:
            url, drop = asyncio.run(create_migrated_database("rel", migrate_in_a_process)), True
        except (OSError, asyncpg.PostgresError) as error:
            unavailable(f"PostgreSQL unreachable at {ADMIN_URL}: {error}")
    server = ServerProcess(
        folder,
        DATABASE_URL=url,
        RATE_LIMIT_COST_PER_MINUTE="0",
        FIRM_RATE_LIMIT_COST_PER_MINUTE="0",
    )
    try:
        server.start()
        flooder = make_board(server, jobs=JOBS, firm="Flood CPA").token
        victim = json.loads(
            server.cli("create-firm", "Quiet CPA", "--owner-email", "o@quiet.test")
        )["token"]
        yield Target(server, request.param, flooder, victim)
    finally:
        server.stop()
        if drop:
            asyncio.run(drop_database(url))


async def victim_latencies(target: Target, seconds: float) -> list[float]:
    """The other firm's simple query, sent every INTERVAL s whatever happened to the earlier
    ones (a client waiting for its answer would send fewer requests during a stall, and
    hide it), for `seconds`."""

    async def one(http: httpx.AsyncClient) -> float:
        sent = time.monotonic()
        response = await http.post(
            f"{target.server.url}/graphql", headers=bearer(target.victim), json={"query": VICTIM}
        )
        assert response.status_code == 200 and "errors" not in response.json()
        return time.monotonic() - sent

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:
        requests = []
        for _ in range(int(seconds / INTERVAL)):
            requests.append(asyncio.create_task(one(http)))
            await asyncio.sleep(INTERVAL)
        return list(await asyncio.gather(*requests))


async def flood(target: Target, documents: list[dict[str, Any]]) -> dict[str, Any]:
    spec = {
        "url": target.server.url,
        "token": target.flooder,
        "seconds": SECONDS,
        "concurrency": FLOODERS,
        "documents": documents,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reliability.flood",
        cwd=Path(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate(json.dumps(spec).encode())
    assert process.returncode == 0
    return dict(json.loads(out))


def figures(label: str, took: list[float]) -> str:
    return (
        f"{label}: {len(took)} requests, p50 {percentile(took, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(took, 0.99) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms"
    )


# Introspection never reaches the database: one backend (SQLite, where a busy loop also
# delays the database thread) is enough for it; board reads run on both.
@pytest.mark.parametrize("target", ["sqlite"], indirect=True)
async def test_another_firm_stays_responsive_while_one_floods_introspections(
    target: Target,
) -> None:
    document = {"query": introspections(MAX_INTROSPECTION_ROOT_FIELDS, vary=True)}
    await _flooded(
        target, "introspection", document, cost(introspections(MAX_INTROSPECTION_ROOT_FIELDS))
    )


async def test_another_firm_stays_responsive_while_one_floods_board_reads(
    target: Target,
) -> None:
    document = {"query": HEAVY_BOARD, "variables": {"n": 100}}
    expense = cost(HEAVY_BOARD, n=100)
    assert MAX_COST * 0.9 < expense <= MAX_COST  # as expensive as a request may be
    await _flooded(target, "board", document, expense)


async def _flooded(target: Target, kind: str, document: dict[str, Any], expense: int) -> None:
    quiet = await victim_latencies(target, 3)
    tally, loaded = await asyncio.gather(
        flood(target, [document]), victim_latencies(target, SECONDS - 1)
    )

    print(
        f"\n{target.backend}, {kind} flood ({FLOODERS} clients of one firm for {SECONDS} s, "
        f"cost {expense} each): {tally}"
    )
    print(figures("  another firm, no flood  ", quiet))
    print(figures("  another firm, with flood", loaded))
    sent = sum(n for key, n in tally.items() if key.startswith("status:"))
    assert tally.get("status:200", 0) == sent > FLOODERS  # all allowed, and they did run
    assert not any(key.startswith("code:") for key in tally), tally
    # Stalls of seconds are what this catches (before: p99 3.4 s beside introspections); the
    # figures above are the measurement, and a 2-core CI machine running the suite adds ~1 s.
    assert percentile(loaded, 0.99) < 2.0
