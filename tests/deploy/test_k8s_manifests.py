"""deploy/k8s: every overlay renders, validates against the Kubernetes and Strimzi schemas,
and holds together (references, probes, policies, the Kafka wiring); yamllint is clean."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.http.request import validate_host
from yamllint import linter
from yamllint.config import YamlLintConfig

from devtools.kustomize import render
from devtools.manifests import validation_errors

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# Made outside the manifests in production (docs/kubernetes.md): by the cluster's secret
# store, and by Strimzi's operators for the cluster CA and each KafkaUser.
EXTERNAL_SECRETS = {"prod": {"dictamesh-secrets"}, "dev": set()}
PLATFORM_ROLES = ("web", "worker", "beat", "migrate")


def rendered(overlay: str) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / overlay)


def by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_templates(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """role -> pod template of the Deployments and the Job."""
    return {r["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]:
            r["spec"]["template"] for r in resources if r["kind"] in ("Deployment", "Job")}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "the checks here read matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_yamllint_is_clean():
    config = YamlLintConfig(file=str(ROOT / ".yamllint.yaml"))
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 15
    problems = [f"{path.relative_to(ROOT)}:{p.line}: {p.desc}" for path in files
                for p in linter.run(path.read_text(encoding="utf-8"), config, str(path))]
    assert problems == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_and_strimzi_schemas(overlay):
    resources = rendered(overlay)
    kinds = {r["kind"] for r in resources}
    assert {"Deployment", "Job", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "NetworkPolicy", "ConfigMap", "Kafka", "KafkaNodePool", "KafkaUser"} <= kinds
    assert [e for r in resources for e in validation_errors(r)] == []
    namespace = {"dev": "dictamesh-dev", "prod": "dictamesh"}[overlay]
    assert {r["metadata"].get("namespace") for r in resources if r["kind"] != "Namespace"} \
        == {namespace}


def test_a_typo_in_a_manifest_is_a_schema_error():
    resources = rendered("prod")
    web = by_kind(resources, "Deployment")["dictamesh-web"]
    web["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    kafka = by_kind(resources, "Kafka")["dictamesh"]
    kafka["spec"]["kafka"]["listeners"][0]["authentication"]["type"] = "scram-sha-256"
    assert any("'livenessprobe' was unexpected" in e for e in validation_errors(web))
    assert any("authentication/type" in e and "scram-sha-256" in e
               for e in validation_errors(kafka))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_and_config_map_a_pod_reads_exists(overlay):
    resources = rendered(overlay)
    kafka_name = next(iter(by_kind(resources, "Kafka")))
    secrets = (set(by_kind(resources, "Secret")) | set(by_kind(resources, "KafkaUser"))
               | {f"{kafka_name}-cluster-ca-cert"} | EXTERNAL_SECRETS[overlay])
    config_maps = set(by_kind(resources, "ConfigMap"))
    for role, template in pod_templates(resources).items():
        spec = template["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, role
                else:
                    assert source["configMapRef"]["name"] in config_maps, role
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                assert ref is None or ref["name"] in secrets, (role, env["name"])
        for volume in spec.get("volumes", []):
            assert "secret" not in volume or volume["secret"]["secretName"] in secrets, role


def _documented_settings() -> set[str]:
    """The environment variables README.md's Configuration table and gunicorn's file name."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    gunicorn = (ROOT / "config" / "gunicorn.py").read_text(encoding="utf-8")
    return names | set(re.findall(r"environ(?:\.get|\.setdefault)?\(\s*\"([A-Z_]+)\"", gunicorn))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_the_manifests_set_is_a_setting(overlay):
    resources = rendered(overlay)
    known = _documented_settings()
    assert {"DATABASE_URL", "KAFKA_SASL_PASSWORD", "WEB_CONCURRENCY"} <= known
    names = set(by_kind(resources, "ConfigMap")["dictamesh-config"]["data"])
    for secret in by_kind(resources, "Secret").values():
        names |= set(secret.get("stringData", {}))
    for template in pod_templates(resources).values():
        spec = template["spec"]
        names |= {e["name"] for c in spec["containers"] + spec.get("initContainers", [])
                  for e in c.get("env", [])}
    assert names - known == set()


