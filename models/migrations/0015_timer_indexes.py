from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

# Timers are read by their due column, so that a scheduler pass reads what is due and not what
# exists (bench/timers.py checks the plans). organizer and invoice declare next_reminder_at
# with db_index, but tortoise's AddField (0011) created no index on either database. Partial:
# a document leaves it once it has no reminder to come, and `next_reminder_at <= ?` implies
# the condition for both planners.
STATEMENTS = [
    f'CREATE INDEX IF NOT EXISTS "idx_{table}_next_reminder" ON "{table}" ("next_reminder_at") '
    'WHERE "next_reminder_at" IS NOT NULL'
    for table in ("organizer", "invoice")
]


async def create_indexes(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    for statement in STATEMENTS:
        await schema_editor.client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0014_job_templates')]

    initial = False

    operations = [ops.RunPython(create_indexes)]
