"""The client portal's DataLoaders, made per request for its signed-in contact: every read goes
through workflow.portal, so a loader sees only the caller's client's rows. A page of jobs with
their organizers, invoices and messages costs a few statements per level, whatever the number
of jobs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader

from models import Invoice, Job, Message, Organizer
from schema.loaders import Loader
from workflow import portal
from workflow.portal_scope import PortalCaller

DocumentModel = type[Organizer] | type[Invoice] | type[Message]


@dataclass(frozen=True)
class DocumentPage:
    """Up to `limit` documents of one job after the id `after`."""

    model: Any  # Organizer, Invoice or Message
    job_id: int
    limit: int
    after: int | None = None


@dataclass(frozen=True)
class DocumentCount:
    model: Any  # Organizer, Invoice or Message
    job_id: int


class PortalLoaders:
    def __init__(self, caller: PortalCaller) -> None:
        self.caller = caller

    @cached_property
    def job(self) -> DataLoader[int, Job | None]:
        """The client's jobs by id (None: not one of them)."""

        async def load(ids: list[int]) -> list[Job | None]:
            found = {job.id: job for job in await portal.jobs(self.caller).filter(id__in=ids)}
            return [found.get(pk) for pk in ids]

        return Loader(load)

    @cached_property
    def stage_name(self) -> DataLoader[int, str]:
        """What the client sees of a stage."""

        async def load(ids: list[int]) -> list[str]:
            names = await portal.stage_names(self.caller, ids)
            return [names.get(pk, "") for pk in ids]

        return Loader(load)

    @cached_property
    def pages(self) -> DataLoader[DocumentPage, list[Any]]:
        return Loader(self._pages)

    async def _pages(self, keys: list[DocumentPage]) -> list[list[Any]]:
        batches: dict[tuple[Any, ...], list[DocumentPage]] = defaultdict(list)
        for key in keys:
            batches[(key.model, key.limit, key.after)].append(key)
        found: dict[DocumentPage, list[Any]] = {}
        for (model, limit, after), batch in batches.items():
            pages = await portal.documents_of_jobs(
                self.caller, model, [key.job_id for key in batch], limit, after
            )
            for key in batch:
                found[key] = pages.get(key.job_id, [])
        return [found[key] for key in keys]

    @cached_property
    def counts(self) -> DataLoader[DocumentCount, int]:
        return Loader(self._counts)

    async def _counts(self, keys: list[DocumentCount]) -> list[int]:
        batches: dict[Any, list[DocumentCount]] = defaultdict(list)
        for key in keys:
            batches[key.model].append(key)
        found: dict[DocumentCount, int] = {}
        for model, batch in batches.items():
            counts = await portal.count_documents_of_jobs(
                self.caller, model, [key.job_id for key in batch]
            )
            for key in batch:
                found[key] = counts.get(key.job_id, 0)
        return [found[key] for key in keys]
