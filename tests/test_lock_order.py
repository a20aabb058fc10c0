"""The lock order of changes (workflow.unit) on PostgreSQL: a move locks its job, writes its
rank (retried if another change took it), and takes its pipeline's lock only for the sequence
and the event, at the end, where its WIP limit is counted again; nothing that changes a
pipeline's stages, renumbers a stage or transfers a job can deadlock with it.

A second connection (tests.locks.Holder) holds locks at a chosen point, so the first two tests
meet the other change exactly where they name."""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections import defaultdict
from collections.abc import Awaitable
from typing import Any

import pytest

from automations import manage, runner
from models import ActionType, AutomationRun, Job, JobEvent, JobStatus
from tests.conftest import GraphQL
from tests.factories import board, client, gid, job, scope_of
from tests.locks import Holder
from workflow import bulk, jobs, pipelines, ranking
from workflow.errors import DomainError, ErrorCode
from workflow.firms import NewFirm

pytestmark = pytest.mark.postgres_only
MOVE = """mutation($j: ID!, $s: ID!) { moveJob(input: {jobId: $j, stageId: $s}) {
  job { version stage { id } } errors { code } } }"""


def _alone(work: Awaitable[Any]) -> asyncio.Task[Any]:
    """A change on a connection and transaction of its own (a fresh context)."""
    return asyncio.create_task(work, context=contextvars.Context())  # type: ignore[arg-type]


async def test_a_rank_taken_meanwhile_is_retried_with_a_new_one(db: str, firm_a: NewFirm) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    mover, other = [await job(firm_a, pipeline, avery, f"job {n}") for n in range(2)]
    target = stages[1]
    taken = ranking.between(None, None)  # the place a move to the empty stage reads
    async with Holder(db) as another:  # takes that place first, not committed
        await another.execute(
            "UPDATE job SET stage_id = $1, rank = $2 WHERE id = $3", target.id, taken, other.id
        )
        move = _alone(jobs.move_job(scope_of(firm_a), mover.id, target.id))
        await another.wait_for_waiters(1)  # the move's write waits on the unique index
        await another.commit()  # ... and fails on it: the move reads the stage again
    moved = await move
    assert moved.stage_id == target.id and moved.rank > taken and moved.version == 2
    order = await Job.filter(stage_id=target.id).order_by("rank").values_list("id", flat=True)
    assert order == [other.id, mover.id]
    event = await JobEvent.filter(job_id=mover.id).order_by("-id").first()
    assert event is not None and event.changes == {"rank": moved.rank} and event.job_version == 2


async def test_the_wip_limit_is_counted_again_under_the_pipelines_lock(
    db: str, firm_a: NewFirm
) -> None:
    pipeline, stages = await board(firm_a)
    target = await pipelines.update_stage(scope_of(firm_a), stages[1].id, wip_limit=1)
    avery = await client(firm_a)
    first, second = [await job(firm_a, pipeline, avery, f"job {n}") for n in range(2)]
    async with Holder(db) as another:  # moves `first` in and holds the pipeline, not committed
        await another.execute(
            "UPDATE job SET stage_id = $1, rank = 'zz' WHERE id = $2", target.id, first.id
        )
        await another.execute(
            "UPDATE pipeline SET event_seq = event_seq WHERE id = $1", pipeline.id
        )
        move = _alone(jobs.move_job(scope_of(firm_a), second.id, target.id))
        await another.wait_for_waiters(1)  # the move has written its job, and waits for the lock
        await another.commit()
    with pytest.raises(DomainError) as refused:
        await move
    assert (refused.value.code, refused.value.field) == (ErrorCode.WIP_LIMIT_REACHED, "stageId")
    assert (await Job.get(id=second.id)).stage_id == stages[0].id  # rolled back
    assert await Job.filter(stage_id=target.id, status=JobStatus.ACTIVE).count() == 1


