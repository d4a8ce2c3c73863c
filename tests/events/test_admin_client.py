"""Admin clients that cannot reach Kafka leave no thread behind.

kafka-python's ``KafkaAdminClient`` starts its IO thread before it bootstraps and leaves it
running when the bootstrap fails. The readiness probe, the topic directory and
``provision_topics`` all open admin clients; during an outage they must not add a
reconnecting thread per attempt.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid

import pytest
from kafka.errors import KafkaError

from dictamesh.events.admin_client import open_admin_client
from dictamesh.events.kafka_config import KafkaConnection
from dictamesh.health.checks import check_kafka
from tests.events.conftest import free_port

QUICK = {"request_timeout_ms": 500, "bootstrap_timeout_ms": 500}


def io_threads(client_id: str) -> list[threading.Thread]:
    """kafka-python names a client's IO thread after its client id."""
    return [thread for thread in threading.enumerate()
            if thread.name == f"kafka-io-{client_id}" and thread.is_alive()]


def unreachable() -> KafkaConnection:
    return KafkaConnection((f"127.0.0.1:{free_port()}",))


# Run in a child process: the thread it leaks would otherwise live on in the test process.
BARE_CLIENT_ON_AN_UNREACHABLE_CLUSTER = """
import sys, threading
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
try:
    KafkaAdminClient(bootstrap_servers=[sys.argv[1]], client_id="bare",
                     request_timeout_ms=500, bootstrap_timeout_ms=500)
except KafkaError:
    print(sum(thread.name == "kafka-io-bare" for thread in threading.enumerate()))
"""


def test_kafka_pythons_own_client_leaves_its_thread_running_when_it_cannot_bootstrap():
    """Why ours exists: the library's client, on the same unreachable cluster."""
    finished = subprocess.run(
        [sys.executable, "-c", BARE_CLIENT_ON_AN_UNREACHABLE_CLUSTER,
         f"127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert finished.stdout.strip() == "1", finished.stderr


def test_ours_raises_the_bootstrap_error_with_its_thread_stopped():
    client_id = f"ours-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        with pytest.raises(KafkaError):
            open_admin_client(unreachable(), client_id, **QUICK)
    assert not io_threads(client_id)


def test_ours_works_and_closes_like_the_librarys(kafka_bootstrap):
    client_id = f"ours-{uuid.uuid4().hex[:8]}"
    admin = open_admin_client(KafkaConnection((kafka_bootstrap,)), client_id,
                              request_timeout_ms=5000)
    try:
        assert len(io_threads(client_id)) == 1
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()
    assert not io_threads(client_id)


def test_readiness_probes_during_an_outage_leave_no_threads(settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = [f"127.0.0.1:{free_port()}"]
    for _ in range(3):  # as an orchestrator probes, every few seconds
        with pytest.raises(KafkaError):
            check_kafka(0.5)
    assert not io_threads("dictamesh-readyz")
