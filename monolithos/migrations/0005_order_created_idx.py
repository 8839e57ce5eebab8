"""An index on the orders' creation time, for the sweep of orders without their shipment.

On PostgreSQL it is built CONCURRENTLY: the orders table takes writes while it builds, which a
plain CREATE INDEX would block for as long as the build of a large table takes. Such a build
cannot run in a transaction, hence ``atomic = False``. Other databases build it plainly.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    @staticmethod
    def _plain_unless_postgresql(schema_editor):
        concurrently = schema_editor.connection.vendor == "postgresql"
        return AddIndexConcurrently if concurrently else migrations.AddIndex

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        operation = self._plain_unless_postgresql(schema_editor)
        operation.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        operation = self._plain_unless_postgresql(schema_editor)
        operation.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("monolithos", "0004_order_owner_shipping_version"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="order",
            index=models.Index(fields=["created_at"], name="order_created_idx"),
        ),
    ]
