from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state_apps import StateApps

# PostgreSQL gives a change's events their pipelines' sequences at COMMIT (workflow.unit): a
# change writes them with placeholder sequences, negative and in a range of 2**20 its own among
# the transactions running, and a deferred trigger, fired by the commit, locks each pipeline in
# id order, takes its next numbers and writes them over the placeholders in the order the
# events were written. The lock is held from there to the end of the commit, inside the
# database, so that commit order stays sequence order without a round trip to the client under
# the lock. A change that numbers its events itself first (one that counts a WIP limit or writes
# webhook deliveries under the lock) leaves no placeholder, and the trigger finds none. Every
# event fires it; the first of a change numbers them all. SQLite has one writer: a change numbers
# its events as it writes them.
POSTGRES_ONLY = [
    'CREATE INDEX IF NOT EXISTS "idx_job_event_placeholder" ON "job_event" ("seq") '
    'WHERE "seq" < 0',
    """CREATE OR REPLACE FUNCTION "job_event_sequence"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    base bigint := (-NEW."seq" - 1) / 1048576;
    low bigint := -(base + 1) * 1048576;
    high bigint := -base * 1048576;
    pending record;
    last bigint;
BEGIN
    FOR pending IN
        SELECT "pipeline_id", count(*) AS n FROM "job_event"
        WHERE "seq" > low AND "seq" <= high GROUP BY "pipeline_id" ORDER BY "pipeline_id"
    LOOP
        UPDATE "pipeline" SET "event_seq" = "event_seq" + pending.n
        WHERE "id" = pending."pipeline_id" RETURNING "event_seq" INTO last;
        UPDATE "job_event" AS e SET "seq" = last - pending.n + o.k
        FROM (
            SELECT "id", row_number() OVER (ORDER BY "seq" DESC) AS k FROM "job_event"
            WHERE "pipeline_id" = pending."pipeline_id" AND "seq" > low AND "seq" <= high
        ) AS o
        WHERE e."id" = o."id";
    END LOOP;
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