async def test_a_move_takes_its_pipelines_lock_only_inside_its_commit(
    db: str, firm_a: NewFirm
) -> None:
    """A move into a stage without a WIP limit leaves the numbering of its event to the
    database at COMMIT (workflow.unit): while another change holds the pipeline, the move does
    all its work and waits only in its COMMIT, then takes the next sequence."""
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    before = await JobEvent.filter(pipeline_id=pipeline.id).order_by("-seq").first()
    assert before is not None
    async with Holder(db) as another:  # holds the pipeline's row, as a change numbering events
        await another.execute(
            "UPDATE pipeline SET event_seq = event_seq WHERE id = $1", pipeline.id
        )
        move = _alone(jobs.move_job(scope_of(firm_a), card.id, stages[1].id))
        await another.wait_for_waiters(1)
        waiting = await another.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        assert [row["query"].strip().rstrip(";").upper() for row in waiting] == ["COMMIT"]
        await another.commit()
    moved = await move
    assert moved.stage_id == stages[1].id
    event = await JobEvent.get(job_id=card.id, type="JOB_MOVED")
    assert event.seq == before.seq + 1
    assert not await JobEvent.filter(seq__lt=0).exists()


async def test_the_events_of_one_change_are_numbered_at_commit_in_the_order_written(
    firm_a: NewFirm,
) -> None:
    pipeline, stages = await board(firm_a)
    avery = await client(firm_a)
    cards = [await job(firm_a, pipeline, avery, f"job {n}") for n in range(5)]
    last = await JobEvent.filter(pipeline_id=pipeline.id).order_by("-seq").first()
    assert last is not None
    order = [cards[n].id for n in (3, 0, 4, 1, 2)]
    await bulk.bulk_move_jobs(scope_of(firm_a), [gid("Job", i) for i in order], stages[2].id)
    moved = await JobEvent.filter(pipeline_id=pipeline.id, seq__gt=last.seq).order_by("seq")
    assert [e.seq for e in moved] == list(range(last.seq + 1, last.seq + 6))
    assert [e.job_id for e in moved] == order


async def test_a_transfer_waits_for_the_stage_it_enters_before_it_locks_its_job(
    db: str, firm_a: NewFirm
) -> None:
    """The stage first, then the job (workflow.unit): a transfer kept waiting by a change of
    the target's stages holds no job meanwhile, so a move of the job (whose own stage a change
    of stages may wait for) never waits for it."""
    pipeline, _ = await board(firm_a)
    other, other_stages = await board(firm_a, name="Books")
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    async with Holder(db) as another:  # as a change of the target's stages
        await another.execute(
            "SELECT id FROM stage WHERE pipeline_id = $1 FOR NO KEY UPDATE", other.id
        )
        transfer = _alone(jobs.transfer_job(scope_of(firm_a), card.id, other.id))
        await another.wait_for_waiters(1)  # the transfer waits for the stage it enters
        free = await another.execute(
            "SELECT id FROM job WHERE id = $1 FOR UPDATE SKIP LOCKED", card.id
        )
        assert free == "SELECT 1"  # and does not hold the job meanwhile
        await another.commit()
    moved = await transfer
    assert (moved.pipeline_id, moved.stage_id) == (other.id, other_stages[0].id)


async def test_an_automations_move_under_its_jobs_lock_waits_for_no_stage(
    db: str, firm_a: NewFirm
) -> None:
    """An automation's action runs under its job's lock: it reads the stage it moves the job
    into without a lock (a share lock could wait for a change of the stages, which may wait
    for a move that waits for this job), and still counts its WIP limit under the pipeline's
    lock."""
    pipeline, stages = await board(firm_a)
    await manage.create_automation(
        scope_of(firm_a), stages[1].id, ActionType.MOVE_JOB, {"stageId": stages[2].id}
    )
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    async with Holder(db) as another:  # a change of the stages, holding them
        await another.execute(
            "SELECT id FROM stage WHERE pipeline_id = $1 FOR NO KEY UPDATE", pipeline.id
        )
        assert await asyncio.wait_for(_alone(runner.run_due()), 30) == 1  # waited for nothing
    assert (await Job.get(id=card.id)).stage_id == stages[2].id
    assert (await AutomationRun.get(job_id=card.id)).status == "SUCCEEDED"


