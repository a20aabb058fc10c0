from tortoise import migrations
from tortoise.migrations import operations as ops
from models.automation import ActionType
from models.documents import InvoiceStatus, OrganizerStatus
from models.event import EventType
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_more_actions')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Invoice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='invoices', on_delete=OnDelete.CASCADE)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='invoices', on_delete=OnDelete.CASCADE)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='invoices', on_delete=OnDelete.CASCADE)),
                ('stage_id', fields.IntField()),
                ('currency', fields.CharField(max_length=3)),
                ('line_items', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('total_cents', fields.BigIntField()),
                ('status', fields.CharEnumField(default=InvoiceStatus.UNPAID, description='UNPAID: UNPAID\nPAID: PAID', enum_type=InvoiceStatus, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('paid_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'invoice', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An invoice to the client for a job, with amounts in cents.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Message',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('subject', fields.CharField(max_length=500)),
                ('body', fields.TextField(unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message to the client about a job.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Organizer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='organizers', on_delete=OnDelete.CASCADE)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='organizers', on_delete=OnDelete.CASCADE)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='organizers', on_delete=OnDelete.CASCADE)),
                ('stage_id', fields.IntField()),
                ('title', fields.CharField(max_length=200)),
                ('questions', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('answers', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=OrganizerStatus.SENT, description='SENT: SENT\nSUBMITTED: SUBMITTED', enum_type=OrganizerStatus, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('submitted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'organizer', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A questionnaire sent to the client.'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Automation',
            name='action',
            field=fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB\nSEND_ORGANIZER: SEND_ORGANIZER\nSEND_MESSAGE: SEND_MESSAGE\nCREATE_INVOICE: CREATE_INVOICE\nTRANSFER_JOB: TRANSFER_JOB\nUPDATE_TAGS: UPDATE_TAGS', enum_type=ActionType, max_length=30),
        ),
        ops.AlterField(
            model_name='AutomationRun',
            name='action',
            field=fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB\nSEND_ORGANIZER: SEND_ORGANIZER\nSEND_MESSAGE: SEND_MESSAGE\nCREATE_INVOICE: CREATE_INVOICE\nTRANSFER_JOB: TRANSFER_JOB\nUPDATE_TAGS: UPDATE_TAGS', enum_type=ActionType, max_length=30),
        ),
        ops.AlterField(
            model_name='JobEvent',
            name='type',
            field=fields.CharEnumField(description='JOB_CREATED: JOB_CREATED\nJOB_MOVED: JOB_MOVED\nJOB_TRANSFERRED_IN: JOB_TRANSFERRED_IN\nJOB_TRANSFERRED_OUT: JOB_TRANSFERRED_OUT\nJOB_UPDATED: JOB_UPDATED\nJOB_ARCHIVED: JOB_ARCHIVED\nTASK_CHANGED: TASK_CHANGED\nSTAGE_CHANGED: STAGE_CHANGED\nORGANIZER_CHANGED: ORGANIZER_CHANGED\nMESSAGE_SENT: MESSAGE_SENT\nINVOICE_CHANGED: INVOICE_CHANGED\nAUTOMATION_RAN: AUTOMATION_RAN', enum_type=EventType, max_length=30),
        ),
        ops.AddField(
            model_name='Stage',
            name='auto_move',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Task',
            name='stage_id',
            field=fields.IntField(null=True),
        ),
    ]
