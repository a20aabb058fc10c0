"""Concurrent moves on PostgreSQL: no lost update, no shared rank, one version per change."""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections import defaultdict

import pytest

from models import Job, JobEvent
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


async def test_a_job_transferred_while_a_change_waits_for_it_is_logged_in_its_new_pipeline(
    db: str, firm_a: NewFirm
) -> None:
    """A change waits for the job's row lock (the first in the lock order), not for its
    pipeline's: once the transfer holding the job commits, the change sees the job in its new
    pipeline and logs there."""
    from tests.factories import scope_of
    from tests.locks import Holder
    from workflow import jobs as job_ops

    lead, _ = await board(firm_a, ("New Lead",), name="Lead")
    books, onboard = await board(firm_a, ("Onboard",), name="Books")
    card = await job(firm_a, lead, await client(firm_a))
    async with Holder(db) as other:  # another change: moves the job to Books, not committed
        await other.execute(
            "UPDATE job SET pipeline_id = $1, stage_id = $2 WHERE id = $3",
            books.id,
            onboard[0].id,
            card.id,
        )
        update = asyncio.create_task(
            job_ops.update_job(scope_of(firm_a), card.id, title="after the race"),
            context=contextvars.Context(),
        )
        await other.wait_for_waiters(1)
        await other.commit()
    updated = await update
    assert (updated.pipeline_id, updated.version, updated.title) == (books.id, 2, "after the race")
    event = await JobEvent.filter(job_id=card.id).order_by("-id").first()
    assert event is not None and (event.pipeline_id, event.type) == (books.id, "JOB_UPDATED")
