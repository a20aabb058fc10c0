"""The tables the result cache serves are written inside a change only (models.writes): a write
outside one is refused before it reaches the database, whatever form it takes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import models
from models import ApiToken, Job, Stage, Task, User, sql, writes
from models.writes import CACHED_TABLES, WriteOutsideChange
from schema.result_cache import CACHED_TYPES
from tests.factories import board, client, job, scope_of
from workflow.firms import NewFirm
from workflow.unit import change

ROOT = Path(__file__).resolve().parent.parent


def test_every_cached_type_has_its_table_guarded() -> None:
    """CACHED_TYPES (GraphQL) and CACHED_TABLES (SQL) name the same data: a type added to the
    cache without its table (or a many-to-many table of it) fails here."""
    cached_models = [getattr(models, name) for name in CACHED_TYPES if hasattr(models, name)]
    assert {model.__name__ for model in cached_models} >= {"Job", "Task", "User", "Stage"}
    tables = {model._meta.db_table for model in cached_models} | {
        model._meta.fields_map[name].through
        for model in cached_models
        for name in model._meta.m2m_fields
    }
    assert tables <= CACHED_TABLES, sorted(tables - CACHED_TABLES)


async def test_writes_outside_a_change_are_refused(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    owner = await User.get(id=firm_a.owner.id)

    async def save() -> None:
        found = await Job.get(id=card.id)
        found.title = "renamed outside a change"
        await found.save()

    attempts: dict[str, Callable[[], Awaitable[Any]]] = {
        "save": save,
        "update": lambda: Stage.filter(id=stages[0].id).update(wip_limit=1),
        "create": lambda: Task.create(firm_id=card.firm_id, job_id=card.id, title="t"),
        "bulk_create": lambda: Task.bulk_create(
            [Task(firm_id=card.firm_id, job_id=card.id, title="t")]
        ),
        "delete": lambda: Task.filter(job_id=card.id).delete(),
        "many-to-many": lambda: card.assignees.add(owner),
        "hand-written": lambda: sql.execute(
            'UPDATE "pipeline" SET "event_seq" = 99 WHERE "id" = ?', [pipeline.id]
        ),
    }
    let_through = []
    with writes.checked():
        for name, attempt in attempts.items():
            try:
                await attempt()
            except WriteOutsideChange:
                continue
            let_through.append(name)
    assert let_through == []
    assert (await Job.get(id=card.id)).title == card.title
    assert (await Stage.get(id=stages[0].id)).wip_limit is None
    assert await Task.filter(job_id=card.id).count() == 0
    assert await card.assignees.all().count() == 0
    assert (await models.Pipeline.get(id=pipeline.id)).event_seq != 99


async def test_the_same_writes_in_a_change_pass(firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    with writes.checked():
        async with change(scope_of(firm_a)):
            await Stage.filter(id=stages[0].id).update(wip_limit=1)
            await Task.create(firm_id=card.firm_id, job_id=card.id, title="t")
            await card.assignees.add(await User.get(id=firm_a.owner.id))
        # Not a cached table: the authentication's bookkeeping is no change.
        await ApiToken.filter(firm_id=card.firm_id).update(name="renamed")
    assert (await Stage.get(id=stages[0].id)).wip_limit == 1
    assert await Task.filter(job_id=card.id).count() == 1


async def test_a_change_scope_is_fixed_when_it_begins(firm_a: NewFirm) -> None:
    async with change(scope_of(firm_a)) as unit:
        with pytest.raises(AttributeError):
            unit.scope = scope_of(firm_a)  # type: ignore[misc]
        with pytest.raises(AttributeError):
            unit.depth = 3  # type: ignore[misc]


def test_checking_is_on_by_default() -> None:
    """Outside the test suite (which turns it off for its own set-up) nothing needs to turn
    the check on: a server or a command line checks every write."""
    program = (
        "from models import writes\n"
        "try:\n"
        '    writes.check(\'UPDATE "job" SET "title" = ? WHERE "id" = ?\')\n'
        "except writes.WriteOutsideChange:\n"
        "    print('refused')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() == "refused"