async def test_a_move_the_database_fails_to_break_a_deadlock_is_run_again(
    db: str, firm_a: NewFirm, gql: GraphQL, caplog: pytest.LogCaptureFixture
) -> None:
    """A change chosen as a deadlock's victim changed nothing: the mutation runs it again
    (workflow.unit.retrying_deadlocks) and answers as if nothing had happened."""
    pipeline, stages = await board(firm_a)
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    async with Holder(db) as another:
        await another.execute("SELECT id FROM job WHERE id = $1 FOR UPDATE", card.id)
        move = _alone(gql(MOVE, j=gid("Job", card.id), s=gid("Stage", stages[1].id)))
        await another.wait_for_waiters(1)  # the move holds its stage, and waits for the job
        # A cycle: the move, which waited first, is the one its deadlock check fails.
        await another.execute("SELECT id FROM stage WHERE id = $1 FOR UPDATE", stages[1].id)
        await another.commit()
    data = await move
    assert data["moveJob"]["errors"] == []
    assert data["moveJob"]["job"] == {"version": 2, "stage": {"id": gid("Stage", stages[1].id)}}
    assert "chosen to break a deadlock" in caplog.text


async def test_a_job_entering_a_stage_whose_time_limit_changes_meanwhile_gets_the_new_one(
    db: str, firm_a: NewFirm
) -> None:
    """The stage a job enters is share-locked when read: a change of its limits that came
    first is waited for, and its limit is the one the job's deadline follows."""
    pipeline, stages = await board(firm_a)
    target = await pipelines.update_stage(scope_of(firm_a), stages[1].id, time_limit_days=5)
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    async with Holder(db) as another:  # changes the limit, not committed yet
        await another.execute("UPDATE stage SET time_limit_days = 10 WHERE id = $1", target.id)
        move = _alone(jobs.move_job(scope_of(firm_a), card.id, target.id))
        await another.wait_for_waiters(1)  # the move waits to read the stage
        await another.commit()
    moved = await move
    assert moved.stage_due_at is not None and moved.stage_entered_at is not None
    assert (moved.stage_due_at - moved.stage_entered_at).days == 10


async def test_an_automation_added_while_a_template_is_written_into_its_stage_waits_for_none(
    db: str, firm_a: NewFirm
) -> None:
    """Adding an automation locks its stage FOR NO KEY UPDATE, which a row written into the
    stage (its foreign key's KEY SHARE) does not wait for: a change holding the firm's row
    while it writes one (a job template) cannot deadlock with it."""
    _, stages = await board(firm_a)
    async with Holder(db) as another:  # as createJobTemplate: the firm's row, then the stage
        await another.execute("SELECT id FROM firm WHERE id = $1 FOR UPDATE", firm_a.firm.id)
        adding = _alone(
            manage.create_automation(
                scope_of(firm_a), stages[1].id, ActionType.CREATE_TASK, {"title": "Call"}
            )
        )
        await another.wait_for_waiters(1)  # the automation waits for the firm's row
        await another.execute("SELECT 1 FROM stage WHERE id = $1 FOR KEY SHARE", stages[1].id)
        await another.commit()
    added = await adding
    assert added.stage_id == stages[1].id


