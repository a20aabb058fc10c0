from tortoise import migrations
from tortoise.migrations import operations as ops
from models.event import EventType
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_client_side')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Job',
            name='due_overdue_announced',
            field=fields.BooleanField(default=False),
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
            field=fields.BooleanField(default=False),
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
    ]
