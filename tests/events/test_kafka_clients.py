"""Kafka clients that cannot reach the cluster leave no thread behind.

kafka-python's ``KafkaAdminClient`` and ``KafkaConsumer`` start their IO thread before they
bootstrap and leave it running when the bootstrap fails. The readiness probe, the topic
directory, ``provision_topics`` and every consumer runner's reconnect open such clients;
during an outage they must not add a reconnecting thread per attempt.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid

import pytest
from kafka.errors import KafkaError, KafkaTimeoutError

from dictamesh.events.kafka_clients import open_admin_client, open_consumer
from dictamesh.events.kafka_config import KafkaConnection, client_options
from dictamesh.health.checks import check_kafka
from tests.events.conftest import free_port

# Give up bootstrapping after half a second. A consumer also wants its fetch wait below its
# request timeout, or it refuses the options before it starts anything.
QUICK = {"request_timeout_ms": 1000, "bootstrap_timeout_ms": 500}
QUICK_CONSUMER = {**QUICK, "fetch_max_wait_ms": 100}


def io_threads(client_id: str) -> list[threading.Thread]:
    """kafka-python names a client's IO thread after its client id."""
    return [thread for thread in threading.enumerate()
            if thread.name == f"kafka-io-{client_id}" and thread.is_alive()]


def unreachable() -> KafkaConnection:
    return KafkaConnection((f"127.0.0.1:{free_port()}",))


def open_admin(connection: KafkaConnection, client_id: str, **options):
    return open_admin_client(connection, client_id, **options)


def open_consumer_of_group(connection: KafkaConnection, client_id: str, **options):
    return open_consumer(client_options(connection, client_id, group_id=client_id,
                                        **options))


OPENERS = [(open_admin, QUICK), (open_consumer_of_group, QUICK_CONSUMER)]

# Run in a child process: the thread it leaks would otherwise live on in the test process.
BARE_CLIENT_ON_AN_UNREACHABLE_CLUSTER = """
import sys, threading
import kafka
from kafka.errors import KafkaTimeoutError
try:
    getattr(kafka, sys.argv[1])(bootstrap_servers=[sys.argv[2]], client_id="bare",
                                request_timeout_ms=1000, bootstrap_timeout_ms=500,
                                **({"fetch_max_wait_ms": 100} if "Consumer" in sys.argv[1]
                                   else {}))
except KafkaTimeoutError:
    print(sum(thread.name == "kafka-io-bare" for thread in threading.enumerate()))
"""


@pytest.mark.parametrize("library_class", ["KafkaAdminClient", "KafkaConsumer"])
def test_kafka_pythons_own_clients_leave_their_thread_running_when_they_cannot_bootstrap(
        library_class):
    """Why ours exist: the library's clients, on the same unreachable cluster."""
    finished = subprocess.run(
        [sys.executable, "-c", BARE_CLIENT_ON_AN_UNREACHABLE_CLUSTER, library_class,
         f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert finished.stdout.strip() == "1", finished.stderr


@pytest.mark.parametrize(("opener", "options"), OPENERS)
def test_ours_raise_the_bootstrap_error_with_their_thread_stopped(opener, options):
    client_id = f"ours-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        with pytest.raises(KafkaTimeoutError, match="bootstrap"):
            opener(unreachable(), client_id, **options)
    assert not io_threads(client_id)


@pytest.mark.parametrize(("opener", "options"), OPENERS)
def test_ours_work_and_close_like_the_librarys(opener, options, kafka_bootstrap):
    client_id = f"ours-{uuid.uuid4().hex[:8]}"
    client = opener(KafkaConnection((kafka_bootstrap,)), client_id, request_timeout_ms=5000)
    try:
        assert len(io_threads(client_id)) == 1
        topics = client.list_topics() if hasattr(client, "list_topics") else client.topics()
        assert topics
    finally:
        client.close()
    assert not io_threads(client_id)


def test_readiness_probes_during_an_outage_leave_no_threads(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = [f"127.0.0.1:{free_port()}"]
    for _ in range(3):  # as an orchestrator probes, every few seconds
        with pytest.raises(KafkaError):
            check_kafka(0.5)
    assert not io_threads("dictamesh-readyz")