async def test_a_run_recorded_as_failed_is_held_before_its_job_so_claims_skip_it(
    db: str, firm_a: NewFirm
) -> None:
    """Recording a failed attempt locks the run, then its job, as a runner's claim does: a
    runner claiming meanwhile skips the run (SKIP LOCKED) instead of holding it while it waits
    for the job, which the recording, waiting for the run, would hold: a deadlock."""
    pipeline, stages = await board(firm_a)
    await manage.create_automation(
        scope_of(firm_a), stages[1].id, ActionType.CREATE_TASK, {"title": "Call"}
    )
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    run = await AutomationRun.get(job_id=card.id)
    async with Holder(db) as another:  # a change of the job, not committed yet
        await another.execute("SELECT id FROM job WHERE id = $1 FOR UPDATE", card.id)
        failing = _alone(
            runner._failed(runner.DueRun(run.id, firm_a.firm.id, 0), OSError("the action failed"))
        )
        await another.wait_for_waiters(1)  # the recording waits for the job
        claimable = await another.execute(
            "SELECT id FROM automation_run WHERE id = $1 FOR UPDATE SKIP LOCKED", run.id
        )
        assert claimable == "SELECT 0"  # held by the recording: a claim passes it by
        await another.commit()
    await failing
    assert (await AutomationRun.get(id=run.id)).attempts == 1


