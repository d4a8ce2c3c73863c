"""The web role started as production starts it: gunicorn with config/gunicorn.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from django.conf import settings

from tests.sagas.worker_process import _database_url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(f"{base}/healthz", timeout=30).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # still starting
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer /healthz: {log.read_text()[-3000:]}")


@contextmanager
def gunicorn_web(metrics_dir: Path, log: Path, *, workers: int) -> Iterator[str]:
    """gunicorn serving the test database with ``workers`` workers, its output in ``log``,
    prometheus_client's multiprocess files in ``metrics_dir``; yields its base URL."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "WEB_CONCURRENCY": str(workers),
           "GUNICORN_BIND": f"127.0.0.1:{port}", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "KAFKA_BOOTSTRAP_SERVERS": ",".join(settings.KAFKA_BOOTSTRAP_SERVERS),
           "LOG_FORMAT": "json"}
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter's gunicorn
            [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:config.gunicorn",
             "config.wsgi:application"], env=env, stdout=output, stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR)
        try:
            _wait_until_serving(base, server, log)
            yield base
        finally:
            server.terminate()
            server.wait(timeout=30)
