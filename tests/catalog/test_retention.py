"""Retention: each tenant's policy (its overrides over the platform defaults) removes its
old event log entries, sent outbox rows and dedupe records, and only those; --dry-run
counts and changes nothing."""

from __future__ import annotations

import io
import tomllib
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from prometheus_client import REGISTRY

from apps.catalog.models import EventLog
from apps.events import outbox
from apps.events.models import OutboxMessage, ProcessedEvent
from apps.tenancy.services import set_tenant_retention, tenant_retention
from config.celery import app

AGES = (30, 8, 3, 1)  # days: rows of each kind at these ages, in each tenant


def _seed(schema: str) -> None:
    now = timezone.now()
    with schema_context(schema):
        for age in AGES:
            when = now - timedelta(days=age, hours=1)
            with connection.cursor() as cursor:  # the log is append-only: insert it aged
                cursor.execute(
                    "INSERT INTO event_log (event_id, event_type, entity_type, entity_id, "
                    "entity_version, source_system, changed_fields, event_timestamp, "
                    "recorded_at, topic, trace_id) VALUES (%s, 'UPDATED', 'customer', '1', 1, "
                    "'directus', '[]', %s, %s, '', '')", [uuid.uuid4(), when, when])
            event_id = outbox.publish("customers.directus.entity_changed", "1", b"x")
            OutboxMessage.objects.filter(event_id=event_id).update(created_at=when,
                                                                     sent_at=when)
            dedupe = ProcessedEvent.objects.create(
                consumer_group="catalog", event_id=uuid.uuid4(), topic="t", partition=0,
                offset=age)
            ProcessedEvent.objects.filter(pk=dedupe.pk).update(processed_at=when)


def _counts(schema: str) -> tuple[int, int, int]:
    with schema_context(schema):
        return (EventLog.objects.count(), OutboxMessage.objects.count(),
                ProcessedEvent.objects.count())


def test_each_tenant_keeps_what_its_policy_says_and_dry_run_changes_nothing(
        tenants_committed, settings):
    settings.EVENT_LOG_RETENTION_DAYS = 365
    settings.OUTBOX_SENT_RETENTION_DAYS = 7
    settings.KAFKA_PROCESSED_EVENTS_RETENTION_DAYS = 20
    alpha, beta = (t.schema_name for t in tenants_committed)
    set_tenant_retention(alpha, {"event_log_days": 10, "outbox_sent_days": 2})
    assert tenant_retention(alpha).processed_events_days == 20  # the default, not overridden
    for schema in (alpha, beta):
        _seed(schema)

    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    report = out.getvalue()
    assert f"{alpha:<24} event_log          keep    10 days  would remove 1" in report
    assert f"{alpha:<24} outbox_sent        keep     2 days  would remove 3" in report
    assert f"{alpha:<24} processed_events   keep    20 days  would remove 1" in report
    assert f"{beta:<24} event_log          keep   365 days  would remove 0" in report
    assert f"{beta:<24} outbox_sent        keep     7 days  would remove 2" in report
    assert "dry run: nothing changed" in report
    assert _counts(alpha) == _counts(beta) == (4, 4, 4)

    purges = REGISTRY.get_sample_value("postgres_query_duration_seconds_count",
                                       {"query": "purge_event_log"}) or 0
    call_command("apply_retention", "--tenant", alpha, stdout=io.StringIO())
    assert REGISTRY.get_sample_value("postgres_query_duration_seconds_count",
                                     {"query": "purge_event_log"}) == purges + 1
    assert _counts(alpha) == (3, 1, 3)
    assert _counts(beta) == (4, 4, 4)  # another tenant's data is not touched
    with schema_context(alpha):  # the entries kept are the recent ones
        oldest = timezone.now() - min(EventLog.objects.values_list("recorded_at", flat=True))
        assert oldest < timedelta(days=10)


def test_bad_policies_and_unknown_tenants_are_refused_with_what_to_do(tenants_committed):
    alpha = tenants_committed[0].schema_name
    with pytest.raises(ValidationError, match="unknown retention 'event_logs_days'"):
        set_tenant_retention(alpha, {"event_logs_days": 10})
    with pytest.raises(ValidationError, match="whole number of days"):
        set_tenant_retention(alpha, {"event_log_days": 0})
    with pytest.raises(LookupError, match="list_tenants"):
        set_tenant_retention("nobody", {})
    with pytest.raises(CommandError, match="list_tenants"):
        call_command("apply_retention", "--tenant", "nobody")


