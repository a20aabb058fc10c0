from tortoise import migrations
from tortoise.migrations import operations as ops
from models.automation import AutomationTrigger
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_deadlines')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='Automation',
            options={'table': 'automation', 'app': 'models', 'indexes': [Index(fields=['stage_id', 'position'])], 'pk_attr': 'id', 'table_description': 'An action a stage runs for each job that enters it, at entry or on a date, in order.'},
        ),
        ops.AddField(
            model_name='Automation',
            name='trigger',
            field=fields.CharEnumField(default=AutomationTrigger.STAGE_ENTRY, description='STAGE_ENTRY: STAGE_ENTRY\nDAYS_IN_STAGE: DAYS_IN_STAGE\nDAYS_BEFORE_DUE: DAYS_BEFORE_DUE\nON_DUE_DATE: ON_DUE_DATE\nDAYS_AFTER_DUE: DAYS_AFTER_DUE', enum_type=AutomationTrigger, max_length=20),
        ),
        ops.AddField(
            model_name='Automation',
            name='trigger_days',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='AutomationRun',
            name='due_date',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='AutomationRun',
            name='trigger',
            field=fields.CharEnumField(default=AutomationTrigger.STAGE_ENTRY, description='STAGE_ENTRY: STAGE_ENTRY\nDAYS_IN_STAGE: DAYS_IN_STAGE\nDAYS_BEFORE_DUE: DAYS_BEFORE_DUE\nON_DUE_DATE: ON_DUE_DATE\nDAYS_AFTER_DUE: DAYS_AFTER_DUE', enum_type=AutomationTrigger, max_length=20),
        ),
        ops.AddField(
            model_name='AutomationRun',
            name='trigger_days',
            field=fields.IntField(null=True),
        ),
    ]
