"""Starting an export of a pipeline (models.export), and what the deployment says about
exports: where their files go, how long they are kept, the address they are read at.

The export itself runs in the background (exporter.runner): startExport only records it, so a
request never waits for a board of any size. Limits: `include` names each part once at most
(MAX_INCLUDE values), and a firm has at most FIRM_MAX_OPEN exports waiting or running at once
(more are refused, INVALID_INPUT on pipelineId: the firm waits for one to finish); how many
of them run at once is the runner's business (FIRM_RUNNING, fair between firms).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from models import Export, ExportInclude, ExportStatus, Pipeline
from workflow.errors import invalid
from workflow.scope import Scope
from workflow.unit import EXPORTS, change, owe

FIRM_MAX_OPEN = 5  # exports of one firm PENDING or RUNNING at once
MAX_INCLUDE = len(ExportInclude)  # a list longer than the values repeats some: refused


@dataclass(frozen=True)
class Config:
    folder: Path = Path("exports")
    retention: timedelta = timedelta(hours=24)
    public_url: str = "http://127.0.0.1:8000"


CONFIG = Config()


def configure(folder: str, retention_hours: int, public_url: str) -> None:
    """Where files go, how long they are kept, and the base of their URLs (web.workers)."""
    global CONFIG
    CONFIG = Config(Path(folder), timedelta(hours=retention_hours), public_url.rstrip("/"))


def file_path(export: Export) -> Path | None:
    """The finished file of an export, if it has one."""
    return CONFIG.folder / export.file_name if export.file_name else None


def url(export_id: str) -> str:
    """Where the export (its global id) is read: GET /exports/{id}."""
    return f"{CONFIG.public_url}/exports/{export_id}"


def _include(values: list[str]) -> list[str]:
    if len(values) > MAX_INCLUDE:
        raise invalid("include", f"include names at most {MAX_INCLUDE} values, each once")
    chosen = set(values)
    if unknown := chosen - set(ExportInclude):
        raise invalid("include", f"unknown include values: {', '.join(sorted(unknown)[:5])}")
    return [value for value in ExportInclude if value in chosen]  # in a stable order


async def start_export(scope: Scope, pipeline_id: int, include: list[str]) -> Export:
    """Record an export of one of the firm's pipelines, to be run in the background."""
    parts = _include(include)
    async with change(scope):
        await scope.get(Pipeline, pipeline_id, field="pipelineId")
        # Two starts at once may both pass the count (PostgreSQL): a soft cap, by one or two.
        open_exports = (
            await scope.query(Export)
            .filter(status__in=(ExportStatus.PENDING, ExportStatus.RUNNING))
            .count()
        )
        if open_exports >= FIRM_MAX_OPEN:
            raise invalid(
                "pipelineId",
                f"at most {FIRM_MAX_OPEN} exports of a firm wait or run at once: "
                "start this one when one of them has finished",
            )
        export = await Export.create(
            firm_id=scope.firm_id,
            pipeline_id=pipeline_id,
            requested_by_id=scope.user_id,
            include=parts,
        )
        owe(EXPORTS)
    return export
