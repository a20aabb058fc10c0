from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_idempotency_changed')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Firm',
            name='catalog_version',
            field=fields.BigIntField(default=0),
        ),
    ]
