"""The two ways a consumer group runs: inside the Celery worker, and `manage.py consume`."""

from __future__ import annotations

import io
import os
import signal
import threading
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.db import connection

from apps.events.services import get_codec
from config.celery import app
from tests.events.consumers.conftest import effects, publish, wait_for


@pytest.fixture
def registered_group(settings, topics) -> str:
    """A group with the test handler in the settings' table of handlers, which the worker
    and the command read."""
    group = f"test-consumers-{uuid.uuid4().hex[:12]}"
    settings.EVENT_HANDLERS = {
        **settings.EVENT_HANDLERS,
        group: {topics.pattern: ["tests.events.consumers.conftest.record_effects"]},
    }
    return group


def test_the_celery_worker_runs_its_consumer_groups_and_stops_them(
    settings, effect_table, topics, producer, registered_group
):
    alpha, _ = effect_table
    topic = topics.create(alpha)
    sent = publish(producer, get_codec(), topic, alpha, 12)
    settings.KAFKA_WORKER_CONSUMER_GROUPS = [registered_group]
    settings.OUTBOX_RELAY_ENABLED = False  # only the consumer is under test

    with start_worker(app, pool="solo", queues=[f"test-{registered_group}"],
                      perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        wait_for(lambda: len(effects(alpha)) == 12, what="the worker's consumer applied 12")
        threads = [t for t in threading.enumerate() if t.name == f"consumer-{registered_group}"]
        assert len(threads) == 1

    assert not threads[0].is_alive(), "the worker stopped but left its consumer running"
    assert sorted(str(row[0]) for row in effects(alpha)) == sorted(r["event_id"] for r in sent)


def test_manage_py_consume_prints_progress_and_stops_cleanly_on_ctrl_c(
    effect_table, topics, producer, registered_group
):
    alpha, beta = effect_table
    alpha_topic, beta_topic = topics.create(alpha), topics.create(beta)
    publish(producer, get_codec(), alpha_topic, alpha, 7)
    publish(producer, get_codec(), beta_topic, beta, 5)

    def interrupt_when_applied() -> None:
        try:
            wait_for(lambda: len(effects(alpha)) == 7, what="the command applied 7")
        finally:
            connection.close()
            os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_when_applied, daemon=True)
    interrupter.start()
    out = io.StringIO()
    call_command("consume", group=registered_group, topics=f"{alpha}.*", stdout=out)
    interrupter.join(5)

    output = out.getvalue()
    assert "SIGINT: finishing the current batch" in output
    assert "applied 7," in output
    assert "Stopped" in output
    lines = output.strip().splitlines()
    # The totals printed as it stops: the lag after the last commit, not before the batch.
    assert lines[-2].startswith("applied 7,")
    assert lines[-2].endswith("lag 0"), lines[-2]
    assert effects(beta) == []  # --topics kept the command to alpha's topics
