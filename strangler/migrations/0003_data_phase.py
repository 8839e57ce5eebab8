"""The data ownership phase beside the route modes, forced phase changes in the audit trail, and
the parity job's runs (docs/adr/0022). New columns with defaults (every process keeps routing
by its copy while it migrates: legacy phase, nothing forced) and one new table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("strangler", "0002_shadow_sample"),
    ]

    operations = [
        migrations.CreateModel(
            name="ParityRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(db_index=True)),
                (
                    "phase",
                    models.CharField(
                        choices=[
                            ("legacy", "legacy"),
                            ("verify", "verify"),
                            ("logistics", "logistics"),
                            ("contract", "contract"),
                        ],
                        max_length=10,
                    ),
                ),
                ("checked", models.PositiveIntegerField()),
                ("mismatched", models.PositiveIntegerField()),
                ("missing", models.PositiveIntegerField()),
                ("examples", models.JSONField(blank=True, default=list)),
            ],
            options={
                "ordering": ["-finished_at", "-id"],
            },
        ),
        migrations.AlterModelOptions(
            name="stranglerstate",
            options={
                "verbose_name": "kill switch and data phase",
                "verbose_name_plural": "kill switch and data phase",
            },
        ),
        migrations.AddField(
            model_name="modechange",
            name="forced",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="modechange",
            name="overridden",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="stranglerstate",
            name="phase",
            field=models.CharField(
                choices=[
                    ("legacy", "legacy"),
                    ("verify", "verify"),
                    ("logistics", "logistics"),
                    ("contract", "contract"),
                ],
                default="legacy",
                max_length=10,
                verbose_name="data ownership phase",
            ),
        ),
        migrations.AddConstraint(
            model_name="stranglerstate",
            constraint=models.CheckConstraint(
                condition=models.Q(("phase__in", ["legacy", "verify", "logistics", "contract"])),
                name="strangler_known_phase",
            ),
        ),
    ]
