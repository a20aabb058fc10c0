"""Exports: a pipeline's jobs written as JSON Lines to a file, in the background, from one
consistent snapshot of the board (exporter.runner does the work, workflow.exports starts it)."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm
from models.pipeline import Pipeline


class ExportStatus(StrEnum):
    PENDING = "PENDING"  # waiting for a worker (also after a worker died: its lease expired)
    RUNNING = "RUNNING"  # leased by a worker until lease_until
    FINISHED = "FINISHED"  # the file is there until expires_at
    FAILED = "FAILED"  # out of attempts
    EXPIRED = "EXPIRED"  # past its retention: the file is deleted


class ExportInclude(StrEnum):
    """What a line holds beside the job's own fields and its stage."""

    TASKS = "TASKS"
    ASSIGNEES = "ASSIGNEES"
    CLIENT = "CLIENT"
    ARCHIVED = "ARCHIVED"  # archived jobs too (otherwise ACTIVE and COMPLETED, as boards)


class Export(Model):
    """One export of one pipeline.

    A worker claims a PENDING row by leasing it (status RUNNING, lease_until, attempts + 1),
    reads the board in one transaction and records the pipeline event_seq of that snapshot,
    so the export cursor continues the board feed right after it. Only the attempt that holds
    the lease (same attempts) may finish it.
    """

    id = fields.IntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="exports", on_delete=fields.CASCADE
    )
    pipeline: fields.ForeignKeyRelation[Pipeline] = fields.ForeignKeyField(
        "models.Pipeline", related_name="exports", on_delete=fields.CASCADE
    )
    requested_by_id = fields.IntField(null=True)  # the user, for the record
    include: list[str] = fields.JSONField(default=list)
    status = fields.CharEnumField(ExportStatus, max_length=10, default=ExportStatus.PENDING)
    attempts = fields.IntField(default=0)
    lease_until = fields.DatetimeField(null=True)
    job_count = fields.IntField(default=0)
    event_seq = fields.BigIntField(null=True)  # the snapshot board position
    file_name = fields.CharField(max_length=100, null=True)
    error = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)

    firm_id: int
    pipeline_id: int

    class Meta:
        table = "export"
        indexes = (("status", "firm_id"), ("expires_at",))
