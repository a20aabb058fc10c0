"""Planned reads (schema.planned) answer exactly what the resolvers answer: hypothesis writes
documents over the board graph (random selections, aliases, fragments, @include/@skip, nested
first/after, includeArchived, other firms' ids) and each is asked both ways, on SQLite and
PostgreSQL. Every leaf the plan knows is a field of its strawberry type and a column of its
model, and a board's statements do not grow with the board."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strawberry.types.base import get_object_definition

from models import Job, JobStatus, Priority, User, keys
from schema import planned
from schema.board_specs import GRAPH, Leaf
from schema.connection import encode_cursor
from schema.feed_cursors import FEED_CURSOR
from schema.nodes import NODE_TYPES
from schema.result_cache import STORE
from tests.conftest import StatementCounter
from tests.factories import board, client, gid, scope_of
from workflow import jobs, pipelines, tasks
from workflow.firms import NewFirm

# The fields a document may ask, per type: leaves, then relations (kind, target type).
LEAVES = {
    "Pipeline": ["id", "name", "createdAt", "updatedAt", "eventCursor", "__typename"],
    "Stage": ["id", "name", "position", "wipLimit", "timeLimitDays", "autoMove", "portalName"],
    "Job": [
        "id",
        "title",
        "rank",
        "version",
        "status",
        "priority",
        "startDate",
        "dueDate",
        "tags",
        "customFields",
        "period",
        "stageEnteredAt",
        "stageDueAt",
        "createdAt",
        "updatedAt",
        "__typename",
    ],  # fmt: skip
    "Task": ["id", "title", "description", "dueDate", "done", "doneAt", "createdAt", "updatedAt"],
    "Client": ["id", "name", "email", "tags", "customFields", "createdAt", "updatedAt"],
    "User": ["id", "name", "email", "role", "isActive", "__typename"],
}
RELATIONS = {
    "Pipeline": [("stages", "list", "Stage"), ("jobs", "jobs", "Job")],
    "Stage": [("pipeline", "one", "Pipeline"), ("jobs", "jobs", "Job")],
    "Job": [
        ("client", "one", "Client"),
        ("pipeline", "one", "Pipeline"),
        ("stage", "one", "Stage"),
        ("assignees", "list", "User"),
        ("tasks", "connection", "Task"),
    ],
    "Task": [("job", "one", "Job"), ("assignee", "one", "User")],
    "Client": [("jobs", "jobs", "Job")],
    "User": [],
}


@dataclass
class Ids:
    """Global ids and cursors the documents pick from (this firm's, another's, bad ones)."""

    pipelines: list[str]
    jobs: list[str]
    nodes: list[str]
    id_cursors: list[str]
    rank_cursors: list[str]


@dataclass
class Writer:
    """The parts of a document being drawn: fragments and variables it needs."""

    draw: Any
    ids: Ids
    fragments: list[str] = field(default_factory=list)
    variables: set[str] = field(default_factory=set)
    names: itertools.count[int] = field(default_factory=itertools.count)

    def key(self, name: str) -> str:
        if self.draw(st.integers(0, 4)) == 0:
            return f"a{next(self.names)}: {name}"
        return name

    def directive(self) -> str:
        kind = self.draw(st.integers(0, 6))
        if kind == 1:
            self.variables.add("yes")
            return " @include(if: $yes)"
        if kind == 2:
            self.variables.add("no")
            return " @skip(if: $no)"
        if kind == 3:
            return " @include(if: false)"
        return ""

    def page(self, archived: bool, by_rank: bool = False) -> str:
        args = [f"first: {self.draw(st.integers(0, 3))}"]
        if self.draw(st.booleans()):
            cursors = self.ids.rank_cursors if by_rank else self.ids.id_cursors
            # valid cursors only: see test_errors_are_the_resolvers_errors for bad ones
            cursor = self.draw(st.sampled_from(cursors))
            args.append(f'after: "{cursor}"')
        if archived and self.draw(st.booleans()):
            args.append(f"includeArchived: {str(self.draw(st.booleans())).lower()}")
        return f"({', '.join(args)})"

    def selection(self, type_name: str, depth: int) -> str:
        leaves = self.draw(st.lists(st.sampled_from(LEAVES[type_name]), min_size=1, max_size=4))
        parts = [f"{self.key(leaf)}{self.directive()}" for leaf in leaves]
        if depth > 0:
            relations = self.draw(
                st.lists(st.sampled_from(RELATIONS[type_name]), max_size=2, unique=True)
                if RELATIONS[type_name]
                else st.just([])
            )
            for name, kind, target in relations:
                parts.append(self.relation(type_name, name, kind, target, depth - 1))
        way = self.draw(st.integers(0, 5))
        body = " ".join(parts)
        if way == 0:
            return f"... on {type_name} {{ {body} }}"
        if way == 1:
            fragment = f"F{next(self.names)}"
            self.fragments.append(f"fragment {fragment} on {type_name} {{ {body} }}")
            return f"...{fragment}"
        return body

    def relation(self, parent: str, name: str, kind: str, target: str, depth: int) -> str:
        def inner() -> str:
            return self.selection(target, depth)

        if kind in ("one", "list"):
            return f"{self.key(name)} {{ {inner()} }}"
        page = self.page(kind == "jobs", by_rank=parent == "Stage")
        return f"{self.key(name)}{page} {{ {self.connection(inner)} }}"

    def connection(self, inner: Callable[[], str]) -> str:
        """A connection's selection; `inner` draws its nodes' (only if they are asked)."""
        parts = []
        for part in self.draw(
            st.lists(
                st.sampled_from(["totalCount", "edges", "pageInfo", "nodeEdges"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        ):
            if part == "totalCount":
                parts.append(self.key("totalCount"))
            elif part == "pageInfo":
                parts.append(
                    f"{self.key('pageInfo')} {{ hasNextPage hasPreviousPage startCursor "
                    "endCursor }"
                )
            elif part == "edges":
                parts.append(f"edges {{ cursor node {{ {inner()} }} }}")
            else:
                parts.append(f"e{next(self.names)}: edges {{ __typename node {{ {inner()} }} }}")
        return " ".join(parts)


@st.composite
def documents(draw: Any, ids: Ids) -> tuple[str, dict[str, Any]]:
    writer = Writer(draw, ids)
    roots = []
    for root in draw(st.lists(st.integers(0, 6), min_size=1, max_size=2, unique=True)):
        if root == 0:
            pipeline = draw(st.sampled_from(ids.pipelines))
            body = writer.selection("Pipeline", 3)
            roots.append(f'{writer.key("pipeline")}(id: "{pipeline}") {{ {body} }}')
        elif root == 1:
            roots.append(writer.relation("Query", "pipelines", "connection", "Pipeline", 3))
        elif root == 2:
            job = draw(st.sampled_from(ids.jobs))
            roots.append(f'{writer.key("job")}(id: "{job}") {{ {writer.selection("Job", 3)} }}')
        elif root == 3:
            roots.append(writer.relation("Query", "jobs", "connection", "Job", 2))
        elif root == 4:
            roots.append(writer.relation("Query", "clients", "connection", "Client", 2))
        else:
            wanted = draw(st.lists(st.sampled_from(ids.nodes), min_size=1, max_size=3))
            on = " ".join(
                f"... on {type_name} {{ {writer.selection(type_name, 1)} }}"
                for type_name in draw(
                    st.lists(st.sampled_from(sorted(LEAVES)), min_size=1, max_size=3, unique=True)
                )
            )
            if root == 5:
                roots.append(f'{writer.key("node")}(id: "{wanted[0]}") {{ id {on} }}')
            else:
                listed = ", ".join(f'"{i}"' for i in wanted)
                roots.append(f"{writer.key('nodes')}(ids: [{listed}]) {{ __typename {on} }}")
    declared = "".join(f"${name}: Boolean!, " for name in sorted(writer.variables))
    header = f"query Q({declared.rstrip(', ')})" if writer.variables else "query Q"
    text = f"{header} {{ {' '.join(roots)} }} {' '.join(writer.fragments)}"
    return text, {name: name == "yes" for name in writer.variables}


def _normalized(value: Any) -> Any:
    """Event cursors are sealed with a fresh nonce each time: compared by what they hold."""
    if isinstance(value, dict):
        return {key: _normalized(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalized(item) for item in value]
    if isinstance(value, str) and len(value) > 30:
        opened = keys.unseal(value, FEED_CURSOR)
        return ("feed", opened) if opened is not None else value
    return value


async def _ask(
    http: httpx.AsyncClient, token: str, text: str, variables: dict[str, Any], plan: bool
) -> tuple[dict[str, Any], list[str]]:
    STORE.clear()  # each side executes: no answer from the result cache
    answered: list[str] = []
    planning, record = planned.PLANNING.set(plan), planned.ANSWERED.set(answered)
    try:
        response = await http.post(
            "/graphql",
            json={"query": text, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    finally:
        planned.PLANNING.reset(planning)
        planned.ANSWERED.reset(record)
    assert response.status_code == 200, response.text
    return response.json(), answered


async def _graph(firm: NewFirm, people: int = 2) -> dict[str, list[int]]:
    """Two pipelines (one stage empty), clients, staff, jobs with tasks, an archived job."""
    scope = scope_of(firm)
    pipeline, stages = await board(firm, ("Docs", "Prepare", "Empty"))
    other = await pipelines.create_pipeline(scope, "Payroll", ["Collect", "Run"])
    staff = [
        await User.create(
            firm_id=firm.firm.id, name=f"Staff {firm.firm.id}-{n}", email=f"s{n}@x.test"
        )
        for n in range(people)
    ]
    customers = [await client(firm, f"Client {n}") for n in range(3)]
    made = []
    for n in range(7):
        job = await jobs.create_job(
            scope,
            (pipeline if n % 3 else other).id,
            customers[n % 3].id,
            f"job {n}",
            stage_id=stages[n % 2].id if n % 3 else None,
            priority=list(Priority)[n % len(Priority)],
            due_date=date(2026, 1, 1 + n) if n % 2 else None,
            tags=["vip"] if n == 1 else None,
            assignee_ids=[s.id for s in staff[: n % 3]],
        )
        for t in range(n % 3):
            task = await tasks.create_task(
                scope, job.id, f"task {t}", assignee_id=staff[0].id if t else None
            )
            if t == 1:
                await tasks.set_task_done(scope, task.id, True)
        made.append(job.id)
    await jobs.archive_job(scope, made[4])
    return {
        "pipelines": [pipeline.id, other.id],
        "jobs": made,
        "stages": [s.id for s in stages],
        "clients": [c.id for c in customers],
        "users": [s.id for s in staff],
    }


async def _ids(firm_a: NewFirm, firm_b: NewFirm) -> Ids:
    a, b = await _graph(firm_a), await _graph(firm_b, people=1)
    ranks = [job.rank for job in await Job.filter(id__in=a["jobs"])]
    nodes = [
        *(gid("Pipeline", pk) for pk in a["pipelines"][:1] + b["pipelines"][:1]),
        *(gid("Job", pk) for pk in a["jobs"][:3] + b["jobs"][:1]),
        *(gid("Stage", pk) for pk in a["stages"][:2]),
        gid("Client", a["clients"][0]),
        gid("User", a["users"][0]),
        gid("Task", 1),
    ]
    return Ids(
        pipelines=[gid("Pipeline", pk) for pk in a["pipelines"] + b["pipelines"][:1]],
        jobs=[gid("Job", pk) for pk in a["jobs"][:5] + b["jobs"][:1]],
        nodes=nodes,
        id_cursors=[encode_cursor(pk) for pk in a["jobs"][1:4]],
        rank_cursors=[encode_cursor(rank) for rank in sorted(ranks)[:2]],
    )


@pytest.fixture
async def ids(db: str, firm_a: NewFirm, firm_b: NewFirm) -> Ids:
    return await _ids(firm_a, firm_b)


@pytest.mark.timeout(180)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
@given(data=st.data())
async def test_planned_answers_equal_the_resolvers(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Ids, data: st.DataObject
) -> None:
    text, variables = data.draw(documents(ids))
    note(text)
    resolvers, by_resolvers = await _ask(http, firm_a.token, text, variables, plan=False)
    answer, by_plan = await _ask(http, firm_a.token, text, variables, plan=True)
    assert by_resolvers == []
    assert _normalized(answer) == _normalized(resolvers)
    if "errors" not in resolvers:  # every document drawn is covered unless it fails
        assert by_plan == ["planned"], text


def test_every_planned_leaf_is_a_field_of_its_type_and_a_column_of_its_model() -> None:
    for type_name, spec in GRAPH.items():
        if spec.model is None:
            continue
        _, graphql_type = NODE_TYPES[type_name]
        definition = get_object_definition(graphql_type, strict=True)
        fields = {f.graphql_name or f.name: f for f in definition.fields}
        for name, field_spec in spec.fields.items():
            assert name in fields or _camel(name) in _names(fields), (type_name, name)
            if isinstance(field_spec, Leaf):
                assert field_spec.column in spec.model._meta.fields_map, (type_name, name)
                assert field_spec.column == _python_name(definition, name), (type_name, name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _names(fields: dict[str, Any]) -> set[str]:
    return {_camel(name) for name in fields}


def _python_name(definition: Any, graphql_name: str) -> str:
    for f in definition.fields:
        if _camel(f.python_name) == graphql_name or f.graphql_name == graphql_name:
            return str(f.python_name)
    raise AssertionError(graphql_name)


ERRORS = [
    '{ pipelines(first: 1, after: "not-a-cursor") { totalCount } }',
    "{ jobs(first: 101) { totalCount } }",
    '{ node(id: "garbage") { id } }',
    '{ nodes(ids: ["garbage"]) { id } }',
    '{ pipeline(id: "garbage") { id } }',
    'query($p: ID!) { pipeline(id: $p) { id stages { id jobs(first: 2, after: "bad") { totalCount'
    " } } } }",
    "query($p: ID!) { pipeline(id: $p) { id stages { jobs(first: -1) { totalCount } } } }",
]


@pytest.mark.parametrize("text", ERRORS)
async def test_errors_are_the_resolvers_errors(
    http: httpx.AsyncClient, firm_a: NewFirm, ids: Ids, text: str
) -> None:
    """A document whose answer holds an error is answered by the resolvers: same errors."""
    variables = {"p": ids.pipelines[0]} if "$p" in text else {}
    resolvers, _ = await _ask(http, firm_a.token, text, variables, plan=False)
    answer, by_plan = await _ask(http, firm_a.token, text, variables, plan=True)
    assert resolvers.get("errors") and answer == resolvers
    assert "planned" not in by_plan  # [] when the guard refused it before execution


BOARD = """query B($p: ID!) { pipeline(id: $p) { id name eventCursor stages { id name
  jobs(first: 50) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node {
    id title version rank dueDate status client { id name } assignees { id name }
    tasks(first: 10) { edges { node { id title done assignee { name } } } } } } } } } }"""
# pipeline, stages, jobs, job counts, clients, assignees, tasks, task assignees
PLANNED_BOARD_STATEMENTS = 8


async def test_board_statements_do_not_grow_with_the_board(
    http: httpx.AsyncClient, firm_a: NewFirm, sql_statements: StatementCounter
) -> None:
    graph = await _graph(firm_a)
    pipeline = gid("Pipeline", graph["pipelines"][0])
    await _ask(http, firm_a.token, BOARD, {"p": pipeline}, plan=True)  # the token's last use
    counts = []
    for more in (0, 30):
        scope = scope_of(firm_a)
        for n in range(more):
            job = await jobs.create_job(
                scope, graph["pipelines"][0], graph["clients"][n % 3], f"more {n}",
                assignee_ids=graph["users"],
            )  # fmt: skip
            await tasks.create_task(scope, job.id, "one", assignee_id=graph["users"][0])
        sql_statements.statements.clear()
        answer, by_plan = await _ask(http, firm_a.token, BOARD, {"p": pipeline}, plan=True)
        assert by_plan == ["planned"] and "errors" not in answer
        # the token, the result cache's data version, then the plan's statements
        counts.append(len(sql_statements.statements) - 2)
        resolvers, _ = await _ask(http, firm_a.token, BOARD, {"p": pipeline}, plan=False)
        assert _normalized(answer) == _normalized(resolvers)
    jobs_shown = await Job.filter(
        pipeline_id=graph["pipelines"][0], status=JobStatus.ACTIVE
    ).count()
    assert jobs_shown > 30
    assert counts == [PLANNED_BOARD_STATEMENTS, PLANNED_BOARD_STATEMENTS], sql_statements.statements


def test_ids_made_at_once_are_the_ids_made_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = keys.type_tag("Job")
    monkeypatch.setattr(keys, "MAX_CACHED_IDS", 5)  # past it, the cache starts again
    for pks in ([1, 2, 2**31 - 1], [3, 1, 3, 70000], list(range(10, 20)), [1, 2]):
        assert keys.encode_ids(tag, pks) == [keys.encode_id(tag, pk) for pk in pks]
