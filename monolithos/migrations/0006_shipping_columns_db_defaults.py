"""Database defaults for the order's shipping columns: the expand step before their contract.

The contract's release builds ``Order`` without these fields (SHIPPING_COLUMNS_DROPPED), and
runs while the columns still exist, until its migration drops them
(``monolithos_shipping_contract.0001``), and again after that migration is reversed: its
INSERTs leave them out, and the database fills them. On PostgreSQL each is an ``ALTER COLUMN
... SET DEFAULT``: no table rewrite, no lock held long. Nothing else changes.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("monolithos", "0005_order_created_idx"),
    ]

    operations = [
        migrations.AlterField(
            model_name="order",
            name="shipping_status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("dispatched", "Dispatched"),
                    ("dispatch_failed", "Dispatch failed"),
                    ("cancelled", "Cancelled"),
                ],
                db_default="pending",
                default="pending",
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="order",
            name="shipping_version",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AlterField(
            model_name="order",
            name="supplier_reference",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="order",
            name="tracking_number",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
    ]
