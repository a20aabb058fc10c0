"""Runs a plan (schema.plan): each relation of each level is one batched statement over all
the rows of its parent level (models.rows), and the answer is built as plain dicts and lists,
with no resolver call and no ORM model.

Anything the resolver path would answer with an error (a bad id, `first` or cursor, a missing
referenced row) raises Fallback instead, before any answer is given: the resolvers then answer
the whole operation, errors and all, so errors cannot differ between the two paths.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from graphql.execution.values import VariableValues, get_argument_values

from models import rows as sql_rows
from schema.board_specs import (
    GRAPH,
    ById,
    ChildList,
    Children,
    Linked,
    NodeLookup,
    Ref,
    Row,
)
from schema.connection import decode_cursor, encode_cursor, encode_cursors, page_size
from schema.nodes import NODES_MAX
from schema.plan import ConnectionPlan, EdgesPlan, ObjectPlan, Planned
from workflow.errors import DomainError
from workflow.global_ids import decode_id, parse_id

Answer = dict[str, Any]


class Fallback(Exception):
    """The resolvers must answer: the plan met what it does not answer itself."""


def _table(type_name: str) -> str:
    return GRAPH[type_name].table


class Run:
    """One execution of a plan for one firm."""

    def __init__(self, firm_id: int, variables: VariableValues) -> None:
        self.firm_id, self.variables = firm_id, variables

    async def root(self, plan: ObjectPlan) -> Answer:
        try:
            [answer] = await self.objects(plan, [{}])
        except DomainError as error:  # a bad argument: the resolvers say which
            raise Fallback(str(error)) from error
        return answer

    async def objects(self, plan: ObjectPlan, rows: list[Row]) -> list[Answer]:
        """The answers for `rows` (of plan's type), in order."""
        if not rows:
            return []
        columns: list[list[Any]] = []
        for planned in plan.fields:
            if planned.value is not None:
                columns.append(planned.value(rows))
            else:
                columns.append(await self.relation(planned, rows))
        keys = [planned.key for planned in plan.fields]
        if not keys:
            return [{} for _ in rows]
        return [dict(zip(keys, values)) for values in zip(*columns)]  # noqa: B905 (equal)

    def arguments(self, planned: Planned) -> dict[str, Any]:
        assert planned.definition is not None and planned.node is not None
        return get_argument_values(planned.definition, planned.node, self.variables)

    async def relation(self, planned: Planned, rows: list[Row]) -> list[Any]:
        spec = planned.spec
        if isinstance(spec, Ref):
            return await self.refs(planned, [row[spec.column] for row in rows], spec.target)
        if isinstance(spec, ById):
            pk = decode_id(self.arguments(planned)["id"], spec.target, "id")
            return await self.refs(planned, [pk] * len(rows), spec.target)
        if isinstance(spec, ChildList | Linked):
            assert planned.target is not None
            parents = list(dict.fromkeys(row["id"] for row in rows))
            if isinstance(spec, ChildList):
                table = _table(spec.target)
                found = await sql_rows.children(
                    table,
                    self.firm_id,
                    spec.parent_column,
                    parents,
                    spec.order,
                    planned.target.columns,
                )
            else:
                table = _table(spec.target)
                found = await sql_rows.linked(
                    table,
                    self.firm_id,
                    spec.link_table,
                    spec.key,
                    parents,
                    spec.order,
                    planned.target.columns,
                )
            lists = [found.get(parent, []) for parent in parents]
            flat = await self.objects(planned.target, [row for rows_ in lists for row in rows_])
            answers, at = {}, 0
            for parent, children in zip(parents, lists, strict=True):
                answers[parent] = flat[at : at + len(children)]
                at += len(children)
            return [answers[row["id"]] for row in rows]
        if isinstance(spec, Children):
            assert planned.connection is not None
            return await self.connection(planned, spec, planned.connection, rows)
        if isinstance(spec, NodeLookup):
            return [await self.nodes(planned, spec)] * len(rows)
        raise Fallback(f"no rule for {spec}")

    async def refs(self, planned: Planned, ids: list[int | None], target: str) -> list[Any]:
        """The target object of each id (None where the id is None, or names no row)."""
        assert planned.target is not None
        wanted = sorted({pk for pk in ids if pk is not None})
        found = await sql_rows.by_id(_table(target), self.firm_id, wanted, planned.target.columns)
        answers = dict(
            zip(found, await self.objects(planned.target, list(found.values())), strict=True)
        )
        if not planned.nullable and any(pk is None or pk not in answers for pk in ids):
            raise Fallback("a referenced row is missing")
        return [None if pk is None else answers.get(pk) for pk in ids]

    async def nodes(self, planned: Planned, spec: NodeLookup) -> Any:
        arguments = self.arguments(planned)
        global_ids: list[str] = arguments["ids"] if spec.many else [arguments["id"]]
        if len(global_ids) > NODES_MAX:
            raise Fallback("too many ids")
        parsed = [parse_id(global_id, "ids" if spec.many else "id") for global_id in global_ids]
        wanted: dict[str, set[int]] = defaultdict(set)
        for type_name, pk in parsed:
            if type_name not in planned.by_type:
                raise Fallback(f"a {type_name} node")
            wanted[type_name].add(pk)
        answers: dict[tuple[str, int], Answer] = {}
        for type_name, pks in wanted.items():
            plan = planned.by_type[type_name]
            found = await sql_rows.by_id(_table(type_name), self.firm_id, sorted(pks), plan.columns)
            rendered = await self.objects(plan, list(found.values()))
            answers.update(
                ((type_name, pk), answer) for pk, answer in zip(found, rendered, strict=True)
            )
        results = [answers.get(key) for key in parsed]
        return results if spec.many else results[0]

    async def connection(
        self, planned: Planned, spec: Children, plan: ConnectionPlan, rows: list[Row]
    ) -> list[Answer]:
        arguments = self.arguments(planned)
        if any(arguments.get(name) is not None for name in spec.null_args):
            raise Fallback(f"a filter: {sorted(spec.null_args)}")
        size = page_size(arguments.get("first"))
        cursor = decode_cursor(arguments.get("after"), spec.order)
        statuses = spec.shown(bool(arguments.get("includeArchived", False)))
        table = _table(spec.target)
        columns = sorted({spec.order, *(c for node in plan.node_plans() for c in node.columns)})
        parents: list[Any]
        if spec.parent_column is None:
            parents = [None]
            pages: dict[Any, list[Row]] = {
                None: await sql_rows.root_page(
                    table, self.firm_id, size + 1, cursor, statuses, columns
                )
            }
        else:
            parents = list(dict.fromkeys(row["id"] for row in rows))
            where_in: dict[str, Sequence[Any]] | None = {"status": statuses} if statuses else None
            pages = dict(
                await sql_rows.pages(
                    table,
                    self.firm_id,
                    spec.parent_column,
                    parents,
                    spec.order,
                    size + 1,
                    cursor,
                    where_in,
                    columns,
                )
            )
        counts: dict[Any, int] = {}
        if plan.counts():
            if spec.parent_column is None:
                counts[None] = await sql_rows.root_count(table, self.firm_id, statuses)
            else:
                counts = dict(
                    await sql_rows.counts(
                        table, self.firm_id, spec.parent_column, parents, statuses
                    )
                )
        shown = [pages.get(parent, [])[:size] for parent in parents]
        flat = [row for page in shown for row in page]
        cursors = self.cursors(plan, spec.order, shown, len(flat))
        edges = {key: await self.edges(plan.edges[key], flat, cursors) for key in plan.edges}
        answers: dict[Any, Answer] = {}
        at = 0
        for parent, page in zip(parents, shown, strict=True):
            end = at + len(page)
            answer: Answer = {}
            for key, name in plan.keys:
                if name == "edges":
                    answer[key] = edges[key][at:end]
                elif name == "totalCount":
                    answer[key] = counts.get(parent, 0)
                elif name == "pageInfo":
                    values = {
                        "hasNextPage": len(pages.get(parent, ())) > size,
                        "hasPreviousPage": cursor is not None,
                        "startCursor": cursors[at] if page else None,
                        "endCursor": cursors[end - 1] if page else None,
                        "__typename": "PageInfo",
                    }
                    answer[key] = {k: values[n] for k, n in plan.page_infos[key]}
                else:  # __typename
                    answer[key] = plan.type_name
            answers[parent] = answer
            at = end
        if spec.parent_column is None:
            return [answers[None]] * len(rows)
        return [answers[row["id"]] for row in rows]

    async def edges(self, plan: EdgesPlan, flat: list[Row], cursors: list[str]) -> list[Answer]:
        """The edges of every page's rows (`flat`), a column per key as objects makes them."""
        columns: list[list[Any]] = []
        for key, name in plan.keys:
            if name == "node":
                columns.append(await self.objects(plan.nodes[key], flat))
            elif name == "cursor":
                columns.append(cursors)
            else:  # __typename
                columns.append([plan.type_name] * len(flat))
        keys = [key for key, _ in plan.keys]
        if not keys:  # every field skipped
            return [{} for _ in flat]
        return [dict(zip(keys, values)) for values in zip(*columns)]  # noqa: B905 (equal)

    @staticmethod
    def cursors(plan: ConnectionPlan, order: str, shown: list[list[Row]], count: int) -> list[str]:
        """Every shown row's cursor, made only where it is asked: every edge's, or each page's
        first and last (pageInfo), or none (empty strings in their place)."""
        if any(name == "cursor" for edges in plan.edges.values() for _, name in edges.keys):
            return encode_cursors([row[order] for page in shown for row in page])
        made = [""] * count
        bounds = {"startCursor", "endCursor"}
        if any(name in bounds for keys in plan.page_infos.values() for _, name in keys):
            at = 0
            for page in shown:
                if page:
                    made[at] = encode_cursor(page[0][order])
                    made[at + len(page) - 1] = encode_cursor(page[-1][order])
                at += len(page)
        return made
