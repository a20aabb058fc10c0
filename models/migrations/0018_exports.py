from tortoise import migrations
from tortoise.migrations import operations as ops
from models.export import ExportStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0017_custom_fields')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Export',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='exports', on_delete=OnDelete.CASCADE)),
                ('pipeline', fields.ForeignKeyField('models.Pipeline', source_field='pipeline_id', db_constraint=True, to_field='id', related_name='exports', on_delete=OnDelete.CASCADE)),
                ('requested_by_id', fields.IntField(null=True)),
                ('include', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=ExportStatus.PENDING, description='PENDING: PENDING\nRUNNING: RUNNING\nFINISHED: FINISHED\nFAILED: FAILED\nEXPIRED: EXPIRED', enum_type=ExportStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('job_count', fields.IntField(default=0)),
                ('event_seq', fields.BigIntField(null=True)),
                ('file_name', fields.CharField(null=True, max_length=100)),
                ('error', fields.CharField(null=True, max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'export', 'app': 'models', 'indexes': [Index(fields=['status', 'firm_id']), Index(fields=['expires_at'])], 'pk_attr': 'id', 'table_description': 'One export of one pipeline.'},
            bases=['Model'],
        ),
    ]
