from tortoise import migrations
from tortoise.migrations import operations as ops
from models.custom_fields import CustomFieldEntity, CustomFieldType
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

# The job filter on custom fields (workflow.custom_fields.job_filter): equality is written as
# containment (custom_fields @> '{"key": value}'), which this index answers on PostgreSQL
# (jsonb_path_ops: smaller than the default GIN class, and containment is all it is asked);
# ranges are read on the firm's rows, which the firm_id index narrows to. bench/custom_fields.py
# has the figures. SQLite has no such index: json_extract over the firm's rows.
POSTGRES_ONLY = [
    'CREATE INDEX IF NOT EXISTS "idx_job_custom_fields" ON "job" '
    'USING GIN ("custom_fields" jsonb_path_ops)',
]


async def create_indexes(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        for statement in POSTGRES_ONLY:
            await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0016_recurring_schedules')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CustomField',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='custom_fields', on_delete=OnDelete.CASCADE)),
                ('entity', fields.CharEnumField(description='JOB: JOB\nCLIENT: CLIENT', enum_type=CustomFieldEntity, max_length=10)),
                ('key', fields.CharField(max_length=40)),
                ('label', fields.CharField(max_length=200)),
                ('type', fields.CharEnumField(description='TEXT: TEXT\nNUMBER: NUMBER\nDATE: DATE\nBOOLEAN: BOOLEAN\nSELECT: SELECT', enum_type=CustomFieldType, max_length=10)),
                ('options', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('required', fields.BooleanField(default=False)),
                ('position', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'custom_field', 'app': 'models', 'unique_together': (('firm', 'entity', 'key'),), 'pk_attr': 'id', 'table_description': 'A custom field of the jobs or the clients of one firm.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Client',
            name='custom_fields',
            field=fields.JSONField(default=dict, db_default='{}', encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Job',
            name='custom_fields',
            field=fields.JSONField(default=dict, db_default='{}', encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.RunPython(create_indexes),
    ]
