"""Drop the order's shipping columns; the reverse adds them back and refills them from logistics.

The last reversible step of the shipping data's expand-contract (docs/runbook.md, Phase 6). Run
it once the data phase is ``contract`` (nothing writes or reads the columns) and the release
with SHIPPING_COLUMNS_DROPPED=true serves every request (its ``Order`` has no such field, so no
query names them). The columns keep database defaults since ``monolithos.0006``, so that
release could insert orders before the drop, and can again after the reverse.

The operations are the legacy app's ``Order`` fields, removed from a migration of this app: a
model's state belongs to its own app, so each ``RemoveField`` names the ``monolithos`` label
itself (``RemoveLegacyField``). The reverse re-adds each column (empty, at its defaults), then
copies every shipment onto its order through the live code (``refill_from_logistics``, with
this migration's historical ``Order``): the data comes from the ``logistics`` database, which no
migration of ``default`` has a model of.
"""

from django.db import migrations

LEGACY_APP = "monolithos"
DROPPED = (
    "shipping_status",
    "tracking_number",
    "supplier_reference",
    "dispatched_at",
    "shipping_version",
)


class RemoveLegacyField(migrations.RemoveField):
    """``RemoveField`` of a model of the legacy app, from a migration of this one."""

    def state_forwards(self, app_label, state):
        super().state_forwards(LEGACY_APP, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(LEGACY_APP, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        super().database_backwards(LEGACY_APP, schema_editor, from_state, to_state)

    def describe(self):
        return f"Remove field {self.name} from {LEGACY_APP}.{self.model_name}"


def refill(apps, schema_editor):
    from monolithos.shipping_columns import refill_from_logistics

    refill_from_logistics(
        order_model=apps.get_model(LEGACY_APP, "Order"), using=schema_editor.connection.alias
    )


class Migration(migrations.Migration):
    dependencies = [
        (LEGACY_APP, "0006_shipping_columns_db_defaults"),
    ]

    operations = [
        # First, so that its reverse runs last: once every column is back.
        migrations.RunPython(migrations.RunPython.noop, refill),
        *(RemoveLegacyField(model_name="order", name=name) for name in DROPPED),
    ]