def test_beat_runs_the_retention_task_a_worker_registers():
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "catalog.apply_retention" in scheduled
    assert scheduled <= set(app.tasks), "the schedule names a task no worker has"


def _retention_ms(topics: list[str]) -> dict[str, int]:
    from kafka.admin import ConfigResource, ConfigResourceType

    from dictamesh.events.topics import open_admin

    admin = open_admin(django_settings.KAFKA_BOOTSTRAP_SERVERS)
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics],
            config_filter="all")["topic"]
    finally:
        admin.close()
    return {name: int(described[name]["retention.ms"]["value"]) for name in topics}


def _dead_letter_topics_on_the_broker(tenant: str) -> list[str]:
    from dictamesh.events.topics import open_admin

    admin = open_admin(django_settings.KAFKA_BOOTSTRAP_SERVERS)
    try:
        return [name for name in admin.list_topics()
                if name.startswith(f"{tenant}.") and name.endswith(".dlq")]
    finally:
        admin.close()


def test_a_tenants_dead_letter_topics_keep_what_its_policy_says(tenants_committed):
    from dictamesh.events.topics import provision_tenant_topics

    alpha, beta = (t.schema_name for t in tenants_committed)
    for schema in (alpha, beta):
        provision_tenant_topics(schema)
    topics = {schema: [f"{schema}.customers.directus.entity_changed.dlq",
                       f"{schema}.invoices.ecommerce.entity_changed.dlq",
                       f"{schema}.invoices.ecommerce.entity_changed"]
              for schema in (alpha, beta)}
    day_ms = 24 * 3600 * 1000
    # deploy/kafka/topics.toml: dead letters 30 days, invoices' change topic 90 days
    spec = {schema: [30 * day_ms, 30 * day_ms, 90 * day_ms] for schema in (alpha, beta)}
    for schema in (alpha, beta):  # as provisioned (a rerun of this test starts over)
        set_tenant_retention(schema, {})
        call_command("apply_retention", "--tenant", schema, stdout=io.StringIO())
        assert list(_retention_ms(topics[schema]).values()) == spec[schema]

    try:
        set_tenant_retention(alpha, {"dead_letter_days": 5})
        out = io.StringIO()
        call_command("apply_retention", "--dry-run", stdout=out)
        with open(django_settings.KAFKA_TOPIC_SPEC, "rb") as spec_file:  # one .dlq per topic
            spec_topics = len(tomllib.load(spec_file)["topics"])
        # Other tests connect declared sources, whose topics the tenant keeps: count the broker's.
        dead_letter_topics = len(_dead_letter_topics_on_the_broker(alpha))
        assert dead_letter_topics >= spec_topics
        assert (f"{alpha:<24} dead_letter_topics keep     5 days  would change "
                f"{dead_letter_topics} topics") in out.getvalue()
        assert f"{beta:<24} dead_letter_topics keep    30 days  would change 0 topics" \
            in out.getvalue()
        assert list(_retention_ms(topics[alpha]).values()) == spec[alpha]  # dry run

        out = io.StringIO()
        call_command("apply_retention", stdout=out)
        assert f"changed {dead_letter_topics} topics" in out.getvalue()
        assert list(_retention_ms(topics[alpha]).values()) == [5 * day_ms, 5 * day_ms, 90 * day_ms]
        assert list(_retention_ms(topics[beta]).values()) == spec[beta]  # not the other tenant's

        out = io.StringIO()  # the tenant's own retention is its policy, not drift
        call_command("provision_topics", "--tenant", alpha, stdout=out)
        assert "DRIFT" not in out.getvalue()
    finally:
        # The broker outlives this run (a developer's kept test broker): leave alpha's topics
        # as provisioned, or the next run's tests of the same tenant find them drifted.
        set_tenant_retention(alpha, {})
        call_command("apply_retention", "--tenant", alpha, stdout=io.StringIO())


def test_an_unreachable_kafka_stops_only_the_dead_letter_part(tenants_committed, settings):
    alpha = tenants_committed[0].schema_name
    _seed(alpha)
    settings.EVENT_LOG_RETENTION_DAYS = 2
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:9"]  # nothing listens on the discard port
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=f"Not applied: {alpha} dead_letter_topics"):
        call_command("apply_retention", "--tenant", alpha, stdout=out, stderr=err)
    assert "NOT APPLIED" in err.getvalue()
    assert "unreachable" in err.getvalue()
    assert _counts(alpha)[0] == 1  # the event log was purged all the same
