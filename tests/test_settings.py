"""Starting with an unusable setting fails at once with a message naming the variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SETUP = "import django; django.setup()"


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", SETUP], env=environment, capture_output=True, text=True,
        timeout=60, check=False,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"KAFKA_BOOTSTRAP_SERVERS": ","}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
         "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "PLAIN"},
         "KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SASL_MECHANISM": "PLAIN"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
         "KAFKA_SSL_CAFILE"),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "perhaps"}, "KAFKA_SSL_CHECK_HOSTNAME"),
        ({"BREAKER_FAIL_MAX": "0"}, "BREAKER_FAIL_MAX"),
        ({"BREAKER_RESET_TIMEOUT_SECONDS": "soon"}, "BREAKER_RESET_TIMEOUT_SECONDS"),
        ({"CACHE_L1_MAX_ENTRIES": "1.5"}, "CACHE_L1_MAX_ENTRIES"),
        ({"CACHE_STALE_SECONDS": "10"}, "CACHE_STALE_SECONDS"),  # below CACHE_FRESH_SECONDS
        ({"GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS": "-1"},
         "GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS"),
        ({"REDIS_TIMEOUT_SECONDS": "0"}, "REDIS_TIMEOUT_SECONDS"),
    ],
)
def test_unusable_value_fails_at_start_naming_the_variable(env, named):
    env.setdefault("SECRET_KEY", "") if named == "SECRET_KEY" else None
    result = _start(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr


def test_defaults_start_cleanly():
    result = _start()
    assert result.returncode == 0, result.stderr


def test_a_secured_kafka_cluster_is_read_from_the_environment(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not parsed at start\n")
    shown = "; from django.conf import settings as s; print(s.KAFKA_SECURITY_PROTOCOL, " \
        "s.KAFKA_SASL_MECHANISM, s.KAFKA_SASL_USERNAME, s.KAFKA_SSL_CAFILE, " \
        "s.KAFKA_SSL_CHECK_HOSTNAME)"
    result = subprocess.run(
        [sys.executable, "-c", SETUP + shown], capture_output=True, text=True, timeout=60,
        check=False, env={
            **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings",
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "scram-sha-512",
            "KAFKA_SASL_USERNAME": "mesh", "KAFKA_SASL_PASSWORD": "secret",
            "KAFKA_SSL_CAFILE": str(ca), "KAFKA_SSL_CHECK_HOSTNAME": "false",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SASL_SSL", "SCRAM-SHA-512", "mesh", str(ca), "False"]


def test_every_environment_variable_settings_reads_is_in_the_readme():
    root = Path(__file__).resolve().parent.parent
    settings_source = (root / "config" / "settings.py").read_text()
    read = set(re.findall(r'env_[a-z]+\(\s*"([A-Z0-9_]+)"', settings_source))
    assert {"DATABASE_URL", "BREAKER_FAIL_MAX", "KAFKA_SASL_MECHANISM"} <= read
    configuration = (root / "README.md").read_text().split("## Configuration")[1]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", configuration.split("\n## ")[0]))
    assert sorted(read - listed) == []


def test_code_reads_settings_plainly():
    """Every setting is declared in config/settings.py: none is read with a fallback."""
    root = Path(__file__).resolve().parent.parent
    offenders = [
        f"{path.relative_to(root)}: {line.strip()}"
        for folder in ("apps", "dictamesh", "config")
        for path in (root / folder).rglob("*.py")
        for line in path.read_text().splitlines()
        if "getattr(settings" in line
    ]
    assert offenders == []


def test_manage_py_check_reports_no_warnings():
    """Every manage.py run prints the system checks' warnings: there must be none."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--fail-level", "WARNING"], cwd=root,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "identified no issues" in result.stdout
