from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

class Migration(migrations.Migration):
    dependencies = [('models', '0015_timer_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RecurringSchedule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='recurring_schedules', on_delete=OnDelete.CASCADE)),
                ('template', fields.ForeignKeyField('models.JobTemplate', source_field='template_id', db_constraint=True, to_field='id', related_name='recurring_schedules', on_delete=OnDelete.RESTRICT)),
                ('client_ids', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('client_tag', fields.CharField(null=True, max_length=50)),
                ('frequency', fields.CharField(max_length=10)),
                ('interval', fields.IntField(default=1)),
                ('starts_on', fields.DateField()),
                ('ends_on', fields.DateField(null=True)),
                ('timezone', fields.CharField(max_length=64)),
                ('lead_days', fields.IntField(default=0)),
                ('paused', fields.BooleanField(default=False)),
                ('next_period', fields.CharField(null=True, max_length=10)),
                ('next_run_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('skipped_while_paused', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'recurring_schedule', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A job template run for its clients once per period.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Job',
            name='recurring_schedule',
            field=fields.ForeignKeyField('models.RecurringSchedule', source_field='recurring_schedule_id', null=True, db_constraint=True, to_field='id', related_name='jobs', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddConstraint(
            model_name='Job',
            constraint=UniqueConstraint(fields=('recurring_schedule', 'client', 'period'), name=None),
        ),
    ]
