from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_lookup_indexes')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='IdempotentRequest',
            options={'table': 'idempotent_request', 'app': 'models', 'unique_together': (('firm', 'key'),), 'indexes': [Index(fields=['created_at'])], 'pk_attr': 'id', 'table_description': 'A key claimed by a request. response is null while the request runs, or if the server'},
        ),
        ops.AddField(
            model_name='IdempotentRequest',
            name='changed',
            field=fields.BooleanField(default=False),
        ),
    ]
