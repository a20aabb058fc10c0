from tortoise import migrations
from tortoise.migrations import operations as ops
from models.automation import ActionType
from models.webhook import DeliveryStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_client_documents_and_auto_move')]

    initial = False

    operations = [
        ops.CreateModel(
            name='IdempotentRequest',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='idempotent_requests', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=255)),
                ('request_hash', fields.CharField(max_length=64)),
                ('status_code', fields.IntField(null=True)),
                ('response', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'idempotent_request', 'app': 'models', 'unique_together': (('firm', 'key'),), 'indexes': [Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'A key claimed by a request. response is null while the request runs (or if it was'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2000)),
                ('description', fields.CharField(default='', max_length=200)),
                ('event_types', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('pipeline', fields.ForeignKeyField('models.Pipeline', source_field='pipeline_id', null=True, db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.CASCADE)),
                ('secret', fields.CharField(max_length=100)),
                ('enabled', fields.BooleanField(default=True)),
                ('disabled_reason', fields.CharField(null=True, max_length=500)),
                ('consecutive_failures', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A URL the firm wants events posted to, signed with its secret (Standard Webhooks).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('firm', fields.ForeignKeyField('models.Firm', source_field='firm_id', db_constraint=True, to_field='id', related_name='webhook_deliveries', on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('event_type', fields.CharField(max_length=50)),
                ('payload', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('status', fields.CharEnumField(default=DeliveryStatus.PENDING, description='PENDING: PENDING\nDELIVERED: DELIVERED\nFAILED: FAILED', enum_type=DeliveryStatus, max_length=10)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_status_code', fields.IntField(null=True)),
                ('last_error', fields.CharField(null=True, max_length=500)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['endpoint_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One message for one endpoint, written in the transaction of the change it reports.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ApiToken',
            name='scopes',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AlterField(
            model_name='Automation',
            name='action',
            field=fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB\nSEND_ORGANIZER: SEND_ORGANIZER\nSEND_MESSAGE: SEND_MESSAGE\nCREATE_INVOICE: CREATE_INVOICE\nTRANSFER_JOB: TRANSFER_JOB\nUPDATE_TAGS: UPDATE_TAGS\nCALL_WEBHOOK: CALL_WEBHOOK', enum_type=ActionType, max_length=30),
        ),
        ops.AlterField(
            model_name='AutomationRun',
            name='action',
            field=fields.CharEnumField(description='CREATE_TASK: CREATE_TASK\nMOVE_JOB: MOVE_JOB\nARCHIVE_JOB: ARCHIVE_JOB\nSEND_ORGANIZER: SEND_ORGANIZER\nSEND_MESSAGE: SEND_MESSAGE\nCREATE_INVOICE: CREATE_INVOICE\nTRANSFER_JOB: TRANSFER_JOB\nUPDATE_TAGS: UPDATE_TAGS\nCALL_WEBHOOK: CALL_WEBHOOK', enum_type=ActionType, max_length=30),
        ),
        # Tokens issued before scopes existed had every right: keep it so.
        ops.RunSQL("UPDATE api_token SET scopes = '[\"READ\",\"WRITE\",\"ADMIN\"]'"),
    ]
