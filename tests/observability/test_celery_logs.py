"""A Celery worker logs JSON lines through the platform's logging (config/celery.py keeps
Celery from replacing the root handlers), as the image's entrypoint starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from config.celery import app
from tests.sagas.worker_process import ROOT, _database_url


def test_worker_logs_are_json_lines(transactional_db, tmp_path):
    name, log = f"logs-{uuid.uuid4().hex[:8]}@localhost", tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "WORKER_METRICS_PORT": "0",
           "KAFKA_WORKER_CONSUMER_GROUPS": "", "OUTBOX_RELAY_ENABLED": "false",
           "KAFKA_BOOTSTRAP_SERVERS": ",".join(settings.KAFKA_BOOTSTRAP_SERVERS),
           "LOG_FORMAT": "json",
           # The image runs the worker as a non-root user; tests may run as root, which
           # makes Celery warn before any logging is set up.
           "PYTHONWARNINGS": "ignore:You're running the worker with superuser privileges"}
    with log.open("wb") as output:
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "-n", name,
             "-Q", f"logs-{uuid.uuid4().hex[:8]}", "--pool", "solo", "--without-gossip",
             "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while not app.control.ping(destination=[name], timeout=0.5):
                assert worker.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
            text = Path(log).read_text()  # before shutdown: Celery prints its goodbye raw
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    records = [json.loads(line) for line in text.splitlines()]  # each line JSON
    loggers = {record["logger"] for record in records}
    assert any(name.startswith("celery") for name in loggers), loggers
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records)
    assert any("ready" in record["event"] for record in records), records
