"""deploy/observability: the alert rules pass promtool's checks and unit tests, every alert
links a runbook that exists, and the dashboards query only metrics the platform exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/observability/prometheus"
DASHBOARDS = ROOT / "deploy/observability/grafana/dashboards"
PROMQL_WORDS = {"sum", "by", "rate", "max", "min", "histogram_quantile", "le", "label_values",
                "and", "or", "on", "ignoring", "group_left", "deriv", "without"}


def _promtool(*args: str) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "install promtool (Debian: apt-get install prometheus); .ci/run does"
    done = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_rules_pass_promtool_check_and_their_unit_tests():
    assert "SUCCESS" in _promtool("check", "rules", "rules.yml")
    assert "SUCCESS" in _promtool("test", "rules", "rules.test.yml")


def test_every_alert_has_a_runbook_and_a_unit_test():
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    assert len(alerts) >= 7
    tested = (PROMETHEUS / "rules.test.yml").read_text()
    for alert in alerts:
        runbook = ROOT / alert["annotations"]["runbook_url"]
        assert runbook.is_file(), f"{alert['alert']}: no runbook at {runbook}"
        assert f"# {alert['alert']}" in runbook.read_text()
        assert f"alertname: {alert['alert']}" in tested, f"{alert['alert']} has no unit test"


def _exported_names() -> set[str]:
    """Metric names the product's code declares, with the suffixes exposition adds, and the
    names the recording rules define."""
    names = set()
    declared = re.compile(
        r"""(?:Counter|Gauge|Histogram|GaugeMetricFamily)\(\s*["']([a-z_]+)["']""")
    for source in [*ROOT.glob("apps/**/*.py"), *ROOT.glob("dictamesh/**/*.py")]:
        for name in declared.findall(source.read_text()):
            names |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    names |= {rule["record"] for group in rules["groups"] for rule in group["rules"]
              if "record" in rule}
    return names


def test_dashboards_query_metrics_that_exist():
    exported = _exported_names()
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text())
        queries = [target["expr"] for panel in dashboard["panels"]
                   for target in panel.get("targets", [])]
        queries += [v["query"] for v in dashboard["templating"]["list"]]
        assert queries
        for query in queries:
            without_labels = re.sub(r"\{[^}]*\}|\"[^\"]*\"|\[[^\]]*\]", "", query)
            words = set(re.findall(r"[a-z_:][a-z0-9_:]*", without_labels)) - PROMQL_WORDS
            metrics = {w for w in words if "_" in w and not w.startswith("$")}
            assert metrics, query
            unknown = {m for m in metrics if m not in exported and not _is_label(m, query)}
            assert not unknown, f"{path.name}: {query} reads {unknown}, which nothing exports"


def _is_label(word: str, query: str) -> bool:
    return bool(re.search(rf"by \([^)]*\b{word}\b", query))


def test_the_prometheus_config_of_the_compose_profile_is_valid(tmp_path):
    config = (PROMETHEUS / "prometheus.yml").read_text().replace(
        "/etc/prometheus/rules.yml", str(PROMETHEUS / "rules.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    assert "SUCCESS" in _promtool("check", "config", str(tmp_path / "prometheus.yml"))
