"""Exports: start one, and read where it stands."""

from __future__ import annotations

import strawberry

from models import Export
from resolvers.common import mutate, payload
from schema.context import Info
from schema.exports import ExportPayload, ExportType, StartExportInput
from workflow import exports
from workflow.global_ids import decode_id

_export = payload(ExportPayload, "export", ExportType.from_model)


@strawberry.type
class ExportQueries:
    @strawberry.field(description="An export of the firm's; null if there is none.")
    async def export(self, info: Info, id: strawberry.ID) -> ExportType | None:
        export = await info.context.loaders.by_id(Export).load(decode_id(id, "Export", "id"))
        return ExportType.from_model(export) if export else None


@strawberry.type
class ExportMutations:
    @strawberry.mutation(
        description="Export a pipeline's jobs to a JSON Lines file, in the background: poll "
        "`export(id:)` or wait for the EXPORT_FINISHED webhook."
    )
    async def start_export(self, info: Info, input: StartExportInput) -> ExportPayload:
        return await mutate(
            info,
            _export,
            lambda scope: exports.start_export(
                scope,
                decode_id(input.pipeline_id, "Pipeline", "pipelineId"),
                [str(value) for value in input.include],
            ),
        )
