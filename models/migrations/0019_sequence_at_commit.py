from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

# PostgreSQL gives a change's events their pipeline's sequences at COMMIT (workflow.unit): a
# change writes them with placeholder sequences (negative), and a deferred trigger, fired by the
# commit once for each event in the order they were written, locks the pipeline, takes its next
# number and writes it over the placeholder. The lock is held from there to the end of the
# commit, inside the database, so that commit order stays sequence order without a round trip
# to the client under the lock. Only a change whose events are all in one pipeline leaves them
# to the trigger (one lock: no order to keep between pipelines); one that numbers its events
# itself first (events in several pipelines, a WIP limit counted under the lock, webhook
# deliveries that report the numbers) leaves no placeholder, and the trigger does nothing.
# SQLite has one writer: a change numbers its events as it writes them.
POSTGRES_ONLY = [
    """CREATE OR REPLACE FUNCTION "job_event_sequence"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH waiting AS (SELECT 1 FROM "job_event" WHERE "id" = NEW."id" AND "seq" < 0),
    numbered AS (
        UPDATE "pipeline" SET "event_seq" = "event_seq" + 1
        WHERE "id" = NEW."pipeline_id" AND EXISTS (SELECT 1 FROM waiting)
        RETURNING "event_seq"
    )
    UPDATE "job_event" SET "seq" = numbered."event_seq" FROM numbered
    WHERE "job_event"."id" = NEW."id";
    RETURN NULL;
END $$""",
    'DROP TRIGGER IF EXISTS "job_event_sequence" ON "job_event"',
    'CREATE CONSTRAINT TRIGGER "job_event_sequence" AFTER INSERT ON "job_event" '
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.\"seq\" < 0) "
    'EXECUTE FUNCTION "job_event_sequence"()',
]


async def create_trigger(apps: StateApps, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        for statement in POSTGRES_ONLY:
            await client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0018_exports')]

    initial = False

    operations = [
        ops.RunPython(create_trigger),
    ]
