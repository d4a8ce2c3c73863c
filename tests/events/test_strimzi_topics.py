"""`provision_topics --format strimzi`: the topic spec as KafkaTopic and KafkaUser resources,
checked against Strimzi 1.2.0's vendored CRD schemas."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from django.core.management import CommandError, call_command

from devtools.manifests import validation_errors
from dictamesh.events.strimzi import resource_name, strimzi_resources
from dictamesh.events.topics import DAY_MS, TopicError, configured_spec, parse_spec
from tests.events.test_topics import SPEC_TOPICS

DLQ_SPEC = (3, 30, "delete")  # deploy/kafka/topics.toml [dead_letter]


def strimzi_output(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("provision_topics", "--format", "strimzi", *args, stdout=out)
    return list(yaml.safe_load_all(out.getvalue()))


def expected_topics(tenant: str) -> dict[str, tuple[int, int, str]]:
    """topicName -> (partitions, retention days, cleanup policy), from the spec's table."""
    topics = {}
    for base, figures in SPEC_TOPICS.items():
        topics[f"{tenant}.{base}"] = figures
        topics[f"{tenant}.{base}.dlq"] = DLQ_SPEC
    return topics


def test_one_tenant_gets_every_topic_of_the_spec_and_a_user(tenant_a, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = ["127.0.0.1:1"]  # nothing listens: Kafka is not needed
    slug = tenant_a.schema_name
    resources = strimzi_output("--tenant", slug)

    for resource in resources:
        assert validation_errors(resource) == []
        assert resource["metadata"]["labels"] == {"strimzi.io/cluster": "dictamesh",
                                                  "dictamesh.io/tenant": slug}
    topics = {r["spec"]["topicName"]: r for r in resources if r["kind"] == "KafkaTopic"}
    expected = expected_topics(slug)
    assert set(topics) == set(expected)
    for name, (partitions, days, policy) in expected.items():
        spec = topics[name]["spec"]
        assert spec["partitions"] == partitions
        assert spec["replicas"] == 3
        assert spec["config"] == {"retention.ms": days * DAY_MS, "cleanup.policy": policy}
        assert topics[name]["metadata"]["name"] == name.replace("_", "-")

    users = [r for r in resources if r["kind"] == "KafkaUser"]
    assert [u["metadata"]["name"] for u in users] == [f"tenant-{slug.replace('_', '-')}"]
    assert users[0]["spec"]["authentication"] == {"type": "scram-sha-512"}


def test_a_tenant_user_reaches_only_its_own_prefix_and_only_reads(tenant_a, tenant_b):
    slug = tenant_a.schema_name
    user = next(r for r in strimzi_output("--tenant", slug) if r["kind"] == "KafkaUser")
    acls = user["spec"]["authorization"]["acls"]

    assert {(a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"])
            for a in acls} == {("topic", f"{slug}.", "prefix"), ("group", f"{slug}.", "prefix")}
    assert all(a["type"] == "allow" for a in acls)
    granted = {op for acl in acls for op in acl["operations"]}
    assert granted == {"Read", "Describe", "DescribeConfigs"}  # no Write, Create, Delete, All
    # Kafka's PREFIXED match is a plain string prefix: the tenant's topics match, the other
    # tenant's do not, nor would a tenant whose slug extends this one.
    prefix = acls[0]["resource"]["name"]
    assert all(t.startswith(prefix) for t in expected_topics(slug))
    assert not any(t.startswith(prefix) for t in expected_topics(tenant_b.schema_name))
    assert not any(t.startswith(prefix) for t in expected_topics(f"{slug}_eu"))


def test_all_tenants_and_replicas_capped_for_a_small_cluster(tenant_a, tenant_b):
    resources = strimzi_output("--max-replicas", "1", "--cluster", "dev-kafka")

    users = {r["metadata"]["name"] for r in resources if r["kind"] == "KafkaUser"}
    assert {f"tenant-{t.schema_name.replace('_', '-')}" for t in (tenant_a, tenant_b)} <= users
    topics = [r for r in resources if r["kind"] == "KafkaTopic"]
    names = {t["spec"]["topicName"] for t in topics}
    assert set(expected_topics(tenant_a.schema_name)) | set(
        expected_topics(tenant_b.schema_name)) <= names
    assert {t["spec"]["replicas"] for t in topics} == {1}
    assert {r["metadata"]["labels"]["strimzi.io/cluster"] for r in resources} == {"dev-kafka"}
    assert all(validation_errors(r) == [] for r in resources)


def test_bad_options_are_clear_errors(tenant_a, db):
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        call_command("provision_topics", "--format", "strimzi", "--tenant", "nobody")
    with pytest.raises(CommandError, match="drop --dry-run"):
        call_command("provision_topics", "--format", "strimzi", "--dry-run")
    with pytest.raises(CommandError, match="--max-replicas applies to --format strimzi"):
        call_command("provision_topics", "--max-replicas", "1")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("provision_topics", "--format", "strimzi", "--max-replicas", "0")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("provision_topics", "--format", "helm")


def test_a_tenant_prefix_may_not_cover_a_global_topic():
    spec = parse_spec({
        "dead_letter": {"partitions": 1, "retention_days": 1, "cleanup_policy": "delete"},
        "topics": [{"name": "audit.platform.entry_written", "scope": "global", "partitions": 1,
                    "replication": 1, "retention_days": 1, "cleanup_policy": "delete"}],
    })
    names = {r["spec"]["topicName"] for r in strimzi_resources(
        spec, [], include_global=True, cluster="c")}
    assert names == {"audit.platform.entry_written", "audit.platform.entry_written.dlq"}
    assert all("dictamesh.io/tenant" not in r["metadata"]["labels"]
               for r in strimzi_resources(spec, [], include_global=True, cluster="c"))
    with pytest.raises(TopicError, match="'audit.' would also reach the global topic"):
        strimzi_resources(spec, ["audit"], include_global=False, cluster="c")


# Kubernetes' own patterns (k8s.io/apimachinery validation): object names are DNS-1123
# subdomains, label values at most 63 characters that start and end alphanumeric.
DNS_1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_resource_names_are_kubernetes_names():
    assert resource_name("acme.customers.directus.entity_changed.dlq") == \
        "acme.customers.directus.entity-changed.dlq"
    with pytest.raises(TopicError, match="no valid Kubernetes name"):
        resource_name("Acme.x.y.z")
    longest = ".".join(["t" * 61 + "_", "d" * 61, "s" * 61, "e" * 62])  # Kafka's 249
    assert len(longest) == 249
    name = resource_name(longest)
    assert len(name) <= 253
    assert DNS_1123_SUBDOMAIN.match(name), name


@pytest.mark.parametrize("tenant", ["acme", "acme_", "acme__", "a" * 39 + "_"])
def test_every_tenant_slug_gives_valid_and_distinct_names_and_labels(tenant):
    spec = configured_spec()
    tenants = sorted({tenant, "acme"})  # beside the slug it extends, if another
    resources = strimzi_resources(spec, tenants, include_global=False, cluster="c")
    names = [r["metadata"]["name"] for r in resources]
    assert len(set(names)) == len(names)
    for resource in resources:
        name = resource["metadata"]["name"]
        assert len(name) <= 253
        assert DNS_1123_SUBDOMAIN.match(name), name
        label = resource["metadata"]["labels"]["dictamesh.io/tenant"]
        assert len(label) <= 63
        assert LABEL_VALUE.match(label), label
        assert validation_errors(resource) == []
    labels = {r["metadata"]["labels"]["dictamesh.io/tenant"] for r in resources}
    assert len(labels) == len(tenants)
