"""GET /exports/{id}: an export's file, to a caller of its firm with READ (the permission of
the board it holds), streamed from disk in chunks. Another firm's export, or an id that names
none, is 404 alike; an export of the caller's firm not finished yet is 409, one past its
retention (or failed) 410."""

from __future__ import annotations

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from models import Export, ExportStatus, Permission
from web.middleware import _send_error, staff_caller
from workflow import exports
from workflow.global_ids import parse_global_id
from workflow.scope import MAX_ROW_ID

MEDIA_TYPE = "application/x-ndjson"


class ExportDownload:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (caller := await staff_caller(scope, send)) is None:
            return
        if not caller.can(Permission.READ):
            await _send_error(send, 403, "FORBIDDEN", "the READ scope is required")
            return
        parsed = parse_global_id(str(scope.get("path_params", {}).get("export_id", "")))
        export = None
        if parsed is not None and parsed[0] == "Export" and 0 < parsed[1] <= MAX_ROW_ID:
            export = await Export.filter(id=parsed[1], firm_id=caller.firm_id).first()
        if export is None:
            await _send_error(send, 404, "NOT_FOUND", "no such export")
            return
        if export.status in (ExportStatus.PENDING, ExportStatus.RUNNING):
            await _send_error(send, 409, "NOT_READY", "the export has not finished: retry later")
            return
        path = exports.file_path(export)
        if export.status != ExportStatus.FINISHED or path is None or not path.is_file():
            await _send_error(send, 410, "GONE", "the export's file is gone (expired or failed)")
            return
        response = FileResponse(
            path,
            media_type=MEDIA_TYPE,
            filename=f"export-{export.id}.jsonl",
            headers={"cache-control": "no-store"},
        )
        await response(scope, receive, send)
