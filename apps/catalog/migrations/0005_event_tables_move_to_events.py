"""The outbox and dedupe models now belong to the ``events`` app.

State only: their tables (``event_outbox``, ``event_processed``) and rows stay where they
are; ``events.0001_initial`` takes the models over. Depending on it means there is no
moment at which no app owns the tables.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0004_cache_record"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="OutboxMessage"),
                migrations.DeleteModel(name="ProcessedEvent"),
            ],
        ),
    ]
