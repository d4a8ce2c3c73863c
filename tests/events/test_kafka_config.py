"""One builder of Kafka client options: its merge rules, and that every client uses it."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from dictamesh.events.consumer import ConsumerSettings
from dictamesh.events.kafka_config import (
    IO_CLIENT,
    IO_STEP_WARNING_SECONDS,
    KafkaConnection,
    KafkaSecurity,
    client_options,
)
from dictamesh.events.producer import OutgoingRecord, ProducerConfig
from dictamesh.events.topics import TopicProvisioningError, open_admin
from dictamesh.health.checks import check_kafka
from tests.events.conftest import quick_producer

SCRAM = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                      sasl_username="mesh", sasl_password="secret",
                      ssl_cafile="/etc/kafka/ca.pem", ssl_check_hostname=False)
SCRAM_OPTIONS = {
    "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "mesh", "sasl_plain_password": "secret",
    "ssl_cafile": "/etc/kafka/ca.pem", "ssl_certfile": None, "ssl_keyfile": None,
    "ssl_password": None, "ssl_check_hostname": False,
}


def test_plaintext_options_are_the_servers_the_client_id_and_the_role_options():
    connection = KafkaConnection(("k1:9092", "k2:9092"))
    assert client_options(connection, "dictamesh-x", acks="all", linger_ms=5) == {
        "bootstrap_servers": ["k1:9092", "k2:9092"], "client_id": "dictamesh-x",
        "kafka_client": IO_CLIENT, "security_protocol": "PLAINTEXT", "acks": "all",
        "linger_ms": 5,
    }


def test_sasl_over_tls_adds_credentials_and_tls_options():
    options = client_options(KafkaConnection(("k:9093",), SCRAM), "c", group_id="g")
    assert options == {"bootstrap_servers": ["k:9093"], "client_id": "c", "group_id": "g",
                       "kafka_client": IO_CLIENT, **SCRAM_OPTIONS}


def test_each_protocol_passes_only_the_options_it_uses():
    tls = KafkaSecurity(protocol="SSL", ssl_certfile="/c.pem", ssl_keyfile="/k.pem",
                        ssl_password="pw")
    assert tls.kafka_options() == {
        "security_protocol": "SSL", "ssl_cafile": None, "ssl_certfile": "/c.pem",
        "ssl_keyfile": "/k.pem", "ssl_password": "pw", "ssl_check_hostname": True,
    }
    sasl_plain = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                               sasl_username="u", sasl_password="p")
    assert sasl_plain.kafka_options() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "u", "sasl_plain_password": "p",
    }


@pytest.mark.parametrize("option", ["bootstrap_servers", "client_id", "security_protocol",
                                    "sasl_plain_password", "ssl_cafile"])
def test_a_role_cannot_set_a_connection_option(option):
    with pytest.raises(ValueError, match=option):
        client_options(KafkaConnection(("k:9092",)), "c", **{option: "x"})


@pytest.mark.parametrize(("fields", "named"), [
    ({"protocol": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"protocol": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
    ({"protocol": "SASL_SSL", "sasl_mechanism": "OAUTHBEARER", "sasl_username": "u",
      "sasl_password": "p"}, "KAFKA_SASL_MECHANISM"),
    ({"protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u"},
     "KAFKA_SASL_PASSWORD"),
    ({"protocol": "SSL", "sasl_mechanism": "PLAIN"}, "KAFKA_SASL_MECHANISM"),
])
def test_unusable_security_names_the_variable(fields, named):
    with pytest.raises(ValueError, match=named):
        KafkaSecurity(**fields)


def test_passwords_stay_out_of_reprs():
    assert "secret" not in repr(SCRAM)
    assert "secret" not in repr(KafkaConnection(("k:9093",), SCRAM))


def test_a_connection_needs_servers():
    with pytest.raises(ValueError, match="bootstrap"):
        KafkaConnection(())


@pytest.fixture
def scram_settings(settings):
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_SSL"
    settings.KAFKA_SASL_MECHANISM = "SCRAM-SHA-512"
    settings.KAFKA_SASL_USERNAME = "mesh"
    settings.KAFKA_SASL_PASSWORD = "secret"
    settings.KAFKA_SSL_CAFILE = "/etc/kafka/ca.pem"
    settings.KAFKA_SSL_CHECK_HOSTNAME = False
    return settings


def test_the_producer_takes_security_from_settings(scram_settings):
    options = ProducerConfig(bootstrap_servers=("k:9093",), client_id="p").kafka_options()
    assert options.items() >= {**SCRAM_OPTIONS, "bootstrap_servers": ["k:9093"],
                               "client_id": "p", "enable_idempotence": True}.items()


def test_the_consumer_and_its_dead_letter_producer_take_security_from_settings(
        scram_settings):
    consumer = ConsumerSettings(["k:9093"], "catalog")
    assert consumer.consumer_config().items() >= {
        **SCRAM_OPTIONS, "group_id": "catalog", "client_id": "dictamesh-catalog"}.items()
    assert consumer.producer_config().items() >= {
        **SCRAM_OPTIONS, "acks": "all", "client_id": "dictamesh-catalog-dlq"}.items()


# The admin client, the readiness check and the producer connect for real: the test broker
# speaks no SASL, so SASL from settings must make them fail where the default connects.

def use_sasl(settings):
    settings.KAFKA_SECURITY_PROTOCOL = "SASL_PLAINTEXT"
    settings.KAFKA_SASL_MECHANISM = "PLAIN"
    settings.KAFKA_SASL_USERNAME, settings.KAFKA_SASL_PASSWORD = "mesh", "secret"


def test_the_admin_client_takes_security_from_settings(settings, kafka_bootstrap):
    open_admin([kafka_bootstrap], timeout_ms=3000).close()
    use_sasl(settings)
    with pytest.raises(TopicProvisioningError, match="unreachable"):
        open_admin([kafka_bootstrap], timeout_ms=1500)


def test_the_readiness_check_takes_security_from_settings(settings, kafka_bootstrap):
    settings.KAFKA_BOOTSTRAP_SERVERS = [kafka_bootstrap]
    check_kafka(3.0)
    use_sasl(settings)
    with pytest.raises(KafkaError):
        check_kafka(1.5)


def test_the_producer_connects_with_security_from_settings(settings, kafka_bootstrap):
    use_sasl(settings)
    with quick_producer(kafka_bootstrap) as producer:
        delivery = producer.send_batch([OutgoingRecord("any.topic.here", "k", b"v")])
    assert delivery.unreachable


def test_io_steps_warn_only_when_they_could_delay_a_heartbeat(kafka_bootstrap):
    """kafka-python warns of an IO step past its threshold; ours is the heartbeat interval,
    since a step that waited for the GIL while our threads decode is no livelock."""
    settings = ConsumerSettings(bootstrap_servers=(kafka_bootstrap,), group="io-threshold")
    consumer = KafkaConsumer(**settings.consumer_config())
    try:
        assert consumer._net.config["slow_task_threshold_secs"] == IO_STEP_WARNING_SECONDS
        assert settings.heartbeat_interval_ms <= IO_STEP_WARNING_SECONDS * 1000
    finally:
        consumer.close()
