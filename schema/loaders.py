"""DataLoaders, created per request and scoped to the caller's firm.

Every relation of the graph is batched here, so a nested board query costs one statement per
level whatever the number of jobs.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model

from automations import pipeline_templates
from models import Automation, Client, Contact, Job, JobEvent, Pipeline, Stage, Task, User, rows
from models.rows import fetch_pages
from schema.board_specs import JOB_ASSIGNEES, PIPELINE_STAGES
from workflow.automove import JobInStage, open_items
from workflow.scope import Scope

M = TypeVar("M", bound=Model)


K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader[K, V]):
    """A DataLoader whose waiters cannot cancel one another's loads. graphql-core cancels the
    pending siblings of a field that fails, and cancelling a task cancels the future it awaits:
    here the future of a key that the rest of the query may be awaiting too."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


@dataclass(frozen=True)
class PageKey:
    """One connection of one parent: up to `limit` children after `after`."""

    model: type[Model]
    parent_column: str
    parent_id: int
    order_column: str
    limit: int
    after: Any = None
    where_in: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def batch(self) -> tuple[Any, ...]:
        return (
            self.model,
            self.parent_column,
            self.order_column,
            self.limit,
            self.after,
            self.where_in,
        )


@dataclass(frozen=True)
class CountKey:
    model: type[Model]
    parent_column: str
    parent_id: int
    where_in: tuple[tuple[str, tuple[str, ...]], ...] = ()


