"""The compose profile's Prometheus, the real server, against the web role as production
runs it (gunicorn, two workers): it scrapes /metrics, evaluates the recording and alert
rules over what it scraped, and every query of the Grafana dashboards is valid PromQL.

Only the target addresses, the rule file's path and the intervals (1 s instead of 15 s)
differ from deploy/observability/prometheus/prometheus.yml."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.observability.test_alert_rules import DASHBOARDS, PROMETHEUS
from tests.observability.web_process import free_port, gunicorn_web

PATIENCE_S = 90  # scrapes and rule evaluations every second; a loaded machine is slower


def _config_for(web: str, tmp_path: Path) -> Path:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / "rules.yml")]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"dictamesh-web", "dictamesh-worker"}
    jobs["dictamesh-web"]["static_configs"] = [{"targets": [web]}]
    config["scrape_configs"] = [jobs["dictamesh-web"]]  # no worker runs in this test
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def prometheus_server(config: Path, tmp_path: Path
                      ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("prometheus")
    assert binary, "install Prometheus (Debian: apt-get install prometheus); .ci/run does"
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    server = subprocess.Popen(  # noqa: S603 - the Debian package's server
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _eventually(lambda: requests.get(f"{base}/-/ready", timeout=10).status_code == 200,
                    server, tmp_path)
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _eventually(check: Callable[[], Any], server: subprocess.Popen[bytes],
                tmp_path: Path) -> Any:
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        assert server.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
        try:
            if result := check():
                return result
        except requests.ConnectionError:  # still starting
            pass
        time.sleep(0.5)
    raise AssertionError(f"not within {PATIENCE_S} s; Prometheus said: "
                         f"{(tmp_path / 'prometheus.log').read_text()[-2000:]}")


def _query(base: str, promql: str) -> dict[str, Any]:
    answer = requests.get(f"{base}/api/v1/query", params={"query": promql}, timeout=30).json()
    assert answer["status"] == "success", f"{promql}: {answer}"
    return answer["data"]


def _dashboard_queries() -> list[str]:
    queries = []
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        queries += [target["expr"] for panel in dashboard["panels"]
                    for target in panel.get("targets", [])]
    # Grafana fills its variables in before Prometheus sees the query.
    return [q.replace("$tenant", ".*").replace("$__rate_interval", "1m") for q in queries]


@pytest.mark.usefixtures("transactional_db")
def test_prometheus_scrapes_the_web_role_and_evaluates_our_rules_and_dashboards(tmp_path):
    with gunicorn_web(tmp_path / "multiproc", tmp_path / "gunicorn.log", workers=2) as web, \
            prometheus_server(_config_for(web.removeprefix("http://"), tmp_path),
                              tmp_path) as (prometheus, handle):

        last_seen: list[Any] = []

        def web_target_up() -> bool:
            targets = requests.get(f"{prometheus}/api/v1/targets", timeout=10).json()
            last_seen[:] = [(t["health"], t["lastError"])
                            for t in targets["data"]["activeTargets"]]
            return last_seen == [("up", "")]

        def requests_rate_recorded() -> list[dict[str, Any]]:
            for _ in range(5):  # traffic between scrapes, so the rate is above zero
                assert requests.get(f"{web}/admin/login/", timeout=30).status_code == 200
            result = _query(prometheus, 'dictamesh:http_requests:rate5m{status="2xx"} > 0')
            return list(result["result"])

        try:
            _eventually(web_target_up, handle, tmp_path)
        except AssertionError as exc:
            raise AssertionError(f"the web target is {last_seen}") from exc
        # The recording rule has run over two scrapes of both workers' summed counters.
        series = _eventually(requests_rate_recorded, handle, tmp_path)
        labels = {(s["metric"]["tenant"], s["metric"]["status"]) for s in series}
        assert labels == {("public", "2xx")}

        rules = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]
        evaluated = [rule for group in rules["groups"] for rule in group["rules"]]
        alerts = {r["name"] for r in evaluated if r["type"] == "alerting"}
        expected = {r["alert"] for g in yaml.safe_load(
            (PROMETHEUS / "rules.yml").read_text())["groups"] for r in g["rules"]
            if "alert" in r}
        assert alerts == expected
        assert [r["name"] for r in evaluated if r.get("health") == "err"] == []

        queries = _dashboard_queries()
        assert len(queries) >= 10
        for query in queries:  # a parse or type error fails _query
            _query(prometheus, query)
