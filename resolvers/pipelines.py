"""Pipelines and stages: queries and mutations."""

from __future__ import annotations

import strawberry

from automations import pipeline_templates
from models import Pipeline
from resolvers.common import delete, mutate, payload, provided
from schema.connection import Connection, root_connection
from schema.context import Info
from schema.errors import UserError
from schema.inputs import (
    CreatePipelineInput,
    CreateStageInput,
    DeletePipelineInput,
    DeleteStageInput,
    ImportPipelineTemplateInput,
    ReorderStagesInput,
    UpdatePipelineInput,
    UpdateStageInput,
)
from schema.payloads import (
    DeletePayload,
    DeleteStagePayload,
    ImportPipelineTemplatePayload,
    PipelinePayload,
    StagePayload,
    TemplateWarning,
)
from schema.types import PipelineType, StageType
from workflow import pipelines
from workflow.global_ids import decode_id, decode_optional

_pipeline = payload(PipelinePayload, "pipeline", PipelineType.from_model)
_stage = payload(StagePayload, "stage", StageType.from_model)


@strawberry.type
class PipelineQueries:
    @strawberry.field
    async def pipelines(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[PipelineType]:
        queryset = info.context.scope.query(Pipeline)
        return await root_connection(queryset, first, after, PipelineType.from_model)

    @strawberry.field
    async def pipeline(self, info: Info, id: strawberry.ID) -> PipelineType | None:
        pipeline = await info.context.loaders.pipeline.load(decode_id(id, "Pipeline", "id"))
        return PipelineType.from_model(pipeline) if pipeline else None


@strawberry.type
class PipelineMutations:
    @strawberry.mutation
    async def create_pipeline(self, info: Info, input: CreatePipelineInput) -> PipelinePayload:
        return await mutate(
            info,
            _pipeline,
            lambda scope: pipelines.create_pipeline(scope, input.name, input.stage_names),
        )

    @strawberry.mutation(
        description="A new pipeline from a template (`Pipeline.template`), in one change: what "
        "the template names that this firm lacks is reported in `warnings`, never guessed."
    )
    async def import_pipeline_template(
        self, info: Info, input: ImportPipelineTemplateInput
    ) -> ImportPipelineTemplatePayload:
        def answer(
            result: tuple[Pipeline, list[pipeline_templates.TemplateWarning]] | None,
            errors: list[UserError],
        ) -> ImportPipelineTemplatePayload:
            pipeline, warnings = result or (None, [])
            return ImportPipelineTemplatePayload(
                pipeline=PipelineType.from_model(pipeline) if pipeline else None,
                warnings=[TemplateWarning(path=w.path, message=w.message) for w in warnings],
                errors=errors,
            )

        return await mutate(
            info,
            answer,
            lambda scope: pipeline_templates.import_template(scope, input.template, input.name),
        )

    @strawberry.mutation
    async def update_pipeline(self, info: Info, input: UpdatePipelineInput) -> PipelinePayload:
        return await mutate(
            info,
            _pipeline,
            lambda scope: pipelines.update_pipeline(
                scope, decode_id(input.id, "Pipeline", "id"), input.name
            ),
        )

    @strawberry.mutation
    async def delete_pipeline(self, info: Info, input: DeletePipelineInput) -> DeletePayload:
        return await delete(info, input.id, "Pipeline", pipelines.delete_pipeline)

    @strawberry.mutation
    async def create_stage(self, info: Info, input: CreateStageInput) -> StagePayload:
        return await mutate(
            info,
            _stage,
            lambda scope: pipelines.create_stage(
                scope,
                decode_id(input.pipeline_id, "Pipeline", "pipelineId"),
                input.name,
                input.position,
                input.wip_limit,
                input.time_limit_days,
                input.auto_move,
                input.portal_name,
            ),
        )

    @strawberry.mutation
    async def update_stage(self, info: Info, input: UpdateStageInput) -> StagePayload:
        changes = provided(
            name=input.name,
            wip_limit=input.wip_limit,
            time_limit_days=input.time_limit_days,
            auto_move=input.auto_move,
            portal_name=input.portal_name,
        )
        if changes.get("auto_move", False) is None:
            changes["auto_move"] = False
        if changes.get("name", "") is None:
            changes["name"] = ""  # a name cannot be cleared: validation says so
        return await mutate(
            info,
            _stage,
            lambda scope: pipelines.update_stage(
                scope, decode_id(input.id, "Stage", "id"), **changes
            ),
        )

    @strawberry.mutation
    async def delete_stage(self, info: Info, input: DeleteStageInput) -> DeleteStagePayload:
        def deleted(pipeline: Pipeline | None, errors: list[UserError]) -> DeleteStagePayload:
            return DeleteStagePayload(
                deleted_id=input.id if pipeline else None,
                pipeline=PipelineType.from_model(pipeline) if pipeline else None,
                errors=errors,
            )

        return await mutate(
            info,
            deleted,
            lambda scope: pipelines.delete_stage(
                scope,
                decode_id(input.id, "Stage", "id"),
                decode_optional(input.move_jobs_to_stage_id, "Stage", "moveJobsToStageId"),
            ),
        )

    @strawberry.mutation
    async def reorder_stages(self, info: Info, input: ReorderStagesInput) -> PipelinePayload:
        return await mutate(
            info,
            _pipeline,
            lambda scope: pipelines.reorder_stages(
                scope,
                decode_id(input.pipeline_id, "Pipeline", "pipelineId"),
                [decode_id(i, "Stage", "stageIds") for i in input.stage_ids],
            ),
        )