class Loaders:
    """Each loader is made on first use: a websocket renews its Loaders for every event, and
    most events need none of them."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._by_id: dict[type[Model], DataLoader[int, Any]] = {}

    @cached_property
    def stages_by_pipeline(self) -> DataLoader[int, list[Stage]]:
        return Loader(self._stages_by_pipeline)

    @cached_property
    def assignees_by_job(self) -> DataLoader[int, list[User]]:
        return Loader(self._assignees_by_job)

    @cached_property
    def assignees_by_template(self) -> DataLoader[int, list[User]]:
        return Loader(self._assignees_by_template)

    @cached_property
    def automations_by_stage(self) -> DataLoader[int, list[Automation]]:
        return Loader(self._automations_by_stage)

    async def _automations_by_stage(self, ids: list[int]) -> list[list[Automation]]:
        grouped: dict[int, list[Automation]] = defaultdict(list)
        query = self.scope.query(Automation).filter(stage_id__in=ids).order_by("position", "id")
        for automation in await query:
            grouped[automation.stage_id].append(automation)
        return [grouped[i] for i in ids]

    @cached_property
    def pipeline_templates(self) -> DataLoader[int, dict[str, Any] | None]:
        """Pipelines' templates: a fixed number of statements for all the pipelines asked."""
        return Loader(self._pipeline_templates)

    async def _pipeline_templates(self, ids: list[int]) -> list[dict[str, Any] | None]:
        found = [row for row in await self.pipeline.load_many(ids) if row is not None]
        exported = await pipeline_templates.export_many(found)
        documents = dict(zip([p.id for p in found], exported, strict=True))
        return [documents.get(i) for i in ids]

    @cached_property
    def contacts_by_client(self) -> DataLoader[int, list[Contact]]:
        return Loader(self._contacts_by_client)

    async def _contacts_by_client(self, ids: list[int]) -> list[list[Contact]]:
        grouped: dict[int, list[Contact]] = defaultdict(list)
        for contact in await self.scope.query(Contact).filter(client_id__in=ids).order_by("id"):
            grouped[contact.client_id].append(contact)
        return [grouped[i] for i in ids]

    @cached_property
    def auto_move_blockers(self) -> DataLoader[JobInStage, list[str]]:
        """What is open for each (job, stage): three statements for all the jobs asked."""
        return Loader(self._auto_move_blockers)

    async def _auto_move_blockers(self, keys: list[JobInStage]) -> list[list[str]]:
        found = await open_items(self.scope.firm_id, keys)
        return [found[key] for key in keys]

    @cached_property
    def pages(self) -> DataLoader[PageKey, list[Any]]:
        return Loader(self._pages)

    @cached_property
    def counts(self) -> DataLoader[CountKey, int]:
        return Loader(self._counts)

    def by_id(self, model: type[M]) -> DataLoader[int, M | None]:
        if model not in self._by_id:

            async def load(ids: list[int]) -> list[M | None]:
                rows = {row.pk: row for row in await self.scope.query(model).filter(id__in=ids)}
                return [rows.get(i) for i in ids]

            self._by_id[model] = Loader(load)
        return self._by_id[model]

    @property
    def pipeline(self) -> DataLoader[int, Pipeline | None]:
        return self.by_id(Pipeline)

    @property
    def stage(self) -> DataLoader[int, Stage | None]:
        return self.by_id(Stage)

    @property
    def job(self) -> DataLoader[int, Job | None]:
        return self.by_id(Job)

    @property
    def client(self) -> DataLoader[int, Client | None]:
        return self.by_id(Client)

    @property
    def user(self) -> DataLoader[int, User | None]:
        return self.by_id(User)

    @property
    def task(self) -> DataLoader[int, Task | None]:
        return self.by_id(Task)

    @property
    def event(self) -> DataLoader[int, JobEvent | None]:
        return self.by_id(JobEvent)

    async def _stages_by_pipeline(self, ids: list[int]) -> list[list[Stage]]:
        found = await rows.children(
            "stage", self.scope.firm_id, PIPELINE_STAGES.parent_column, ids, PIPELINE_STAGES.order
        )
        return [[Stage._init_from_db(**row) for row in found.get(i, ())] for i in ids]

    async def _assignees_by_job(self, ids: list[int]) -> list[list[User]]:
        return await self._assignees(ids, JOB_ASSIGNEES.link_table, JOB_ASSIGNEES.key)

    async def _assignees_by_template(self, ids: list[int]) -> list[list[User]]:
        return await self._assignees(ids, "job_template_assignee", "job_template_id")

    async def _assignees(self, ids: list[int], table: str, column: str) -> list[list[User]]:
        """The users of a many-to-many table (`table`, keyed by `column`), by name."""
        order = JOB_ASSIGNEES.order  # templates' assignees too
        found = await rows.linked("app_user", self.scope.firm_id, table, column, ids, order)
        return [[User._init_from_db(**row) for row in found.get(i, ())] for i in ids]

    async def _pages(self, keys: list[PageKey]) -> list[list[Any]]:
        batches: dict[tuple[Any, ...], list[PageKey]] = defaultdict(list)
        for key in keys:
            batches[key.batch()].append(key)
        results: dict[PageKey, list[Any]] = {}
        for batch in batches.values():
            first = batch[0]
            pages = await fetch_pages(
                first.model,
                firm_id=self.scope.firm_id,
                parent_column=first.parent_column,
                parent_ids=sorted({k.parent_id for k in batch}),
                order_column=first.order_column,
                limit=first.limit,
                after=first.after,
                where_in=dict(first.where_in),
            )
            for key in batch:
                results[key] = pages.get(key.parent_id, [])
        return [results[key] for key in keys]

    async def _counts(self, keys: list[CountKey]) -> list[int]:
        batches: dict[tuple[Any, ...], list[CountKey]] = defaultdict(list)
        for key in keys:
            batches[(key.model, key.parent_column, key.where_in)].append(key)
        counts: dict[CountKey, int] = {}
        for (model, column, where_in), batch in batches.items():
            statuses = dict(where_in).get("status")
            if set(dict(where_in)) - {"status"}:
                raise ValueError(f"counts filter by status only, not {where_in}")
            found = await rows.counts(
                model._meta.db_table,
                self.scope.firm_id,
                column,
                sorted({k.parent_id for k in batch}),
                statuses,
            )
            for key in batch:
                counts[key] = found.get(key.parent_id, 0)
        return [counts[key] for key in keys]


def where_in(**conditions: Sequence[str] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A hashable form of column IN (...) conditions for page and count keys."""
    return tuple((column, tuple(values)) for column, values in sorted(conditions.items()) if values)
