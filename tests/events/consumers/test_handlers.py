"""Handler registration, topic patterns and runner settings (no broker needed)."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.events.consumers import build_runner, consumer_settings
from dictamesh.events.consumer import ConsumerSettings, tenant_of
from dictamesh.events.handlers import HandlerRegistry, compile_pattern, subscription_regex
from dictamesh.events.topics import TopicError


def _noop(events) -> None:
    pass


def test_a_glob_matches_whole_topic_names_across_dots():
    pattern = compile_pattern("*.entity_changed")
    assert pattern.match("acme.customers.directus.entity_changed")
    assert not pattern.match("acme.customers.directus.entity_changed.dlq")
    assert not pattern.match("acme.customers.directus.entity_registered")


def test_the_subscription_never_includes_dead_letter_topics_and_honours_a_restriction():
    handlers = HandlerRegistry()
    handlers.register("g", "*.entity_changed")(_noop)
    handlers.register("g", re.compile(r"acme\..*"))(_noop)
    handlers.register("other", "*")(_noop)
    subscription = re.compile(subscription_regex(handlers.routes("g"), compile_pattern("acme.*")))

    assert subscription.match("acme.customers.directus.entity_changed")
    assert subscription.match("acme.system.metadata.entity_registered")  # the regex route
    assert not subscription.match("acme.customers.directus.entity_changed.dlq")
    assert not subscription.match("globex.customers.directus.entity_changed")  # restricted
    assert handlers.groups() == ["g", "other"]


def test_patterns_that_cannot_be_combined_are_refused():
    with pytest.raises(ValueError, match="inline"):
        compile_pattern(re.compile("acme", re.IGNORECASE))
    with pytest.raises(ValueError, match="empty"):
        compile_pattern("")


def test_the_tenant_comes_from_the_topic_prefix():
    assert tenant_of("acme.customers.directus.entity_changed") == "acme"
    with pytest.raises(TopicError, match="no tenant prefix"):
        tenant_of("customers.directus.entity_changed")
    with pytest.raises(TopicError):
        tenant_of("Not A Topic")


def test_a_long_retry_backoff_is_allowed_because_a_stalled_partition_does_not_block_polling(
    settings,
):
    # A stalled partition waits paused while the member keeps polling its other partitions,
    # so its backoff may exceed the max poll interval without the member being evicted.
    settings.KAFKA_CONSUMER_RETRY_BACKOFF_MAX_MS = 60_000
    assert consumer_settings("catalog").retry_backoff_max_ms == 60_000


def test_max_attempts_below_one_is_refused(settings):
    with pytest.raises(ValueError, match="at least 1"):
        ConsumerSettings(["localhost:9092"], "g", max_attempts=0)
    settings.KAFKA_CONSUMER_MAX_ATTEMPTS = 0
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        consumer_settings("catalog")


def test_the_kafka_settings_reach_the_consumer_and_the_defaults_join_quickly(settings):
    # The documented defaults (README): a group join in ~3 s instead of kafka-python's ~23 s.
    config = consumer_settings("catalog").consumer_config()
    assert config["enable_auto_commit"] is False
    assert (config["session_timeout_ms"], config["heartbeat_interval_ms"],
            config["max_poll_interval_ms"]) == (6000, 1000, 10000)
    settings.KAFKA_CONSUMER_SESSION_TIMEOUT_MS = 9000
    settings.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS = 2000
    settings.KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS = 30000
    settings.KAFKA_CONSUMER_BATCH_SIZE = 77
    config = consumer_settings("catalog").consumer_config()
    assert (config["session_timeout_ms"], config["heartbeat_interval_ms"],
            config["max_poll_interval_ms"], config["max_poll_records"]) == (9000, 2000, 30000, 77)


def test_a_group_may_set_its_own_batch_and_fetch_waits(settings):
    # The live group (GraphQL subscriptions) is latency-bound: it neither collects a batch
    # nor lets an empty fetch wait as long as the others.
    settings.KAFKA_CONSUMER_BATCH_MAX_WAIT_MS = 321  # the platform-wide wait, as deployed
    live, catalog = consumer_settings("live"), consumer_settings("catalog")
    assert (live.batch_max_wait_ms, live.fetch_max_wait_ms) == (50, 100)
    assert (catalog.batch_max_wait_ms, catalog.fetch_max_wait_ms) == (321, 500)
    assert live.consumer_config()["fetch_max_wait_ms"] == 100
    assert live.session_timeout_ms == catalog.session_timeout_ms  # the rest is shared
    settings.KAFKA_CONSUMER_GROUP_SETTINGS = {"catalog": {"batch_max_wait_ms": 20}}
    assert consumer_settings("catalog").batch_max_wait_ms == 20
    # The live group's 50 ms was in the default group settings this replaced.
    assert consumer_settings("live").batch_max_wait_ms == 321
    settings.KAFKA_CONSUMER_GROUP_SETTINGS = {"catalog": {"batch_wait": 20}}
    with pytest.raises(ImproperlyConfigured, match=r"names batch_wait, which a group cannot"):
        consumer_settings("catalog")
    settings.KAFKA_CONSUMER_GROUP_SETTINGS = {"catalog": {"fetch_max_wait_ms": 0}}
    with pytest.raises(ImproperlyConfigured, match="fetch wait must be positive"):
        consumer_settings("catalog")


def test_a_group_without_handlers_is_a_configuration_error_that_says_what_to_do():
    with pytest.raises(ImproperlyConfigured, match=r"add it to EVENT_HANDLERS"):
        build_runner("nobody", handlers=HandlerRegistry())
