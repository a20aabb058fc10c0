from tortoise import migrations
from tortoise.migrations import operations as ops
from models.automation import ActionType
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_automation_conditions')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Automation',
            name='action',
            field=fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB\nTRANSFER_JOB: TRANSFER_JOB\nUPDATE_TAGS: UPDATE_TAGS', enum_type=ActionType, max_length=30),
        ),
        ops.AlterField(
            model_name='AutomationRun',
            name='action',
            field=fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB\nTRANSFER_JOB: TRANSFER_JOB\nUPDATE_TAGS: UPDATE_TAGS', enum_type=ActionType, max_length=30),
        ),
    ]
