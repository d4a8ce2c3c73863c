"""gunicorn settings of the web role (``gunicorn -c python:config.gunicorn``).

- Prometheus multiprocess mode: each worker writes its samples under
  PROMETHEUS_MULTIPROC_DIR (set here, before any worker imports prometheus_client), and
  /metrics sums them, so a scrape no longer reads whichever single worker answered.
  The directory is emptied when gunicorn starts, and a dead worker's live gauges dropped.
- JSON logs: gunicorn's error and access logs as the platform's JSON lines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
logger_class = "dictamesh.observability.gunicorn_logging.JsonLogger"

_METRICS_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "dictamesh-prometheus"))


def on_starting(server: Any) -> None:
    """Samples of a previous run would be summed into this one's: start empty."""
    shutil.rmtree(_METRICS_DIR, ignore_errors=True)
    os.makedirs(_METRICS_DIR, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
