"""The outbox and dedupe tables changed owner (catalog → events) without moving: a tenant
schema migrated before the change keeps its rows, and ends with the events app's models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.utils import schema_context

from apps.events.models import OutboxMessage, ProcessedEvent
from dictamesh.tenancy import activate_public_schema

BEFORE_THE_MOVE = [("catalog", "0004_cache_record")]
AFTER_THE_MOVE = [("catalog", "0005_event_tables_move_to_events"), ("events", "0001_initial")]


@pytest.fixture
def bare_schema(transactional_db) -> Iterator[str]:
    """A tenant schema of its own with no migrations applied, dropped afterwards."""
    schema = f"test_move_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    activate_public_schema()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh one reads what is applied now


def test_a_schema_migrated_before_the_move_keeps_its_outbox_and_dedupe_rows(bare_schema):
    sent_id, seen_id = uuid.uuid4(), uuid.uuid4()
    with schema_context(bare_schema):
        before = _migrate(BEFORE_THE_MOVE)
        assert ("events", "0001_initial") not in before.loader.applied_migrations
        assert ("catalog", "outboxmessage") in before.loader.project_state(BEFORE_THE_MOVE).models
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO event_outbox (event_id, topic, key, value, headers, "
                           "created_at, attempts, last_error) VALUES "
                           "(%s, 'a.b.c', 'k', 'v'::bytea, '[]', now(), 0, '')", [sent_id])
            cursor.execute("INSERT INTO event_processed (consumer_group, event_id, topic, "
                           "partition, \"offset\", processed_at) VALUES "
                           "('catalog', %s, 'a.b.c', 0, 7, now())", [seen_id])

        after = _migrate(AFTER_THE_MOVE)

        state = after.loader.project_state(AFTER_THE_MOVE).models
        assert ("events", "outboxmessage") in state
        assert ("events", "processedevent") in state
        assert ("catalog", "outboxmessage") not in state
        assert list(OutboxMessage.objects.values_list("event_id", flat=True)) == [sent_id]
        assert list(ProcessedEvent.objects.values_list("event_id", "offset")) == [(seen_id, 7)]
