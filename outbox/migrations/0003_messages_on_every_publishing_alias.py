from django.db import migrations


def create_where_missing(apps, schema_editor):
    """The message table on an alias that publishes and has none yet (docs/adr/0021).

    The router lets the outbox's message table migrate on every alias whose writers publish
    (``config.routers.OUTBOX_MESSAGE_ALIASES``). A database migrated before that recorded
    0001 and 0002 as applied without creating the table there; this creates it, as those two
    left it, where it is missing. Where it exists (``default``, or a database created since),
    it does nothing.
    """
    OutboxMessage = apps.get_model("outbox", "OutboxMessage")
    connection = schema_editor.connection
    if OutboxMessage._meta.db_table not in connection.introspection.table_names():
        schema_editor.create_model(OutboxMessage)


class Migration(migrations.Migration):

    dependencies = [
        ("outbox", "0002_completion_ends_a_message"),
    ]

    operations = [
        # Backwards the table stays: the previous release neither reads nor writes it there,
        # and a message still owed in it must not be lost (docs/runbook.md, the events' rollback).
        migrations.RunPython(
            create_where_missing,
            migrations.RunPython.noop,
            hints={"model_name": "outboxmessage"},
        ),
    ]
