"""Concurrent moves on PostgreSQL: no lost update, no shared rank, one version per change."""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models import Job, JobEvent, Pipeline
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job
from workflow.firms import NewFirm

pytestmark = pytest.mark.postgres_only

MOVE = """mutation($input: MoveJobInput!) { moveJob(input: $input) {
  job { version } errors { code field } } }"""


async def test_fifty_concurrent_moves_leave_a_consistent_board(
    gql: GraphQL, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    cards = [await job(firm_a, pipeline, avery, f"job {n}") for n in range(6)]
    rng = random.Random(50)

    def random_move() -> dict[str, str]:
        card, anchor = rng.sample(cards, 2)
        move = {"jobId": gid("Job", card.id), "stageId": gid("Stage", rng.choice(stages).id)}
        if rng.random() < 0.5:
            move[rng.choice(["afterJobId", "beforeJobId"])] = gid("Job", anchor.id)
        return move

    results = await asyncio.gather(*(gql(MOVE, input=random_move()) for _ in range(50)))

    failures = [r["moveJob"]["errors"] for r in results if r["moveJob"]["errors"]]
    # The only acceptable failure: the anchor had meanwhile left the target stage.
    assert all(
        e[0]["code"] == "NOT_FOUND" and e[0]["field"] in ("afterJobId", "beforeJobId")
        for e in failures
    )
    assert len(failures) < 50
    final = {j.id: j for j in await Job.filter(pipeline_id=pipeline.id)}
    ranks = defaultdict(list)
    for card in final.values():
        ranks[card.stage_id].append(card.rank)
    assert all(len(set(r)) == len(r) for r in ranks.values())
    events = await JobEvent.filter(pipeline_id=pipeline.id).order_by("seq")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    by_job = defaultdict(list)
    for event in events:
        by_job[event.job_id].append(event)
    for job_id, history in by_job.items():
        # every change bumped the version by exactly one, and the last one is what stands
        assert [e.job_version for e in history] == list(range(1, len(history) + 1))
        assert final[job_id].version == len(history)
        assert final[job_id].stage_id == history[-1].to_stage_id
        assert final[job_id].rank == history[-1].changes.get("rank", final[job_id].rank)


async def test_expected_version_lets_exactly_one_of_many_win(gql: GraphQL, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a))
    moves = [
        gql(
            MOVE,
            input={
                "jobId": gid("Job", card.id),
                "expectedVersion": 1,
                "stageId": gid("Stage", stages[1 + n % 2].id),
            },
        )
        for n in range(20)
    ]
    results = [r["moveJob"] for r in await asyncio.gather(*moves)]
    winners = [r for r in results if not r["errors"]]
    assert len(winners) == 1 and winners[0]["job"]["version"] == 2
    assert {r["errors"][0]["code"] for r in results if r["errors"]} == {"VERSION_CONFLICT"}
    assert (await Job.get(id=card.id)).version == 2
    assert await JobEvent.filter(job_id=card.id).count() == 2


async def test_a_job_transferred_while_being_locked_is_locked_again_in_order(
    firm_a: NewFirm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first lock attempt finds the job gone to another pipeline: its locks are released
    (savepoint) and the change locks the job's new pipeline instead."""
    from tests.factories import scope_of
    from workflow import jobs as job_ops
    from workflow.unit import Change

    lead, _ = await board(firm_a, ("New Lead",), name="Lead")
    books, _ = await board(firm_a, ("Onboard",), name="Books")
    card = await job(firm_a, lead, await client(firm_a))
    original = Change.lock_pipelines
    attempts: list[Change] = []  # lock attempts of the change under test (not the transfer's)

    async def elsewhere(work: Coroutine[Any, Any, object]) -> object:
        """In a fresh context: its own connection and transaction, not this change's."""
        return await asyncio.create_task(work, context=contextvars.Context())

    async def lock_lead_now() -> list[Pipeline]:
        async with in_transaction():
            return await Pipeline.filter(id=lead.id).select_for_update(nowait=True)

    async def transfer_first(self: Change, ids: object, field: str | None = None) -> None:
        if attempts and self is not attempts[0]:  # the transfer's own locking
            await original(self, ids, field)  # type: ignore[arg-type]
            return
        attempts.append(self)
        if len(attempts) == 1:  # another request transfers the job right now, and commits
            await elsewhere(job_ops.transfer_job(scope_of(firm_a), card.id, books.id))
        await original(self, ids, field)  # type: ignore[arg-type]
        if len(attempts) == 2:  # the retry: the first attempt's lock on the old pipeline is gone
            assert await elsewhere(lock_lead_now())

    monkeypatch.setattr(Change, "lock_pipelines", transfer_first)
    updated = await job_ops.update_job(scope_of(firm_a), card.id, title="after the race")
    assert (updated.pipeline_id, updated.version, updated.title) == (books.id, 3, "after the race")
    event = await JobEvent.filter(job_id=card.id).order_by("-id").first()
    assert event is not None and (event.pipeline_id, event.type) == (books.id, "JOB_UPDATED")
