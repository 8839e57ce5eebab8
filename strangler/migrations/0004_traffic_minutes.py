"""Traffic counts per route, side and minute for the ops panel (docs/adr/0023): one new table."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('strangler', '0003_data_phase'),
    ]

    operations = [
        migrations.CreateModel(
            name='TrafficMinute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('route', models.CharField(max_length=100)),
                ('minute', models.DateTimeField()),
                ('legacy', models.PositiveBigIntegerField(default=0)),
                ('new', models.PositiveBigIntegerField(default=0)),
                ('compared', models.PositiveBigIntegerField(default=0)),
                ('mismatched', models.PositiveBigIntegerField(default=0)),
            ],
            options={
                'ordering': ['route', 'minute'],
                'indexes': [models.Index(fields=['minute'], name='strangler_t_minute_609470_idx')],
                'constraints': [models.UniqueConstraint(fields=('route', 'minute'), name='strangler_traffic_minute')],
            },
        ),
    ]
