"""The web role as it runs in production: gunicorn with two workers (config/gunicorn.py).

/metrics sums every worker's samples (prometheus_client's multiprocess files), whichever
worker answers the scrape; gunicorn's own logs and its access log are JSON lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from django.conf import settings
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.sagas.worker_process import _database_url

REQUESTS = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _login_page_count(base: str) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "http_request_duration_seconds_count"
               and sample.labels.get("route") == "admin/login/")


def _workers_that_served(metrics_dir: Path) -> set[str]:
    """The pids whose own sample file holds a request to the login page."""
    served = set()
    for path in metrics_dir.glob("histogram_*.db"):
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            if '"admin/login/"' in key and key.startswith('["http_request_duration_seconds"') \
                    and value:
                served.add(path.stem.rsplit("_", 1)[1])
    return served


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


def test_two_workers_are_one_set_of_metrics_and_every_log_line_is_json(
        transactional_db, tmp_path):
    port, metrics_dir, log = _free_port(), tmp_path / "prometheus", tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_URL": _database_url(), "WEB_CONCURRENCY": "2",
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
            # Four clients at once: while one worker answers, the other takes the next.
            with ThreadPoolExecutor(4) as pool:
                statuses = list(pool.map(lambda _: requests.get(
                    f"{base}/admin/login/", timeout=30).status_code, range(REQUESTS)))
            assert statuses == [200] * REQUESTS
            assert len(_workers_that_served(metrics_dir)) == 2
            # Every scrape, whichever worker answers it, counts all twenty.
            assert [_login_page_count(base) for _ in range(4)] == [REQUESTS] * 4
        finally:
            server.terminate()
            server.wait(timeout=30)

    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line: JSON, or this fails
    access = [r for r in records if r["logger"] == "gunicorn.access"
              and r["path"] == "/admin/login/"]
    assert len(access) == REQUESTS
    assert {(r["method"], r["status"]) for r in access} == {("GET", 200)}
    assert all(r["duration_ms"] > 0 for r in access)
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["event"]
               for r in records)
