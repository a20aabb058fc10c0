from tortoise import migrations
from tortoise.migrations import operations as ops
from models.job import Priority
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_automation_triggers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JobTemplate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='job_templates', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('pipeline', fields.ForeignKeyField('models.Pipeline', source_field='pipeline_id', db_constraint=True, to_field='id', related_name='job_templates', on_delete=OnDelete.RESTRICT)),
                ('stage', fields.ForeignKeyField('models.Stage', source_field='stage_id', null=True, db_constraint=True, to_field='id', related_name='job_templates', on_delete=OnDelete.SET_NULL)),
                ('title_template', fields.CharField(max_length=200)),
                ('tags', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('priority', fields.CharEnumField(default=Priority.NORMAL, description='LOW: LOW\nNORMAL: NORMAL\nHIGH: HIGH\nURGENT: URGENT', enum_type=Priority, max_length=10)),
                ('checklist', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('due_days_after_period', fields.IntField(null=True)),
                ('due_month', fields.IntField(null=True)),
                ('due_day', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('assignees', fields.ManyToManyField('models.User', unique=True, db_constraint=True, through='job_template_assignee', forward_key='user_id', backward_key='job_template_id', related_name='job_templates', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'job_template', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A recipe for jobs of one pipeline (see workflow.templates for the rules it keeps).'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Job',
            name='period',
            field=fields.CharField(null=True, max_length=10),
        ),
        ops.AddField(
            model_name='Job',
            name='template',
            field=fields.ForeignKeyField('models.JobTemplate', source_field='template_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.SET_NULL),
        ),
    ]
