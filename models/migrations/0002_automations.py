from tortoise import migrations
from tortoise.migrations import operations as ops
from models.automation import ActionType, RunStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Automation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='automations', on_delete=OnDelete.CASCADE)),
                ('stage', fields.ForeignKeyField('models.Stage', source_field='stage_id', db_constraint=True, to_field='id', related_name='automations', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('action', fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB', enum_type=ActionType, max_length=30)),
                ('settings', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('enabled', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'automation', 'app': 'models', 'indexes': [Index(fields=['stage_id', 'position'])], 'pk_attr': 'id', 'table_description': 'An action a stage runs for every job that enters it, in position order.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AutomationRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='automation_runs', on_delete=OnDelete.CASCADE)),
                ('automation', fields.ForeignKeyField('models.Automation', source_field='automation_id', null=True, db_constraint=True, to_field='id', related_name='runs', on_delete=OnDelete.SET_NULL)),
                ('job', fields.ForeignKeyField('models.Job', source_field='job_id', db_constraint=True, to_field='id', related_name='automation_runs', on_delete=OnDelete.CASCADE)),
                ('entry', fields.ForeignKeyField('models.JobEvent', source_field='entry_id', db_constraint=True, to_field='id', related_name='automation_runs', on_delete=OnDelete.CASCADE)),
                ('stage_id', fields.IntField()),
                ('action', fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB', enum_type=ActionType, max_length=30)),
                ('settings', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=RunStatus.PENDING, description='PENDING: PENDING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED\nSKIPPED: SKIPPED', enum_type=RunStatus, max_length=10)),
                ('depth', fields.IntField(default=0)),
                ('attempts', fields.IntField(default=0)),
                ('run_after', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('result', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'automation_run', 'app': 'models', 'indexes': [Index(fields=['status', 'run_after']), Index(fields=['job_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One automation for one stage entry, recorded in the transaction of the entry.'},
            bases=['Model'],
        ),
    ]
