"""The outbox and dedupe models, taken over from the catalog app.

State only: the tables ``event_outbox`` and ``event_processed`` were created by
``catalog.0001_initial`` and keep their names and rows; this migration only tells Django
that the ``events`` app owns them now (``catalog.0005`` forgets them on the catalog side).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        # The tables exist from here on, in a fresh schema as in an existing one.
        ("catalog", "0004_cache_record"),
    ]

    state_operations = [
        migrations.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event_id', models.UUIDField(unique=True)),
                ('topic', models.CharField(max_length=249)),
                ('key', models.CharField(max_length=255)),
                ('value', models.BinaryField()),
                ('headers', models.JSONField(default=list)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True, default='')),
            ],
            options={
                'db_table': 'event_outbox',
                'indexes': [models.Index(condition=models.Q(('sent_at__isnull', True)), fields=['id'], name='outbox_pending_idx')],
            },
        ),
        migrations.CreateModel(
            name='ProcessedEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('consumer_group', models.CharField(max_length=200)),
                ('event_id', models.UUIDField()),
                ('topic', models.CharField(max_length=249)),
                ('partition', models.IntegerField()),
                ('offset', models.BigIntegerField()),
                ('processed_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'db_table': 'event_processed',
                'constraints': [models.UniqueConstraint(fields=('consumer_group', 'event_id'), name='processed_once_per_group')],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations),
    ]
