"""The topic spec as Strimzi resources: ``KafkaTopic`` per topic, ``KafkaUser`` per tenant.

On Kubernetes with Strimzi, topics and credentials can be declared instead of created
through the admin API: ``manage.py provision_topics --format strimzi`` prints these, and
the Topic and User Operators apply them. The same spec (``deploy/kafka/topics.toml``)
drives both paths, so a topic has one partition count, retention and cleanup policy.

A tenant's ``KafkaUser`` reaches only what starts with ``<tenant>.`` (Kafka's PREFIXED
resource patterns, ``patternType: prefix`` in Strimzi): its topics, read only (events
enter through the platform's outbox, which checks them against the schema registry), and
consumer groups named ``<tenant>.<anything>``. The dot ends the prefix, so tenant
``acme`` never reaches ``acme_eu.`` topics.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from dictamesh.events.topics import TopicError, TopicSpec, TopicSpecSet

API_VERSION = "kafka.strimzi.io/v1"
CLUSTER_LABEL = "strimzi.io/cluster"
# On a tenant's topics and user: `kubectl delete kafkatopic,kafkauser -l
# dictamesh.io/tenant=<slug>` when it is offboarded (the Topic Operator would otherwise
# create the topics that offboarding deleted again).
TENANT_LABEL = "dictamesh.io/tenant"
MAX_NAME_LENGTH = 253  # a Kubernetes object name (DNS-1123 subdomain)
MAX_LABEL_VALUE_LENGTH = 63
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

# A tenant's own consumers: read and follow its topics, commit offsets in its groups.
TENANT_TOPIC_OPERATIONS = ("Describe", "DescribeConfigs", "Read")
TENANT_GROUP_OPERATIONS = ("Describe", "Read")


def resource_name(topic: str) -> str:
    """A Kubernetes name for ``topic``: underscores, which names may not hold, become dashes.

    Topic segments are lowercase letters, digits and underscores (dictamesh.events.topics),
    so no two topics map to one name. A segment ending in an underscore would end a name
    part in a dash, which Kubernetes refuses: that name loses the dash and gets a digest
    of the topic's name instead, which keeps it unique.
    """
    name = topic.replace("_", "-")
    if len(name) > MAX_NAME_LENGTH or not _DNS_SUBDOMAIN.match(name):
        trimmed = ".".join(part.strip("-") for part in name.split("."))
        name = f"{trimmed[:MAX_NAME_LENGTH - 9].rstrip('.-')}-{_digest(topic)}"
    if not _DNS_SUBDOMAIN.match(name):
        raise TopicError(f"Topic {topic!r} gives no valid Kubernetes name ({name!r}).")
    return name


def tenant_label(tenant: str) -> str:
    """The value of TENANT_LABEL: the slug, or (ending in an underscore) slug and digest."""
    if len(tenant) <= MAX_LABEL_VALUE_LENGTH and _LABEL_VALUE.match(tenant):
        return tenant
    return f"{tenant.strip('_')[:MAX_LABEL_VALUE_LENGTH - 9].rstrip('_')}-{_digest(tenant)}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _labels(cluster: str, tenant: str | None) -> dict[str, str]:
    labels = {CLUSTER_LABEL: cluster}
    if tenant is not None:
        labels[TENANT_LABEL] = tenant_label(tenant)
    return labels


def kafka_topic(physical_name: str, spec: TopicSpec, *, cluster: str,
                tenant: str | None = None, max_replicas: int | None = None) -> dict[str, Any]:
    """The ``KafkaTopic`` of one topic; ``max_replicas`` caps replication to the brokers."""
    replicas = spec.replication if max_replicas is None else min(spec.replication,
                                                                 max_replicas)
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaTopic",
        "metadata": {"name": resource_name(physical_name), "labels": _labels(cluster, tenant)},
        "spec": {
            "topicName": physical_name,
            "partitions": spec.partitions,
            "replicas": replicas,
            "config": {"retention.ms": spec.retention_ms, "cleanup.policy": spec.cleanup_policy},
        },
    }


def tenant_prefix(tenant: str) -> str:
    return f"{tenant}."


def tenant_user_name(tenant: str) -> str:
    """The tenant's ``KafkaUser``: also its Kafka user name and its credentials' Secret."""
    return resource_name(f"tenant-{tenant}")


def tenant_kafka_user(tenant: str, spec_set: TopicSpecSet, *, cluster: str) -> dict[str, Any]:
    """A ``KafkaUser`` (SCRAM-SHA-512) allowed only on ``<tenant>.`` topics and groups.

    Refused when the prefix would also cover one of the spec's global topics (a tenant
    slug equal to a global topic's domain).
    """
    prefix = tenant_prefix(tenant)
    for name, _ in spec_set.global_topics():
        if name.startswith(prefix):
            raise TopicError(
                f"Tenant {tenant!r}: its ACL prefix {prefix!r} would also reach the global "
                f"topic {name!r}; a tenant slug must not be a global topic's domain.")
    return {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": {"name": tenant_user_name(tenant), "labels": _labels(cluster, tenant)},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [
                    _prefixed_acl("topic", prefix, TENANT_TOPIC_OPERATIONS),
                    _prefixed_acl("group", prefix, TENANT_GROUP_OPERATIONS),
                ],
            },
        },
    }


def _prefixed_acl(resource_type: str, prefix: str,
                  operations: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "allow",
        "resource": {"type": resource_type, "name": prefix, "patternType": "prefix"},
        "operations": list(operations),
    }


def strimzi_resources(spec_set: TopicSpecSet, tenants: list[str], *, include_global: bool,
                      cluster: str, max_replicas: int | None = None,
                      dead_letter_retention_ms: Mapping[str, int] | None = None,
                      partition_tiers: Mapping[str, str | None] | None = None,
                      ) -> list[dict[str, Any]]:
    """The global topics (if asked), then each tenant's topics and its ``KafkaUser``;
    ``dead_letter_retention_ms`` gives tenants their own dead-letter retention,
    ``partition_tiers`` their partition tiers (absent: the spec's default tier)."""
    own_retention = dead_letter_retention_ms or {}
    tiers = partition_tiers or {}
    topics = spec_set.global_topics() if include_global else []
    resources = [kafka_topic(name, spec, cluster=cluster, max_replicas=max_replicas)
                 for name, spec in topics]
    for tenant in tenants:
        resources += [kafka_topic(name, spec, cluster=cluster, tenant=tenant,
                                  max_replicas=max_replicas)
                      for name, spec in spec_set.for_tenant(
                          tenant, dead_letter_retention_ms=own_retention.get(tenant),
                          partition_tier=tiers.get(tenant))]
        resources.append(tenant_kafka_user(tenant, spec_set, cluster=cluster))
    return resources
