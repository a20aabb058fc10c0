"""Pipelines and stages: create, rename, reorder, delete."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError

from models import EventType, Job, JobStatus, JobTemplate, Pipeline, Stage
from workflow import deadlines, validation
from workflow.errors import DomainError, ErrorCode, invalid
from workflow.jobs import STAGE_KEY, check_stage_under_lock, enter_stage
from workflow.scope import Scope
from workflow.unit import Change, change

STAGES_MAX = 50


async def create_pipeline(scope: Scope, name: str, stage_names: list[str]) -> Pipeline:
    pipeline_name = validation.name(name, "name")
    if not stage_names:
        raise invalid("stageNames", "a pipeline needs at least one stage")
    if len(stage_names) > STAGES_MAX:
        raise invalid("stageNames", f"a pipeline has at most {STAGES_MAX} stages")
    names = [validation.name(n, "stageNames") for n in stage_names]
    async with change(scope):
        pipeline = await Pipeline.create(firm_id=scope.firm_id, name=pipeline_name)
        for position, stage_name in enumerate(names):
            await Stage.create(
                firm_id=scope.firm_id, pipeline_id=pipeline.id, name=stage_name, position=position
            )
    return pipeline


async def update_pipeline(scope: Scope, pipeline_id: int, name: str) -> Pipeline:
    new_name = validation.name(name, "name")
    async with change(scope) as unit:
        await unit.lock_pipelines([pipeline_id], field="id")
        pipeline = unit.pipeline(pipeline_id)
        pipeline.name = new_name
        await pipeline.save(update_fields=["name", "updated_at"])
    return pipeline


async def delete_pipeline(scope: Scope, pipeline_id: int) -> None:
    """Delete an empty pipeline with its stages; one holding jobs (even archived), or that job
    templates use, is refused."""
    async with change(scope) as unit:
        # FOR UPDATE: a job being written into it (its foreign key) is waited for
        await unit.lock_pipelines([pipeline_id], field="id", deleting=True)
        if await Job.filter(pipeline_id=pipeline_id).exists():
            raise DomainError(
                ErrorCode.PIPELINE_NOT_EMPTY,
                "the pipeline still holds jobs: transfer them first",
                "id",
            )
        if await JobTemplate.filter(pipeline_id=pipeline_id).exists():
            raise DomainError(
                ErrorCode.PIPELINE_NOT_EMPTY,
                "job templates make jobs in the pipeline: delete them first",
                "id",
            )
        await unit.pipeline(pipeline_id).delete()


async def _stages(pipeline_id: int) -> list[Stage]:
    return await Stage.filter(pipeline_id=pipeline_id).order_by("position", "id")


async def _renumber(unit: Change, pipeline_id: int, stages: list[Stage]) -> None:
    for position, stage in enumerate(stages):
        if stage.position != position:
            stage.position = position
            await stage.save(update_fields=["position", "updated_at"])
    await unit.record(pipeline_id, EventType.STAGE_CHANGED, changes={"stages": "reordered"})


async def create_stage(
    scope: Scope,
    pipeline_id: int,
    name: str,
    position: int | None = None,
    wip_limit: int | None = None,
    time_limit_days: int | None = None,
    auto_move: bool = False,
    portal_name: str | None = None,
) -> Stage:
    stage_name = validation.name(name, "name")
    if portal_name is not None:
        portal_name = validation.name(portal_name, "portalName")
    validation.optional_positive(wip_limit, "wipLimit")
    validation.optional_positive(time_limit_days, "timeLimitDays", 3650)
    async with change(scope) as unit:
        await scope.get(Pipeline, pipeline_id, field="pipelineId")
        await unit.lock_stages(pipeline_id)  # the stages, then the pipeline (workflow.unit)
        await unit.lock_pipelines([pipeline_id], field="pipelineId")
        stages = await _stages(pipeline_id)
        if len(stages) >= STAGES_MAX:
            raise invalid("pipelineId", f"a pipeline has at most {STAGES_MAX} stages")
        if position is None:
            position = len(stages)
        if not 0 <= position <= len(stages):
            raise invalid("position", f"position must be between 0 and {len(stages)}")
        stage = await Stage.create(
            firm_id=scope.firm_id,
            pipeline_id=pipeline_id,
            name=stage_name,
            position=position,
            wip_limit=wip_limit,
            time_limit_days=time_limit_days,
            auto_move=auto_move,
            portal_name=portal_name,
        )
        stages.insert(position, stage)
        if auto_move and stage is stages[-1]:
            raise invalid("autoMove", "the last stage has no next stage to move jobs on to")
        await _renumber(unit, pipeline_id, stages)
    return stage


async def update_stage(scope: Scope, stage_id: int, **changes: object) -> Stage:
    """Change any of name, wip_limit, time_limit_days (None clears a limit), auto_move,
    portal_name (None clears it: clients then see the stage's name)."""
    if "name" in changes:
        changes["name"] = validation.name(str(changes["name"]), "name")
    if changes.get("portal_name") is not None:
        changes["portal_name"] = validation.name(str(changes["portal_name"]), "portalName")
    if "wip_limit" in changes:
        validation.optional_positive(changes["wip_limit"], "wipLimit")
    if "time_limit_days" in changes:
        validation.optional_positive(changes["time_limit_days"], "timeLimitDays", 3650)
    stage = await scope.get(Stage, stage_id, field="id")
    async with change(scope) as unit:
        # The stages, then (a new time limit rewrites them) the stage's jobs, the pipeline
        # last (workflow.unit's lock order).
        limit = "time_limit_days" in changes and changes["time_limit_days"] != stage.time_limit_days
        held = await unit.lock_stages(stage.pipeline_id, jobs_of=stage.id if limit else None)
        await unit.lock_pipelines([stage.pipeline_id])
        stage = await scope.get(Stage, stage_id, field="id")
        last = await Stage.filter(pipeline_id=stage.pipeline_id).order_by("-position").first()
        if changes.get("auto_move") and last is not None and last.id == stage.id:
            raise invalid("autoMove", "the last stage has no next stage to move jobs on to")
        limit_changed = (
            "time_limit_days" in changes and changes["time_limit_days"] != stage.time_limit_days
        )
        for key, value in changes.items():
            setattr(stage, key, value)
        await stage.save(update_fields=[*changes, "updated_at"])
        if limit_changed:
            await deadlines.stage_limit_changed(held, stage.time_limit_days)
        await unit.record(
            stage.pipeline_id,
            EventType.STAGE_CHANGED,
            changes={"stage": stage.id, "fields": sorted(changes)},
        )
    return stage


async def delete_stage(scope: Scope, stage_id: int, move_jobs_to: int | None = None) -> Pipeline:
    """Delete a stage; its jobs go to `move_jobs_to` (same pipeline), or the delete is refused."""
    stage = await scope.get(Stage, stage_id, field="id")
    async with change(scope) as unit:
        # The stages, then its jobs, then the pipeline, at the end with the events
        # (workflow.unit's lock order). A job that enters the stage meanwhile makes the
        # stage's DELETE fail on its foreign key: then all of it again (a savepoint).
        unit.defer_sequences()
        for attempt in range(_DELETE_TRIES):
            try:
                async with unit.savepoint():
                    await _delete_stage(unit, stage, move_jobs_to)
                break
            except IntegrityError as error:
                if STAGE_KEY not in str(error):
                    raise
                if attempt == _DELETE_TRIES - 1:
                    raise DomainError(
                        ErrorCode.VERSION_CONFLICT, "jobs keep entering the stage: try again", "id"
                    ) from None
        await unit.lock_pipelines([stage.pipeline_id])
    return unit.pipeline(stage.pipeline_id)


_DELETE_TRIES = 3


async def _delete_stage(unit: Change, stage: Stage, move_jobs_to: int | None) -> None:
    scope, stage_id = unit.scope, stage.id
    jobs = sorted(await unit.lock_stages(stage.pipeline_id, jobs_of=stage_id), key=_by_rank)
    stages = await _stages(stage.pipeline_id)
    if len(stages) == 1:
        raise DomainError(ErrorCode.LAST_STAGE, "a pipeline keeps at least one stage", "id")
    if jobs and move_jobs_to is None:
        raise DomainError(
            ErrorCode.STAGE_NOT_EMPTY,
            "the stage still holds jobs: say where they go (moveJobsToStageId)",
            "moveJobsToStageId",
        )
    if jobs:
        target = await scope.get(Stage, move_jobs_to or 0, field="moveJobsToStageId")
        if target.pipeline_id != stage.pipeline_id or target.id == stage.id:
            raise DomainError(
                ErrorCode.WRONG_PIPELINE,
                "jobs can only go to another stage of the same pipeline",
                "moveJobsToStageId",
            )
        arriving = sum(job.status == JobStatus.ACTIVE for job in jobs)
        if (
            target.wip_limit is not None
            and arriving + await Job.filter(stage_id=target.id, status=JobStatus.ACTIVE).count()
            > target.wip_limit
        ):
            raise DomainError(
                ErrorCode.WIP_LIMIT_REACHED,
                f"stage {target.name!r} cannot take these jobs within its limit of "
                f"{target.wip_limit} active jobs",
                "moveJobsToStageId",
            )
        for job in jobs:
            await enter_stage(unit, job, target, check_wip=False)
        check_stage_under_lock(unit, target)
    await Stage.filter(id=stage_id).delete()
    await _renumber(unit, stage.pipeline_id, [s for s in stages if s.id != stage_id])


def _by_rank(job: Job) -> str:
    return job.rank


async def reorder_stages(scope: Scope, pipeline_id: int, stage_ids: list[int]) -> Pipeline:
    """Put the pipeline's stages in the given order; every stage must be named exactly once."""
    async with change(scope) as unit:
        await scope.get(Pipeline, pipeline_id, field="pipelineId")
        await unit.lock_stages(pipeline_id)  # the stages, then the pipeline (workflow.unit)
        await unit.lock_pipelines([pipeline_id], field="pipelineId")
        stages = {stage.id: stage for stage in await _stages(pipeline_id)}
        if sorted(stage_ids) != sorted(stages):
            raise invalid("stageIds", "stageIds must list every stage of the pipeline once")
        await _renumber(unit, pipeline_id, [stages[i] for i in stage_ids])
    return unit.pipeline(pipeline_id)
