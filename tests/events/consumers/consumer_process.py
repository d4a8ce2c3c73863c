"""A real consumer process running the catalog's handler, for tests that kill it.

    python -m tests.events.consumers.consumer_process GROUP TOPIC_GLOB

runs the runner of ``GROUP`` with the catalog's real handler (and its validator) on the
topics matching ``TOPIC_GLOB``, against the database, broker and schema registry named by
the environment; it prints ``ready`` once started and exits on SIGTERM. The test process
kills it with SIGKILL: no shutdown, no offset commit, nothing cleaned up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from dictamesh.stop_signals import stop_on_signals
from tests.sagas.worker_process import _database_url

ROOT = Path(__file__).resolve().parents[3]
CATALOG_HANDLER = "apps.catalog.event_handlers.apply_entity_changes"


class ConsumerProcess:
    def __init__(self, group: str, pattern: str, env: Mapping[str, str], log_path: Path):
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "tests.events.consumers.consumer_process", group, pattern],
            cwd=ROOT, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed consumer."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@pytest.fixture
def consumer_processes(tenants_committed, tmp_path) -> Iterator[Any]:
    """``start(group, pattern, **env)`` -> a running ConsumerProcess (stopped at the end)."""
    started: list[ConsumerProcess] = []

    class Factory:
        def start(self, group: str, pattern: str, **env: str) -> ConsumerProcess:
            process = ConsumerProcess(group, pattern, {
                "DATABASE_URL": _database_url(),
                "KAFKA_BOOTSTRAP_SERVERS": ",".join(settings.KAFKA_BOOTSTRAP_SERVERS),
                "KAFKA_CONSUMER_BATCH_MAX_WAIT_MS": "100",
                "LOG_LEVEL": "INFO", **env,
            }, tmp_path / f"consumer-{len(started)}.log")
            started.append(process)
            return process

    yield Factory()
    for process in started:
        process.stop()


def main(group: str, pattern: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from apps.events.consumers import build_runner
    from apps.events.routes import handler_registry

    stop = threading.Event()
    handlers = handler_registry({group: {pattern: [CATALOG_HANDLER]}})
    runner = build_runner(group, handlers=handlers, stop_event=stop)
    with stop_on_signals(stop, signals=[signal.SIGTERM]):
        print("ready", flush=True)
        runner.run()


if __name__ == "__main__":
    main(*sys.argv[1:3])
