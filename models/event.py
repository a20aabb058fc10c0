"""The append-only event log: the history of every job and the source of board events."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from models.firm import Firm, User
from models.job import Job
from models.pipeline import Pipeline


class EventType(StrEnum):
    JOB_CREATED = "JOB_CREATED"
    JOB_MOVED = "JOB_MOVED"
    JOB_TRANSFERRED_IN = "JOB_TRANSFERRED_IN"
    JOB_TRANSFERRED_OUT = "JOB_TRANSFERRED_OUT"
    JOB_UPDATED = "JOB_UPDATED"
    JOB_ARCHIVED = "JOB_ARCHIVED"
    TASK_CHANGED = "TASK_CHANGED"
    STAGE_CHANGED = "STAGE_CHANGED"
    ORGANIZER_CHANGED = "ORGANIZER_CHANGED"
    MESSAGE_SENT = "MESSAGE_SENT"
    INVOICE_CHANGED = "INVOICE_CHANGED"
    AUTOMATION_RAN = "AUTOMATION_RAN"
    JOB_OVERDUE = "JOB_OVERDUE"  # the scheduler: a job passed its stage limit or due date
    # The client's side, done in the portal (or the invoice paid):
    CLIENT_SUBMITTED_ORGANIZER = "CLIENT_SUBMITTED_ORGANIZER"
    CLIENT_REPLIED = "CLIENT_REPLIED"
    INVOICE_PAID = "INVOICE_PAID"


class JobEvent(Model):
    """One change, written in the transaction that made it.

    seq is the pipeline's own sequence, taken under a lock on the pipeline row, so within a
    pipeline commit order and seq order agree: "every event after seq N" is exact. A transfer
    writes one event in each pipeline. STAGE_CHANGED events concern the board, not a job.
    """

    id: int = fields.BigIntField(primary_key=True)
    firm: fields.ForeignKeyRelation[Firm] = fields.ForeignKeyField(
        "models.Firm", related_name="events", on_delete=fields.CASCADE
    )
    pipeline: fields.ForeignKeyRelation[Pipeline] = fields.ForeignKeyField(
        "models.Pipeline", related_name="events", on_delete=fields.CASCADE
    )
    seq: int = fields.BigIntField()
    job: fields.ForeignKeyNullableRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="events", null=True, on_delete=fields.CASCADE
    )
    type = fields.CharEnumField(EventType, max_length=30)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    from_stage_id = fields.IntField(null=True)
    to_stage_id = fields.IntField(null=True)
    from_pipeline_id = fields.IntField(null=True)
    to_pipeline_id = fields.IntField(null=True)
    job_version = fields.IntField(null=True)
    changes: dict[str, object] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)

    firm_id: int
    pipeline_id: int
    job_id: int | None
    actor_id: int | None

    class Meta:
        table = "job_event"
        unique_together = (("pipeline", "seq"),)
        indexes = (("job_id", "id"),)
