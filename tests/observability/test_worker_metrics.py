"""The worker serves its own /metrics: the relay's and consumers' figures live there."""

from __future__ import annotations

import socket
import urllib.request

from dictamesh.observability.worker_metrics import WorkerMetricsStep


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_worker_step_serves_metrics_and_stops(settings):
    settings.WORKER_METRICS_PORT = _free_port()
    settings.WORKER_METRICS_ADDR = "127.0.0.1"
    step = WorkerMetricsStep(parent=None)
    assert step.include_if(None)
    step.start(None)
    try:
        url = f"http://127.0.0.1:{settings.WORKER_METRICS_PORT}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            text = response.read().decode()
        assert "# TYPE" in text
        assert "dictamesh_outbox_backlog_messages" in text
    finally:
        step.stop(None)


def test_port_zero_turns_it_off(settings):
    settings.WORKER_METRICS_PORT = 0
    assert not WorkerMetricsStep(parent=None).include_if(None)
