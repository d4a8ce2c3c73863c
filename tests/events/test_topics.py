"""Topic names, the topic spec, and provisioning it on the real broker."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import CommandError, call_command
from kafka.admin import ConfigResource, ConfigResourceType

from apps.tenancy.services import (
    TenancyError,
    offboard_tenant,
    onboard_tenant,
    tenant_exists,
    tenant_partition_tiers,
)
from dictamesh.events.topics import (
    DAY_MS,
    TopicError,
    TopicName,
    TopicSpec,
    configured_spec,
    dlq_name,
    load_spec,
    open_admin,
    parse_spec,
    parse_topic,
    provision,
    topic_name,
)
from tests.conftest import tenant_host
from tests.events.conftest import free_port, make_topics

SPEC_TOPICS = {
    # name: (partitions, retention days, cleanup policy)
    "customers.directus.entity_changed": (12, 30, "delete"),
    "products.products.entity_changed": (12, 7, "delete"),
    "products.thirdparty.entity_changed": (12, 7, "delete"),  # legacy, drained
    "invoices.ecommerce.entity_changed": (12, 90, "delete"),
    "system.metadata.entity_registered": (3, 365, "compact"),
    "system.lineage.relationship_created": (3, 365, "compact"),
    "system.sagas.state_changed": (6, 30, "delete"),
}
TENANT_TOPICS = 2 * len(SPEC_TOPICS)  # each with its dead-letter topic


# --- Names ---------------------------------------------------------------------------------


def test_topic_names_round_trip():
    assert topic_name("customers", "directus", "entity_changed") == \
        "customers.directus.entity_changed"
    full = topic_name("customers", "directus", "entity_changed", tenant="acme")
    assert full == "acme.customers.directus.entity_changed"
    assert parse_topic(full) == TopicName("acme", "customers", "directus", "entity_changed")
    assert parse_topic(full).base == "customers.directus.entity_changed"
    assert dlq_name(full) == "acme.customers.directus.entity_changed.dlq"
    parsed = parse_topic(dlq_name(full))
    assert parsed.is_dlq
    assert parsed.tenant == "acme"
    assert str(parsed) == dlq_name(full)
    # Three parts plus .dlq is a global dead-letter topic, not a tenant prefix.
    assert parse_topic("system.metadata.entity_registered.dlq") == TopicName(
        None, "system", "metadata", "entity_registered", is_dlq=True)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("customers.entity_changed", "does not follow"),
        ("a.b.c.d.e", "does not follow"),
        ("Acme.customers.directus.entity_changed", "tenant 'Acme' is not valid"),
        ("customers.direct-us.entity_changed", "source 'direct-us' is not valid"),
        ("customers..entity_changed", "source '' is not valid"),
        ("customers.directus.dlq", "reserved"),
        ("x" * 250, "Kafka allows 249"),
    ],
)
def test_bad_topic_names_are_refused_clearly(name, message):
    with pytest.raises(TopicError, match=message):
        parse_topic(name)


def test_dlq_of_a_dlq_is_refused():
    with pytest.raises(TopicError, match="already a dead-letter"):
        dlq_name("customers.directus.entity_changed.dlq")


# --- The spec ------------------------------------------------------------------------------


def test_the_shipped_spec_declares_the_topics_and_their_dead_letters():
    spec = configured_spec()
    by_name = {t.name: t for t in spec.topics}
    assert set(by_name) == set(SPEC_TOPICS) | {f"{n}.dlq" for n in SPEC_TOPICS}
    for name, (partitions, days, policy) in SPEC_TOPICS.items():
        topic = by_name[name]
        assert (topic.partitions, topic.replication, topic.retention_ms, topic.cleanup_policy) \
            == (partitions, 3, days * DAY_MS, policy)
        assert topic.scope == "tenant"
        dlq = by_name[f"{name}.dlq"]
        assert dlq.cleanup_policy == "delete"  # poison messages are never compacted away
    names = [name for name, _ in spec.for_tenant("acme")]
    assert "acme.customers.directus.entity_changed" in names
    assert "acme.system.lineage.relationship_created.dlq" in names
    assert spec.global_topics() == []


def _document(**topic_overrides):
    topic = {"name": "a.b.c", "scope": "tenant", "partitions": 3, "replication": 1,
             "retention_days": 1, "cleanup_policy": "delete"}
    topic.update(topic_overrides)
    return {"dead_letter": {"partitions": 1, "retention_days": 1, "cleanup_policy": "delete"},
            "topics": [{k: v for k, v in topic.items() if v is not None}]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"partition": 3}, r"unknown keys \['partition'\]"),
        ({"partitions": None}, r"missing keys \['partitions'\]"),
        ({"partitions": 0}, "partitions must be a positive integer"),
        ({"replication": "3"}, "replication must be a positive integer"),
        ({"cleanup_policy": "compacted"}, "cleanup_policy must be one of"),
        ({"scope": "shared"}, "scope must be 'tenant' or 'global'"),
        ({"name": "acme.a.b.c"}, "without tenant prefix"),
        ({"name": "A.b.c"}, "not valid"),
    ],
)
def test_bad_specs_are_refused_clearly(overrides, message):
    with pytest.raises(TopicError, match=message):
        parse_spec(_document(**overrides), origin="test.toml")


def test_a_spec_declaring_a_topic_twice_is_refused():
    document = _document()
    document["topics"] = document["topics"] * 2
    with pytest.raises(TopicError, match="declared twice"):
        parse_spec(document)


def test_a_tenants_partition_tier_caps_each_of_its_topics_dead_letters_included():
    spec = configured_spec()
    declared = {name: topic.partitions for name, topic in spec.for_tenant("acme")}
    small = {name: topic.partitions
             for name, topic in spec.for_tenant("acme", partition_tier="small")}
    medium = {name: topic.partitions
              for name, topic in spec.for_tenant("acme", partition_tier="medium")}
    assert set(small) == set(declared)
    assert set(small.values()) == {1}
    assert medium["acme.customers.directus.entity_changed"] == 3
    assert medium["acme.customers.directus.entity_changed.dlq"] == 3
    # The default tier keeps the declared counts, so a tenant without a tier is unchanged.
    assert spec.default_tier == "large"
    assert declared["acme.customers.directus.entity_changed"] == 12
    assert {name: topic.partitions for name, topic in spec.for_tenant(
        "acme", partition_tier="large")} == declared


def test_an_unknown_partition_tier_is_refused_naming_the_known_ones():
    with pytest.raises(TopicError, match=r"Unknown partition tier 'huge' \(tiers: large, "
                                         r"medium, small\)"):
        configured_spec().for_tenant("acme", partition_tier="huge")


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ({"default": "small"}, r"missing keys \['max_partitions'\]"),
        ({"default": "small", "max_partitions": {}}, "must name at least one tier"),
        ({"default": "small", "max_partitions": {"small": 0}}, "small must be a positive"),
        ({"default": "tiny", "max_partitions": {"small": 1}}, "default tier 'tiny' is not"),
    ],
)
def test_bad_partition_tiers_are_refused_clearly(tiers, message):
    document = {**_document(), "partition_tiers": tiers}
    with pytest.raises(TopicError, match=message):
        parse_spec(document, origin="test.toml")


def test_a_spec_without_tiers_keeps_the_declared_partitions():
    spec = parse_spec(_document())
    assert spec.default_tier is None
    assert [topic.partitions for _, topic in spec.for_tenant("acme")] == [3, 1]


def test_unreadable_specs_are_refused_clearly(tmp_path):
    with pytest.raises(TopicError, match="Cannot read the topic spec"):
        load_spec(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[topics]\nname = ")
    with pytest.raises(TopicError, match="not valid TOML"):
        load_spec(broken)


# --- Provisioning on the broker ------------------------------------------------------------


def _configs(bootstrap, name):
    admin = open_admin([bootstrap])
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)],
                                           config_filter="all")
        partitions = len(admin.describe_topics([name])[0]["partitions"])
    finally:
        admin.close()
    configs = described["topic"][name]
    return partitions, {k: configs[k]["value"] for k in ("retention.ms", "cleanup.policy")}


def test_provisioning_creates_the_tenants_topics_once(kafka_bootstrap):
    tenant = f"p{uuid.uuid4().hex[:10]}"
    topics = configured_spec().for_tenant(tenant)
    lines: list[str] = []
    admin = open_admin([kafka_bootstrap])
    try:
        dry = provision(admin, topics, dry_run=True, progress=lines.append)
        assert len(dry.would_create) == TENANT_TOPICS
        assert not dry.created
        assert not set(dry.would_create) & set(admin.list_topics())

        first = provision(admin, topics, progress=lines.append)
        second = provision(admin, topics, progress=lines.append)
    finally:
        admin.close()
    assert sorted(first.created) == sorted(name for name, _ in topics)
    assert not first.drift
    assert not first.errors
    assert sorted(second.unchanged) == sorted(first.created)
    assert not second.created
    assert not second.drift
    assert any(line.startswith("created  ") for line in lines)
    assert any("replication is capped at 1" in line for line in lines)  # one dev broker

    name = f"{tenant}.customers.directus.entity_changed"
    assert _configs(kafka_bootstrap, name) == (
        12, {"retention.ms": str(30 * DAY_MS), "cleanup.policy": "delete"})


def test_provisioning_reports_drift_and_changes_nothing(kafka_bootstrap):
    name = f"d{uuid.uuid4().hex[:10]}.testsrc.entity_changed"
    make_topics(kafka_bootstrap, [name], partitions=2)  # retention 1 h, delete
    wanted = TopicSpec(name=name, scope="global", partitions=6, replication=1,
                       retention_ms=7 * DAY_MS, cleanup_policy="compact")
    lines: list[str] = []
    admin = open_admin([kafka_bootstrap])
    try:
        report = provision(admin, [(name, wanted)], progress=lines.append)
    finally:
        admin.close()
    assert {(d.setting, d.expected, d.actual) for d in report.drift} == {
        ("partitions", "6", "2"),
        ("retention.ms", str(7 * DAY_MS), "3600000"),
        ("cleanup.policy", "compact", "delete"),
    }
    assert not report.created
    assert not report.unchanged
    assert len(lines) == 3  # one line per drifted setting, each saying it was left
    assert all(line.startswith("DRIFT") and "left as is" in line for line in lines)
    assert _configs(kafka_bootstrap, name) == (
        2, {"retention.ms": "3600000", "cleanup.policy": "delete"})


def test_provision_topics_command_for_one_tenant(kafka_bootstrap, tenant_a):
    out = io.StringIO()
    call_command("provision_topics", "--tenant", tenant_a.schema_name, stdout=out)
    text = out.getvalue()
    # Onboarding (the session fixture) created them already: all up to date.
    assert f"ok       {tenant_a.schema_name}.customers.directus.entity_changed" in text
    assert f"0 created, 0 to create, {TENANT_TOPICS} up to date, 0 drift, 0 errors" in text

    out = io.StringIO()
    call_command("provision_topics", "--tenant", tenant_a.schema_name, "--dry-run", stdout=out)
    assert f"{TENANT_TOPICS} up to date" in out.getvalue()


def test_provision_topics_command_refuses_an_unknown_tenant(kafka_bootstrap, db):
    with pytest.raises(CommandError, match="No tenant 'nobody'"):
        call_command("provision_topics", "--tenant", "nobody")


def test_provision_topics_command_says_when_kafka_is_down(db, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = [f"127.0.0.1:{free_port()}"]
    with pytest.raises(CommandError, match="unreachable.*provision_topics"):
        call_command("provision_topics", "--dry-run")


def test_onboarding_fails_loudly_when_kafka_is_down(tenant_a, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = [f"127.0.0.1:{free_port()}"]
    slug = tenant_a.schema_name
    with pytest.raises(TenancyError, match=f"topics are not.*onboard_tenant {slug}` again"):
        onboard_tenant(slug, name=slug, domain=tenant_host(slug))


def test_a_tenant_onboarded_in_the_small_tier_gets_one_partition_per_topic(kafka_bootstrap, db):
    slug = f"tier{uuid.uuid4().hex[:8]}"
    onboard_tenant(slug, name=slug, domain=tenant_host(slug), partition_tier="small")
    try:
        assert tenant_partition_tiers([slug]) == {slug: "small"}
        names = [name for name, _ in configured_spec().for_tenant(slug)]
        admin = open_admin([kafka_bootstrap])
        try:
            described = admin.describe_topics(names)
        finally:
            admin.close()
        assert {topic["name"]: len(topic["partitions"]) for topic in described} \
            == dict.fromkeys(names, 1)
        # The command provisions by the tenant's tier too: nothing drifts.
        out = io.StringIO()
        call_command("provision_topics", "--tenant", slug, stdout=out)
        assert f"0 created, 0 to create, {TENANT_TOPICS} up to date, 0 drift" in out.getvalue()
    finally:
        offboard_tenant(slug)


def test_onboarding_refuses_an_unknown_partition_tier_before_making_anything(db):
    slug = f"tier{uuid.uuid4().hex[:8]}"
    with pytest.raises(TenancyError, match="Unknown partition tier 'huge'"):
        onboard_tenant(slug, name=slug, domain=tenant_host(slug), partition_tier="huge")
    assert not tenant_exists(slug)
