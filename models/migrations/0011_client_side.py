from tortoise import migrations
from tortoise.migrations import operations as ops
from models.documents import MessageDirection
from models.email import EmailKind, EmailStatus, new_message_id
from models.event import EventType
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0010_hardening')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Contact',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(max_length=254)),
                ('portal_access', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'contact', 'app': 'models', 'unique_together': (('client', 'email'),), 'indexes': [Index(fields=['email'])], 'pk_attr': 'id', 'table_description': 'One person of one client, whose email is unique within the client (stored lower-case).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Email',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='emails', on_delete=OnDelete.CASCADE)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', null=True, db_constraint=True, to_field='id', related_name='emails', on_delete=OnDelete.CASCADE)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='emails', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', null=True, db_constraint=True, to_field='id', related_name='emails', on_delete=OnDelete.SET_NULL)),
                ('to_address', fields.CharField(max_length=254)),
                ('kind', fields.CharEnumField(description='ORGANIZER: ORGANIZER\nMESSAGE: MESSAGE\nINVOICE: INVOICE\nREMINDER: REMINDER\nPORTAL_LINK: PORTAL_LINK', enum_type=EmailKind, max_length=20)),
                ('subject', fields.CharField(max_length=500)),
                ('text_body', fields.TextField(unique=False)),
                ('html_body', fields.TextField(unique=False)),
                ('organizer_id', fields.IntField(null=True)),
                ('invoice_id', fields.IntField(null=True)),
                ('message_id', fields.IntField(null=True)),
                ('header_message_id', fields.CharField(default=new_message_id, unique=True, max_length=40)),
                ('sealed_secret', fields.CharField(null=True, max_length=200)),
                ('status', fields.CharEnumField(default=EmailStatus.QUEUED, description='QUEUED: QUEUED\nSENT: SENT\nFAILED: FAILED', enum_type=EmailStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=1000)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'email', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['job_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PortalLink',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='portal_links', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='portal_links', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'portal_link', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A sign-in link token, valid until expires_at and only once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PortalSession',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='portal_sessions', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='portal_sessions', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'portal_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The bearer token of a signed-in contact, for /portal/graphql.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Invoice',
            name='max_reminders',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Invoice',
            name='next_reminder_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Invoice',
            name='remind_every_days',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Invoice',
            name='reminders_sent',
            field=fields.IntField(default=0),
        ),
        ops.AlterField(
            model_name='JobEvent',
            name='type',
            field=fields.CharEnumField(description='JOB_CREATED: JOB_CREATED\nJOB_MOVED: JOB_MOVED\nJOB_TRANSFERRED_IN: JOB_TRANSFERRED_IN\nJOB_TRANSFERRED_OUT: JOB_TRANSFERRED_OUT\nJOB_UPDATED: JOB_UPDATED\nJOB_ARCHIVED: JOB_ARCHIVED\nTASK_CHANGED: TASK_CHANGED\nSTAGE_CHANGED: STAGE_CHANGED\nORGANIZER_CHANGED: ORGANIZER_CHANGED\nMESSAGE_SENT: MESSAGE_SENT\nINVOICE_CHANGED: INVOICE_CHANGED\nAUTOMATION_RAN: AUTOMATION_RAN\nCLIENT_SUBMITTED_ORGANIZER: CLIENT_SUBMITTED_ORGANIZER\nCLIENT_REPLIED: CLIENT_REPLIED\nINVOICE_PAID: INVOICE_PAID', enum_type=EventType, max_length=30),
        ),
        ops.AlterModelOptions(
            name='Message',
            options={'table': 'message', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message about a job: to the client (OUTBOUND) or a reply from the client (INBOUND).'},
        ),
        ops.AddField(
            model_name='Message',
            name='contact_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Message',
            name='direction',
            field=fields.CharEnumField(default=MessageDirection.OUTBOUND, description='OUTBOUND: OUTBOUND\nINBOUND: INBOUND', enum_type=MessageDirection, max_length=10),
        ),
        ops.AddField(
            model_name='Message',
            name='in_reply_to_id',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Organizer',
            name='max_reminders',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Organizer',
            name='next_reminder_at',
            field=fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Organizer',
            name='remind_every_days',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Organizer',
            name='reminders_sent',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Stage',
            name='portal_name',
            field=fields.CharField(null=True, max_length=200),
        ),
    ]
