from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("logistics", "0004_shipment_claimed_until"),
    ]

    operations = [
        migrations.AddField(
            model_name="shipmentrecord",
            name="handed_over_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
