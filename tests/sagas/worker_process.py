"""Real `celery worker` processes against the test database, for tests that kill one.

The in-thread ``celery_worker`` fixture cannot be killed like a process; these can
(``kill()`` is SIGKILL: no shutdown, no ack, no cleanup). Each factory uses one private
queue, shared by the test process's sends and every worker it starts. A worker runs one
task at a time (solo pool) unless started with ``concurrency``: then that many threads, so
that many sagas can be held at one step boundary when the process is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, queue: str, env: Mapping[str, str], log_path: Path,
                 concurrency: int = 1) -> None:
        self.name = f"saga-test-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_path
        self._log = log_path.open("ab")
        pool = ["--pool", "solo"] if concurrency == 1 else [
            "--pool", "threads", "--concurrency", str(concurrency)]
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-n",
             self.name, *pool, "--without-gossip", "--without-mingle",
             "--loglevel", "WARNING"],
            cwd=ROOT, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the worker answers a ping (it has connected and consumes its queue)."""
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited {self.process.returncode}; see "
                                     f"{self.log_path}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise AssertionError(f"worker {self.name} not ready in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed worker: nothing is acked or cleaned up."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


@pytest.fixture
def worker_processes(tenants_committed, tmp_path) -> Iterator[object]:
    """``start(concurrency=1, **env)`` -> a ready WorkerProcess on this test's private
    queue; ``env`` overrides settings of the worker (e.g. SAGA_STEP_TIMEOUT_SECONDS="1")."""
    from config.celery import app

    queue = f"test-proc-{uuid.uuid4().hex[:12]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    started: list[WorkerProcess] = []

    class Factory:
        def start(self, concurrency: int = 1, **env: str) -> WorkerProcess:
            if concurrency < 1:
                raise ValueError(f"concurrency must be at least 1, got {concurrency}")
            worker = WorkerProcess(queue, {
                "DATABASE_URL": _database_url(),
                "CELERY_TASK_DEFAULT_QUEUE": queue, "OUTBOX_RELAY_ENABLED": "false",
                "KAFKA_WORKER_CONSUMER_GROUPS": "", "WORKER_METRICS_PORT": "0",
                "KAFKA_BOOTSTRAP_SERVERS": ",".join(settings.KAFKA_BOOTSTRAP_SERVERS), **env,
            }, tmp_path / f"worker-{len(started)}.log", concurrency)
            started.append(worker)
            worker.wait_ready()
            return worker

    try:
        yield Factory()
    finally:
        for worker in started:
            worker.stop()
        app.conf.task_default_queue = previous_queue
