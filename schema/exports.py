"""Exports in the graph: the Export type, its enums, input and payload."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry import ID

from models import Export, ExportInclude, ExportStatus
from realtime.hub import FeedKey
from schema.errors import UserError
from schema.feed_cursors import encode_feed_cursor
from schema.node import Node, encode_id
from workflow import exports

ExportStatusEnum = Annotated[ExportStatus, strawberry.enum(name="ExportStatus")]
ExportIncludeEnum = Annotated[ExportInclude, strawberry.enum(name="ExportInclude")]


@strawberry.type(
    name="Export",
    description="A pipeline's jobs as JSON Lines, written in the background from one snapshot "
    "of the board (docs/api.md#exports).",
)
class ExportType(Node):
    status: ExportStatusEnum
    include: list[ExportIncludeEnum]
    job_count: int = strawberry.field(description="Jobs in the file; 0 until FINISHED.")
    cursor: str | None = strawberry.field(
        description="The board's place in its event feed at the snapshot (null until "
        "FINISHED): `boardUpdated(pipelineId, after: cursor)` delivers every change after "
        "it, none missing and none already in the file."
    )
    url: str | None = strawberry.field(
        description="`GET` it with the bearer token while FINISHED: the file, one job a line."
    )
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None = strawberry.field(
        description="When the file is deleted (EXPORT_RETENTION_HOURS after it finished)."
    )

    @classmethod
    def from_model(cls, export: Export) -> ExportType:
        export_id = encode_id("Export", export.id)
        finished = export.status == ExportStatus.FINISHED
        return cls(
            id=export_id,
            status=export.status,
            include=[ExportInclude(value) for value in export.include],
            job_count=export.job_count,
            cursor=None
            if export.event_seq is None
            else encode_feed_cursor(FeedKey("pipeline", export.pipeline_id), export.event_seq),
            url=exports.url(export_id) if finished else None,
            created_at=export.created_at,
            finished_at=export.finished_at,
            expires_at=export.expires_at,
        )


@strawberry.input
class StartExportInput:
    pipeline_id: ID
    include: list[ExportIncludeEnum] = strawberry.field(
        default_factory=list,
        description="What each line holds beside the job and its stage (each value once).",
    )


@strawberry.type
class ExportPayload:
    export: ExportType | None
    errors: list[UserError]
