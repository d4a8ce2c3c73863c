"""Production settings: `check --deploy` is clean with the documented environment, HTTPS
and cookie settings are secure by default with DEBUG off, unusable secrets and addresses
stop the process at start naming the variable, and a database password is never shown."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.utils.module_loading import import_string
from django.views.debug import SafeExceptionReporterFilter

PASSWORD = "s3cret-Pw-7731"  # noqa: S105 - a made-up password that must never be shown
# The production environment the README documents (values of the right form).
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k2JmQ0-c8VtqJ6u1xY4mZr9pW3sLd7Hf5bNa0eGi2oTy8KwXvRj6Uh1Ps4Cz",
    "DICTAMESH_CREDENTIALS_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "mesh.example.com,.mesh.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://mesh.example.com",
    "DATABASE_URL": f"postgres://dictamesh:{PASSWORD}@127.0.0.1:5432/dictamesh",
}


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code],
                          env=environment, capture_output=True, text=True, timeout=120,
                          check=False)


def test_check_deploy_has_nothing_to_say_about_the_documented_environment():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={**os.environ, **PRODUCTION}, capture_output=True, text=True, timeout=120,
        check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_and_cookies_are_secure_by_default_with_debug_off():
    names = ["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
             "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER"]
    shown = f"from django.conf import settings as s; print([getattr(s, n) for n in {names!r}])"
    result = _run(shown, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True, 31536000, True, True, True, None]"
    behind_proxy = _run(shown, **PRODUCTION, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto=https",
                        SECURE_SSL_REDIRECT="false")
    assert behind_proxy.stdout.strip() == \
        "[False, 31536000, True, True, True, ('HTTP_X_FORWARDED_PROTO', 'https')]"


@pytest.mark.parametrize(("env", "named"), [
    ({"DICTAMESH_CREDENTIALS_KEYS": "not-a-fernet-key"}, "DICTAMESH_CREDENTIALS_KEYS"),
    ({"DICTAMESH_CREDENTIALS_KEYS": f"{Fernet.generate_key().decode()},short"},
     "key #2 of 2"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:notaport"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092,kafka-2"}, "'kafka-2'"),
    ({"KAFKA_BOOTSTRAP_SERVERS": "kafka:70000"}, "KAFKA_BOOTSTRAP_SERVERS"),
    ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is empty"),
    ({"ALLOWED_HOSTS": " , "}, "ALLOWED_HOSTS is empty"),
    ({"ALLOWED_HOSTS": "https://mesh.example.com"}, "ALLOWED_HOSTS entry"),
    ({"ALLOWED_HOSTS": "mesh.example.com:8000"}, "ALLOWED_HOSTS entry"),
    ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER"),
    ({"SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS"),
])
def test_an_unusable_value_stops_the_start_naming_the_variable(env, named):
    result = _run("", **{**PRODUCTION, **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr
    secret = env.get("DICTAMESH_CREDENTIALS_KEYS", "").split(",")[-1]
    assert not secret or secret not in result.stderr  # a key is named by position only


@pytest.mark.parametrize("url", [
    f"postgres://dictamesh:{PASSWORD}@db:notaport/dictamesh",
    f"mysql://dictamesh:{PASSWORD}@db:3306/dictamesh",
    f"postgres://dictamesh:{PASSWORD}@db:5432",
])
def test_a_bad_database_url_is_named_without_its_password(url):
    result = _run("", **{**PRODUCTION, "DATABASE_URL": url})
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr
    assert PASSWORD not in result.stderr


def test_error_reports_hide_urls_that_carry_passwords(settings):
    reporter = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)()
    assert isinstance(reporter, SafeExceptionReporterFilter)
    settings.DATABASE_URL = PRODUCTION["DATABASE_URL"]
    settings.CELERY_BROKER_URL = f"redis://:{PASSWORD}@redis:6379/0"
    shown = reporter.get_safe_settings()
    assert PASSWORD not in repr(shown)
    assert shown["DATABASE_URL"] == reporter.cleansed_substitute
    assert shown["STATIC_URL"] == settings.STATIC_URL  # URLs without secrets stay readable
