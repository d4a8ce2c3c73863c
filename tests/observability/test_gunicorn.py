"""The web role as it runs in production: gunicorn with two workers (config/gunicorn.py).

/metrics sums every worker's samples (prometheus_client's multiprocess files), whichever
worker answers the scrape; gunicorn's own logs and its access log are JSON lines."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.observability.web_process import gunicorn_web

ROUND = 20
# Under load one worker may still be importing Django while the other answers a whole
# round: rounds go on until both served, within this (generous) time.
BOTH_WORKERS_DEADLINE_SECONDS = 180


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


def test_two_workers_are_one_set_of_metrics_and_every_log_line_is_json(
        transactional_db, tmp_path):
    metrics_dir, log = tmp_path / "prometheus", tmp_path / "gunicorn.log"
    with gunicorn_web(metrics_dir, log, workers=2) as base:
        # Four clients at once: while one worker answers, the other takes the next.
        sent, deadline = 0, time.monotonic() + BOTH_WORKERS_DEADLINE_SECONDS
        with ThreadPoolExecutor(4) as pool:
            while True:
                statuses = list(pool.map(lambda _: requests.get(
                    f"{base}/admin/login/", timeout=30).status_code, range(ROUND)))
                assert statuses == [200] * ROUND
                sent += ROUND
                if len(_workers_that_served(metrics_dir)) == 2:
                    break
                assert time.monotonic() < deadline, "one worker answered every request"
        # Every scrape, whichever worker answers it, counts every request of both.
        assert [_login_page_count(base) for _ in range(4)] == [sent] * 4

    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line: JSON, or this fails
    access = [r for r in records if r["logger"] == "gunicorn.access"
              and r["path"] == "/admin/login/"]
    assert len(access) == sent
    assert {(r["method"], r["status"]) for r in access} == {("GET", 200)}
    assert all(r["duration_ms"] > 0 for r in access)
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["event"]
               for r in records)