async def test_concurrent_moves_into_a_limited_stage_stop_exactly_at_its_limit(
    firm_a: NewFirm,
) -> None:
    pipeline, stages = await board(firm_a)
    await pipelines.update_stage(scope_of(firm_a), stages[2].id, wip_limit=3)
    avery = await client(firm_a)
    cards = [await job(firm_a, pipeline, avery, f"job {n}") for n in range(12)]
    outcomes = await asyncio.gather(
        *(_alone(jobs.move_job(scope_of(firm_a), c.id, stages[2].id)) for c in cards),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert len(refused) == 9 and {e.code for e in refused} == {ErrorCode.WIP_LIMIT_REACHED}
    assert all(isinstance(o, Job) or isinstance(o, DomainError) for o in outcomes), outcomes
    assert await Job.filter(stage_id=stages[2].id, status=JobStatus.ACTIVE).count() == 3


ACCEPTED = {
    ErrorCode.NOT_FOUND,  # an anchor or a stage gone meanwhile
    ErrorCode.INVALID_INPUT,  # a transfer of a job already there, an anchor that is the job
    ErrorCode.WRONG_PIPELINE,  # the job was transferred meanwhile
    ErrorCode.STAGE_NOT_EMPTY,
    ErrorCode.LAST_STAGE,
}


async def test_moves_never_deadlock_with_stage_changes_renumbering_transfers_and_bulk_moves(
    firm_a: NewFirm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rounds of everything at once on two pipelines; any error but an expected refusal (a
    deadlock PostgreSQL detects, a lock timeout) fails. Ranks this short renumber a stage
    every few moves."""
    monkeypatch.setattr(ranking, "REBALANCE_LENGTH", 2)
    scope = scope_of(firm_a)
    lead, lead_stages = await board(firm_a, ("A", "B", "C"), name="Lead")
    books, books_stages = await board(firm_a, ("D", "E"), name="Books")
    avery = await client(firm_a)
    cards = [await job(firm_a, lead, avery, f"job {n}") for n in range(10)]
    rng = random.Random(18)

    async def stages_of(pipeline_id: int) -> list[int]:
        from models import Stage

        ids = await Stage.filter(pipeline_id=pipeline_id).order_by("position")
        return [s.id for s in ids]

    for round_ in range(6):
        current = {c.id: await Job.get(id=c.id) for c in cards}
        lead_ids, books_ids = await stages_of(lead.id), await stages_of(books.id)
        work: list[Awaitable[Any]] = []
        for _ in range(12):
            card = current[rng.choice(cards).id]
            own = lead_ids if card.pipeline_id == lead.id else books_ids
            anchor = rng.choice([c for c in current.values() if c.id != card.id])
            work.append(
                jobs.move_job(
                    scope,
                    card.id,
                    rng.choice(own),
                    after_job_id=anchor.id if rng.random() < 0.5 else None,
                )
            )
        for card in rng.sample(list(current.values()), 2):
            to = books.id if card.pipeline_id == lead.id else lead.id
            work.append(jobs.transfer_job(scope, card.id, to))
        work.append(pipelines.reorder_stages(scope, lead.id, list(reversed(lead_ids))))
        work.append(pipelines.update_stage(scope, lead_ids[0], time_limit_days=round_ + 1))
        work.append(bulk.bulk_move_jobs(scope, [gid("Job", c.id) for c in cards[:4]], lead_ids[-1]))
        extra = await pipelines.create_stage(scope, lead.id, f"extra {round_}")
        work.append(pipelines.delete_stage(scope, extra.id, move_jobs_to=lead_ids[0]))
        work.append(jobs.move_job(scope, cards[5].id, extra.id))
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(_alone(w) for w in work), return_exceptions=True), 60
        )
        for outcome in outcomes:
            if isinstance(outcome, DomainError):
                assert outcome.code in ACCEPTED, outcome
            else:
                assert not isinstance(outcome, BaseException), repr(outcome)
    for pipeline in (lead, books):  # the log: contiguous, and it replays to the board
        events = await JobEvent.filter(pipeline_id=pipeline.id).order_by("seq")
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
    ranks: dict[int, list[str]] = defaultdict(list)
    for card in await Job.filter(firm_id=firm_a.firm.id):
        ranks[card.stage_id].append(card.rank)
        history = await JobEvent.filter(job_id=card.id).order_by("id")
        placed = [e for e in history if e.to_stage_id is not None]
        assert (placed[-1].pipeline_id, placed[-1].to_stage_id) == (card.pipeline_id, card.stage_id)
        assert [e.job_version for e in history if e.type != "JOB_TRANSFERRED_OUT"] == list(
            range(1, card.version + 1)
        )
        assert history[-1].job_version == card.version
    assert all(len(set(r)) == len(r) for r in ranks.values())


async def test_an_automations_move_gets_the_time_limit_a_change_of_the_stage_commits_meanwhile(
    db: str, firm_a: NewFirm
) -> None:
    """An automation's move reads its target stage without a lock (it holds its job: see
    workflow.unit). A change of that stage's time limit (as update_stage: the stages, the
    stage's jobs, the pipeline, then the new limit) not committed when the move reads the
    stage rewrites the deadlines of the jobs it locked only: the move reads the limit again
    under the pipeline's lock, and its job's deadline follows it."""
    pipeline, stages = await board(firm_a)
    await pipelines.update_stage(scope_of(firm_a), stages[2].id, time_limit_days=5)
    await manage.create_automation(
        scope_of(firm_a), stages[1].id, ActionType.MOVE_JOB, {"stageId": stages[2].id}
    )
    card = await job(firm_a, pipeline, await client(firm_a), "Avery 2025")
    await jobs.move_job(scope_of(firm_a), card.id, stages[1].id)
    async with Holder(db) as another:  # update_stage(stages[2], time_limit_days=10), mid-way
        await another.execute(
            "SELECT id FROM stage WHERE pipeline_id = $1 ORDER BY id FOR NO KEY UPDATE",
            pipeline.id,
        )
        await another.execute(
            "SELECT id FROM job WHERE stage_id = $1 ORDER BY id FOR UPDATE", stages[2].id
        )
        await another.execute(
            "SELECT id FROM pipeline WHERE id = $1 FOR NO KEY UPDATE", pipeline.id
        )
        await another.execute("UPDATE stage SET time_limit_days = 10 WHERE id = $1", stages[2].id)
        running = _alone(runner.run_due())
        await another.wait_for_waiters(1)  # the run waits for the pipeline, at its end
        await another.commit()
    assert await running == 1
    moved = await Job.get(id=card.id)
    assert moved.stage_id == stages[2].id
    assert moved.stage_due_at is not None and moved.stage_entered_at is not None
    assert (moved.stage_due_at - moved.stage_entered_at).days == 10
