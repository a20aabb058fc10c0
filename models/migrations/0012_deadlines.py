from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps
from models import writes
from models.event import EventType
from tortoise import fields
from tortoise.indexes import Index

# The jobs that exist when deadlines arrive get their stage_due_at and schedule, by the rules
# of workflow.deadlines (copied here: a migration keeps the rules of its day). A crossing
# already passed counts as announced: deploying announces no backlog (isOverdue still shows
# it); the crossings still to come are announced when they pass.
JOBS = (
    'SELECT "job"."id", "job"."status", "job"."stage_entered_at", "job"."due_date", '
    '"stage"."time_limit_days" FROM "job" JOIN "stage" ON "stage"."id" = "job"."stage_id" '
    'WHERE "stage"."time_limit_days" IS NOT NULL OR "job"."due_date" IS NOT NULL'
)
SET = (
    'UPDATE "job" SET "stage_due_at" = ?, "overdue_check_at" = ?, '
    '"stage_overdue_announced" = ?, "due_overdue_announced" = ? WHERE "id" = ?'
)


def _datetime(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def schedule_existing_jobs(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    statement = SET.replace("?", "${}").format(1, 2, 3, 4, 5) if postgres else SET
    now = datetime.now(UTC)
    rows = []
    for job in await client.execute_query_dict(JOBS):
        limit = job["time_limit_days"]
        entered, due = _datetime(job["stage_entered_at"]), job["due_date"]
        stage_due = None if limit is None else entered + timedelta(days=limit)
        day_after = None if due is None else _date(due) + timedelta(days=1)
        due_passes = None if day_after is None else datetime.combine(day_after, time(), tzinfo=UTC)
        pending = [at for at in (stage_due, due_passes) if at is not None and at > now]
        check_at = min(pending) if pending and job["status"] == "ACTIVE" else None
        values: list[object] = [
            stage_due, check_at, stage_due is not None and stage_due <= now,
            due_passes is not None and due_passes <= now,
        ]
        if not postgres:  # stored as tortoise stores them on SQLite
            values = [str(v) if isinstance(v, datetime) else v for v in values]
        rows.append([*values, job["id"]])
    if rows:
        # No process serves these columns yet: nothing the query result cache holds is stale.
        with writes.changing():
            await client.execute_many(statement, rows)

class Migration(migrations.Migration):
    dependencies = [('models', '0011_client_side')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='due_overdue_announced',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='Job',
            name='overdue_check_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Job',
            name='stage_due_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Job',
            name='stage_overdue_announced',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddIndex(
            model_name='Job',
            index=Index(fields=['overdue_check_at']),
        ),
        ops.AlterField(
            model_name='JobEvent',
            name='type',
            field=fields.CharEnumField(description='JOB_CREATED: JOB_CREATED\nJOB_MOVED: JOB_MOVED\nJOB_TRANSFERRED_IN: JOB_TRANSFERRED_IN\nJOB_TRANSFERRED_OUT: JOB_TRANSFERRED_OUT\nJOB_UPDATED: JOB_UPDATED\nJOB_ARCHIVED: JOB_ARCHIVED\nTASK_CHANGED: TASK_CHANGED\nSTAGE_CHANGED: STAGE_CHANGED\nORGANIZER_CHANGED: ORGANIZER_CHANGED\nMESSAGE_SENT: MESSAGE_SENT\nINVOICE_CHANGED: INVOICE_CHANGED\nAUTOMATION_RAN: AUTOMATION_RAN\nJOB_OVERDUE: JOB_OVERDUE\nCLIENT_SUBMITTED_ORGANIZER: CLIENT_SUBMITTED_ORGANIZER\nCLIENT_REPLIED: CLIENT_REPLIED\nINVOICE_PAID: INVOICE_PAID', enum_type=EventType, max_length=30),
        ),
        ops.RunPython(schedule_existing_jobs),
    ]
