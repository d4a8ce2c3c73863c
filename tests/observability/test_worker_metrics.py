"""The worker serves its own /metrics: the relay's and consumers' figures live there."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid

import pytest

from apps.events.relay import BACKLOG
from dictamesh.observability.worker_metrics import WorkerMetricsStep


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a local URL
        return str(response.read().decode())


@pytest.fixture
def metrics_port(settings) -> int:
    settings.WORKER_METRICS_PORT = _free_port()
    settings.WORKER_METRICS_ADDR = "127.0.0.1"
    return int(settings.WORKER_METRICS_PORT)


@pytest.fixture
def backlog_label():
    """A tenant label no other test uses, so the value read back is the one set here."""
    label = f"metrics_{uuid.uuid4().hex[:8]}"
    yield label
    BACKLOG.remove(label)


def test_the_worker_step_serves_metrics_and_stops(metrics_port, backlog_label):
    step = WorkerMetricsStep(parent=None)
    assert step.include_if(None)
    step.start(None)
    try:
        # A value this process sets is what a scrape of the worker's port reads back.
        BACKLOG.labels(tenant=backlog_label).set(7)
        text = _scrape(metrics_port)
        assert f'dictamesh_outbox_backlog_messages{{tenant="{backlog_label}"}} 7.0' in text
        BACKLOG.labels(tenant=backlog_label).set(3)
        assert f'dictamesh_outbox_backlog_messages{{tenant="{backlog_label}"}} 3.0' \
            in _scrape(metrics_port)
    finally:
        step.stop(None)
    # Stopped: the port no longer answers and is free for the next worker.
    with pytest.raises(urllib.error.URLError):
        _scrape(metrics_port)
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", metrics_port))
    step.stop(None)  # stopping twice is harmless (celery may call stop after a failed start)


def test_a_taken_port_leaves_metrics_off_but_the_worker_running(metrics_port):
    first, second = WorkerMetricsStep(parent=None), WorkerMetricsStep(parent=None)
    first.start(None)
    try:
        second.start(None)  # logs a warning; must not raise, or the worker would not start
        assert second.server is None
        assert "# TYPE" in _scrape(metrics_port)  # the first still serves
        second.stop(None)
    finally:
        first.stop(None)


def test_port_zero_turns_it_off(settings):
    settings.WORKER_METRICS_PORT = 0
    assert not WorkerMetricsStep(parent=None).include_if(None)
