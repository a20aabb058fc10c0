from tortoise import migrations
from tortoise.migrations import operations as ops
from models.event import EventType
from models.firm import Role
from models.job import JobStatus, Priority
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Firm',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'firm', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A tenant: everything else belongs to exactly one firm and is invisible to the others.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Client',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='clients', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('email', fields.CharField(null=True, max_length=254)),
                ('tags', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'client', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A client of one firm, with free-form tags.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Pipeline',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='pipelines', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('event_seq', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'pipeline', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The work process for one service. event_seq numbers its board events (see JobEvent).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Stage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='stages', on_delete=OnDelete.CASCADE)),
                ('pipeline', fields.ForeignKeyField('models.Pipeline', source_field='pipeline_id', db_constraint=True, to_field='id', related_name='stages', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('position', fields.IntField()),
                ('wip_limit', fields.IntField(null=True)),
                ('time_limit_days', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'stage', 'app': 'models', 'indexes': [Index(fields=['pipeline_id', 'position'])], 'pk_attr': 'id', 'table_description': 'One step of a pipeline, ordered by position (from 0) within it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=254)),
                ('name', fields.CharField(max_length=200)),
                ('role', fields.CharEnumField(default=Role.STAFF, description='OWNER: OWNER\nADMIN: ADMIN\nSTAFF: STAFF', enum_type=Role, max_length=10)),
                ('is_active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'app_user', 'app': 'models', 'unique_together': (('firm', 'email'),), 'pk_attr': 'id', 'table_description': 'A team member of one firm.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A bearer token. Only the SHA-256 of its secret is stored: the secret is shown once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Job',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.CASCADE)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.RESTRICT)),
                ('pipeline', fields.ForeignKeyField('models.Pipeline', source_field='pipeline_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.RESTRICT)),
                ('stage', fields.ForeignKeyField('models.Stage', source_field='stage_id', db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=200)),
                ('rank', fields.CharField(max_length=255)),
                ('version', fields.IntField(default=1)),
                ('status', fields.CharEnumField(default=JobStatus.ACTIVE, description='ACTIVE: ACTIVE\nCOMPLETED: COMPLETED\nARCHIVED: ARCHIVED', enum_type=JobStatus, max_length=10)),
                ('priority', fields.CharEnumField(default=Priority.NORMAL, description='LOW: LOW\nNORMAL: NORMAL\nHIGH: HIGH\nURGENT: URGENT', enum_type=Priority, max_length=10)),
                ('start_date', fields.DateField(null=True)),
                ('due_date', fields.DateField(null=True)),
                ('tags', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('stage_entered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('assignees', fields.ManyToManyField('models.User', unique=True, db_constraint=True, through='job_assignee', forward_key='user_id', backward_key='job_id', related_name='assigned_jobs', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'job', 'app': 'models', 'unique_together': (('stage', 'rank'),), 'indexes': [Index(fields=['firm_id', 'status']), Index(fields=['pipeline_id', 'status'])], 'pk_attr': 'id', 'table_description': 'A job on a board, ordered within its stage by rank (see workflow.ranking).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('pipeline', fields.ForeignKeyField('models.Pipeline', source_field='pipeline_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('seq', fields.BigIntField()),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('type', fields.CharEnumField(description='JOB_CREATED: JOB_CREATED\nJOB_MOVED: JOB_MOVED\nJOB_TRANSFERRED_IN: JOB_TRANSFERRED_IN\nJOB_TRANSFERRED_OUT: JOB_TRANSFERRED_OUT\nJOB_UPDATED: JOB_UPDATED\nJOB_ARCHIVED: JOB_ARCHIVED\nTASK_CHANGED: TASK_CHANGED\nSTAGE_CHANGED: STAGE_CHANGED', enum_type=EventType, max_length=30)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.SET_NULL)),
                ('from_stage_id', fields.IntField(null=True)),
                ('to_stage_id', fields.IntField(null=True)),
                ('from_pipeline_id', fields.IntField(null=True)),
                ('to_pipeline_id', fields.IntField(null=True)),
                ('job_version', fields.IntField(null=True)),
                ('changes', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'job_event', 'app': 'models', 'unique_together': (('pipeline', 'seq'),), 'indexes': [Index(fields=['job_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One change, written in the transaction that made it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('title', fields.CharField(max_length=200)),
                ('description', fields.TextField(default='', unique=False)),
                ('assignee', fields.ForeignKeyField('models.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.SET_NULL)),
                ('due_date', fields.DateField(null=True)),
                ('done', fields.BooleanField(default=False)),
                ('done_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'task', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A to-do item linked to one job.'},
            bases=['Model'],
        ),
    ]