def _environment(overlay: str, tmp_path: Path) -> dict[str, str]:
    resources = rendered(overlay)
    env = dict(by_kind(resources, "ConfigMap")["dictamesh-config"]["data"])
    if overlay == "dev":
        env |= by_kind(resources, "Secret")["dictamesh-secrets"]["stringData"]
    else:  # what the secret store provides
        env |= {"SECRET_KEY": secrets.token_urlsafe(50),
                "DICTAMESH_CREDENTIALS_KEYS": Fernet.generate_key().decode(),
                "DATABASE_URL": "postgres://dictamesh:pw@pgbouncer:6432/dictamesh",
                "REDIS_URL": "redis://redis:6379/0"}
    ca = tmp_path / "ca.crt"
    ca.write_text("placeholder: the settings check the file exists\n")
    return env | {"KAFKA_SSL_CAFILE": str(ca), "KAFKA_SASL_PASSWORD": "from-strimzi"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_settings_accept_the_manifests_environment(overlay, tmp_path):
    """The settings module starts with what the pods get, and the prod overlay passes
    Django's deployment checks (they need no database: --deploy checks configuration)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "KAFKA_", "REDIS_", "DJANGO_"))}
    env |= _environment(overlay, tmp_path) | {"DJANGO_SETTINGS_MODULE": "config.settings"}
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    if overlay == "dev":  # plain HTTP on purpose: the HTTPS checks would warn
        command = [sys.executable, "manage.py", "check"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no issues" in result.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ports_and_resources(overlay):
    resources = rendered(overlay)
    config = by_kind(resources, "ConfigMap")["dictamesh-config"]["data"]
    templates = pod_templates(resources)
    assert set(templates) == set(PLATFORM_ROLES)
    web = templates["web"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in web["ports"]} == {"http": 8000}
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    worker = templates["worker"]["spec"]["containers"][0]
    assert worker["ports"] == [{"name": "metrics",
                                "containerPort": int(config["WORKER_METRICS_PORT"])}]
    assert worker["livenessProbe"]["tcpSocket"] == {"port": "metrics"}
    service = by_kind(resources, "Service")["dictamesh-web"]
    assert selects({"matchLabels": service["spec"]["selector"]},
                   templates["web"]["metadata"]["labels"])
    for role, template in templates.items():
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, role
        for container in spec["containers"] + spec.get("initContainers", []):
            assert container["image"].startswith(
                {"dev": "dictamesh:", "prod": "ghcr.io/dictamesh/dictamesh:"}[overlay])
            resources_ = container["resources"]
            assert {"cpu", "memory"} <= set(resources_["requests"]), role
            assert "memory" in resources_["limits"], role
    job = templates["migrate"]
    assert job["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["containers"][0]["args"][:2] == ["manage", "migrate_schemas"]
    for role in ("web", "worker", "beat"):  # they wait for the Job's public migrations
        (init,) = templates[role]["spec"]["initContainers"]
        assert "manage.py migrate_schemas --shared --check" in init["args"][-1], role


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_serves_allowed_hosts_through_the_web_service(overlay):
    resources = rendered(overlay)
    (ingress,) = by_kind(resources, "Ingress").values()
    service = by_kind(resources, "Service")["dictamesh-web"]
    allowed = by_kind(resources, "ConfigMap")["dictamesh-config"]["data"]["ALLOWED_HOSTS"]
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert len(hosts) == 2  # the platform's host and its tenants' subdomains
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
        host = rule["host"].replace("*", "acme")
        assert validate_host(host, allowed.split(",")), (host, allowed)
    tls_hosts = {h for entry in ingress["spec"].get("tls", []) for h in entry["hosts"]}
    assert tls_hosts == (set(hosts) if overlay == "prod" else set())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_beat_is_single_and_autoscalers_and_budgets_aim_at_real_deployments(overlay):
    resources = rendered(overlay)
    deployments = by_kind(resources, "Deployment")
    beat = deployments["dictamesh-beat"]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}
    targets = set()
    for hpa in by_kind(resources, "HorizontalPodAutoscaler").values():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] in deployments
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        targets.add(target["name"])
    assert targets == {"dictamesh-web", "dictamesh-worker"}
    budgets = by_kind(resources, "PodDisruptionBudget").values()
    covered = {name for b in budgets for name, d in deployments.items()
               if selects(b["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])}
    assert covered == {"dictamesh-web", "dictamesh-worker"}


def _policies_for(resources: list[dict[str, Any]], labels: dict[str, str], kind: str):
    return [p["spec"] for p in by_kind(resources, "NetworkPolicy").values()
            if kind in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)]


def _egress_ports(resources: list[dict[str, Any]], labels: dict[str, str]) -> set[int]:
    return {port["port"] for spec in _policies_for(resources, labels, "Egress")
            for rule in spec.get("egress", []) for port in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_in_only_web_and_let_out_only_the_dependencies(overlay):
    resources = rendered(overlay)
    templates = pod_templates(resources)
    ingress = {}
    for role, template in templates.items():
        labels = template["metadata"]["labels"]
        specs = _policies_for(resources, labels, "Ingress")
        assert any(not s.get("ingress") for s in specs), f"{role}: no default deny"
        ingress[role] = {(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                          port["port"])
                         for s in specs for rule in s.get("ingress", [])
                         for peer in rule["from"] for port in rule["ports"]}
    assert ingress == {
        "web": {("ingress-nginx", 8000), ("monitoring", 8000)},
        "worker": {("monitoring", 9808)},
        "beat": set(),
        "migrate": set(),
    }
    common = {53, 6379, 4318}
    database = {5432, 6432}
    kafka = by_kind(resources, "Kafka")["dictamesh"]["spec"]["kafka"]
    kafka_ports = {listener["port"] for listener in kafka["listeners"]}
    assert _egress_ports(resources, templates["worker"]["metadata"]["labels"]) == \
        common | database | kafka_ports | {80, 443}
    assert _egress_ports(resources, templates["web"]["metadata"]["labels"]) == \
        common | database | kafka_ports | {80, 443}
    assert _egress_ports(resources, templates["beat"]["metadata"]["labels"]) == common | database
    assert _egress_ports(resources, templates["migrate"]["metadata"]["labels"]) == \
        common | database


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_platform_reaches_its_strimzi_cluster_as_configured(overlay):
    resources = rendered(overlay)
    (name, kafka), = by_kind(resources, "Kafka").items()
    config = by_kind(resources, "ConfigMap")["dictamesh-config"]["data"]
    pools = by_kind(resources, "KafkaNodePool").values()
    users = by_kind(resources, "KafkaUser")
    for resource in [*pools, *users.values()]:
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == name
    roles = {role: sum(p["spec"]["replicas"] for p in pools if role in p["spec"]["roles"])
             for role in ("controller", "broker")}
    assert roles["controller"] % 2 == 1  # a KRaft quorum has an odd number of voters
    brokers = roles["broker"]
    settings = kafka["spec"]["kafka"]["config"]
    replication = settings["default.replication.factor"]
    assert replication <= brokers
    assert settings["offsets.topic.replication.factor"] <= brokers
    assert settings["min.insync.replicas"] == (1 if brokers == 1 else replication - 1)

    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert config["KAFKA_BOOTSTRAP_SERVERS"] == f"{name}-kafka-bootstrap:{listener['port']}"
    assert listener["tls"] is True
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["KAFKA_SASL_MECHANISM"].lower() == listener["authentication"]["type"]
    platform = users[config["KAFKA_SASL_USERNAME"]]
    assert platform["spec"]["authentication"]["type"] == listener["authentication"]["type"]
    for template in pod_templates(resources).values():
        for env in template["spec"]["containers"][0].get("env", []):
            if env["name"] == "KAFKA_SASL_PASSWORD":
                assert env["valueFrom"]["secretKeyRef"] == {
                    "name": config["KAFKA_SASL_USERNAME"], "key": "password"}


def test_the_dev_secret_holds_usable_development_values():
    secret = by_kind(rendered("dev"), "Secret")["dictamesh-secrets"]["stringData"]
    Fernet(secret["DICTAMESH_CREDENTIALS_KEYS"].encode())  # raises unless a Fernet key
    assert len(secret["SECRET_KEY"]) >= 50
    assert "dictamesh-secrets" not in by_kind(rendered("prod"), "Secret")
