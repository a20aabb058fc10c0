from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

# Indexes for the lookups on hot paths. task(job_id) was never declared; the others are
# declared in the models, but tortoise's SQLite schema editor left them out (PostgreSQL has
# them), so SQLite gets them here by name.
TASK = 'CREATE INDEX IF NOT EXISTS "idx_task_job_id" ON "task" ("job_id", "id")'
SQLITE_ONLY = [
    'CREATE INDEX IF NOT EXISTS "idx_job_event_job" ON "job_event" ("job_id", "id")',
    'CREATE INDEX IF NOT EXISTS "idx_automation_stage" ON "automation" ("stage_id", "position")',
    'CREATE INDEX IF NOT EXISTS "idx_automation_run_due" ON "automation_run" '
    '("status", "run_after")',
    'CREATE INDEX IF NOT EXISTS "idx_automation_run_job" ON "automation_run" ("job_id", "id")',
]


async def create_indexes(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    statements = [TASK]
    if client.capabilities.dialect == "sqlite":
        statements += SQLITE_ONLY
    for statement in statements:
        await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0006_integrations')]

    initial = False

    operations = [ops.RunPython(create_indexes)]
