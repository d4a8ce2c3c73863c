"""A tenant's dead-letter topics kept as long as its retention policy says.

Kafka removes old records itself, by each topic's ``retention.ms``; what a tenant's
policy (``dead_letter_days``) changes is that setting on its ``<tenant>.*.dlq`` topics.
Only ``retention.ms`` is altered, through kafka-python's ``alter_configs``, which uses
IncrementalAlterConfigs where the broker has it (Apache Kafka ≥ 2.3), so a topic's other
settings are never reset; on older brokers kafka-python re-sends the other dynamic
settings with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from dictamesh.events.topics import TopicProvisioningError, open_admin, parse_topic

RETENTION_MS = "retention.ms"


@dataclass(frozen=True)
class RetentionChange:
    """One topic whose ``retention.ms`` was (or, in a dry run, would be) changed."""

    topic: str
    before_ms: int | None  # None: the broker reported no value
    after_ms: int


def dead_letter_topics(names: Iterable[str], tenant: str) -> list[str]:
    """The tenant's dead-letter topics among ``names`` (a cluster's topic list)."""
    prefix = f"{tenant}."
    found = []
    for name in names:
        if not name.startswith(prefix):
            continue
        try:
            if parse_topic(name).is_dlq:
                found.append(name)
        except ValueError:  # a topic outside our taxonomy is not ours to change
            continue
    return sorted(found)


def _current_retention(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int | None]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
    described: Mapping = admin.describe_configs(resources, config_filter="all").get("topic", {})
    current: dict[str, int | None] = {}
    for name in topics:
        value = (described.get(name, {}).get(RETENTION_MS) or {}).get("value")
        current[name] = int(value) if value not in (None, "") else None
    return current


def align_retention(admin: KafkaAdminClient, wanted: Mapping[str, int], *,
                    dry_run: bool = False) -> list[RetentionChange]:
    """Set ``retention.ms`` of each topic in ``wanted`` that differs; the changes made."""
    if not wanted:
        return []
    current = _current_retention(admin, list(wanted))
    changes = [RetentionChange(name, current[name], ms) for name, ms in sorted(wanted.items())
               if current[name] != ms]
    if changes and not dry_run:
        resources = [ConfigResource(ConfigResourceType.TOPIC, change.topic,
                                    configs={RETENTION_MS: str(change.after_ms)})
                     for change in changes]
        results = admin.alter_configs(resources, raise_on_unknown=False).get("topic", {})
        refused = {name: result for name, result in results.items() if result != "OK"}
        if refused:
            raise TopicProvisioningError(
                f"Kafka refused to change {RETENTION_MS} of {refused}: check that the "
                "platform's Kafka user may alter these topics' configs (AlterConfigs ACL).")
    return changes


def set_dead_letter_retention(tenant: str, retention_ms: int, *,
                              dry_run: bool = False) -> list[RetentionChange]:
    """Give every dead-letter topic of ``tenant`` on the configured cluster this retention.

    TopicProvisioningError says what to do when Kafka is unreachable or refuses."""
    admin = open_admin(settings.KAFKA_BOOTSTRAP_SERVERS)
    try:
        topics = dead_letter_topics(admin.list_topics(), tenant)
        return align_retention(admin, dict.fromkeys(topics, retention_ms), dry_run=dry_run)
    except KafkaError as exc:
        raise TopicProvisioningError(
            f"Kafka did not answer while setting the dead-letter retention of {tenant!r} "
            f"({exc}); run `manage.py apply_retention --tenant {tenant}` again once it is "
            "reachable.") from exc
    finally:
        admin.close()
