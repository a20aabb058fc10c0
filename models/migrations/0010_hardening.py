from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

class AddMessageId(ops.AddField):
    """The column, filled for existing rows, then unique: SQLite cannot add a unique column."""

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if not state_editor:
            return
        for statement in (
            'ALTER TABLE "webhook_delivery" ADD COLUMN "message_id" VARCHAR(40)',
            """UPDATE "webhook_delivery" SET "message_id" = 'msg_' || "id\"""",
            'CREATE UNIQUE INDEX "uid_webhook_del_message_id" ON "webhook_delivery" ("message_id")',
        ):
            await ops.RunSQL(statement)._run_sql(state_editor, statement)


class Migration(migrations.Migration):
    dependencies = [('models', '0009_firm_catalog_version')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DeploymentSecret',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=50)),
                ('value', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'deployment_secret', 'app': 'models', 'pk_attr': 'name', 'table_description': 'Secrets of the whole deployment (not of a firm): the master key when SECRET_KEY is'},
            bases=['Model'],
        ),
        # Idempotency keys become the token's: the table of stored answers (kept a day) is
        # made afresh rather than altered (SQLite cannot drop a table's unique constraint).
        ops.DeleteModel(name='IdempotentRequest'),
        ops.CreateModel(
            name='IdempotentRequest',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='idempotent_requests', on_delete=OnDelete.CASCADE)),
                ('token', fields.ForeignKeyField('models.ApiToken', source_field='token_id', null=True, db_constraint=True, to_field='id', related_name='idempotent_requests', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=255)),
                ('request_hash', fields.CharField(max_length=64)),
                ('status_code', fields.IntField(null=True)),
                ('response', fields.TextField(null=True, unique=False)),
                ('changed', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotent_request', 'app': 'models', 'unique_together': (('token', 'key'),), 'indexes': [Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'A key claimed by a request. response is null while the request runs, or if the server'},
            bases=['Model'],
        ),
        # Message ids become random; deliveries already written keep the id they were sent with.
        AddMessageId(
            model_name='WebhookDelivery',
            name='message_id',
            field=fields.CharField(null=True, unique=True, max_length=40),
        ),
        # Signing secrets are kept encrypted (models.keys); one written before stays readable.
        ops.RenameField(model_name='WebhookEndpoint', old_name='secret', new_name='encrypted_secret'),
    ]
