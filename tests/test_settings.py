"""Starting with an unusable setting fails at once with a message naming the variable."""

from __future__ import annotations

import os
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
